"""One scenario's world: its own dev server, task queue, database and worker processes, and the waits it needs."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from bmad import compile_workflow, load_bmad
from bmad.plan import Plan
from botarmy.launch import launch
from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes, has_pollers
from chaos.checks import Outcome, Summary, check_run
from chaos.procs import ROOT, DevServer, WorkerProc, worker_env
from store import Store
from workflows.contracts import ApprovalRequest, RunResult
from workflows.run import BmadRunWorkflow

BMAD_DIR = ROOT / ".bmad-core"
GREENFIELD = ("greenfield-service", {"for_each_epic": 1})
QUICK_FIX: tuple[str, dict[str, Any]] = ("quick-fix", {})
POLL_S = 0.05


@dataclass(frozen=True)
class Config:
    """What every scenario is given: where to keep its files, which store, and how long to wait."""

    workdir: Path
    database_url: str
    latency_ms: int = 300  # offline model latency per step, so there is a mid-activity to strike at
    seed: int = 1
    run_timeout_s: float = 180.0  # a disturbed run that has not ended by then is lost
    strike_timeout_s: float = 60.0  # a point to strike at that never comes means the run is stuck


@dataclass(frozen=True)
class Reference:
    digests: dict[str, str]  # sha256 per artifact name
    steps: list[str]  # the keys of the steps that produced them, in order


class Harness:
    """Use as `async with`: the dev server is up and the plans compiled inside; every process is gone after."""

    def __init__(self, name: str, cfg: Config, persistent: bool = False, redis_url: str | None = None) -> None:
        self.name, self.cfg, self.workdir, self.latency_ms = name, cfg, cfg.workdir, cfg.latency_ms
        database_url = cfg.database_url
        self.server = DevServer(cfg.workdir, persistent=persistent)
        self.queue = f"chaos-{name}-{uuid.uuid4().hex[:8]}"
        self.store = Store(database_url)
        self.redis_url = redis_url
        self.workers: list[WorkerProc] = []
        self.plans: dict[str, Plan] = {}
        self.client: Client | None = None
        self.settings = Settings(database_url=database_url, task_queue=self.queue, step_heartbeat_s=2,
                                 offline_latency_ms=cfg.latency_ms)

    async def __aenter__(self) -> Harness:
        await asyncio.to_thread(self.server.start)
        try:
            await self._prepare()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _prepare(self) -> None:
        await asyncio.to_thread(self.store.migrate)
        bmad = load_bmad([BMAD_DIR])
        for workflow_id in (GREENFIELD[0], QUICK_FIX[0]):
            self.plans[workflow_id] = compile_workflow(bmad, workflow_id)
        self.client = await connect(self.server.address)
        await ensure_search_attributes(self.client)

    async def __aexit__(self, *exc: object) -> None:
        for w in self.workers:
            await asyncio.to_thread(w.stop)
        await asyncio.to_thread(self.server.stop)
        self.store.close()

    # processes

    def start_worker(self) -> WorkerProc:
        env = worker_env(self.server.address, self.settings.database_url, self.queue, self.latency_ms,
                         self.redis_url)
        worker = WorkerProc(env, self.workdir / f"worker-{len(self.workers) + 1}.log").start()
        self.workers.append(worker)
        return worker

    async def wait_for_poller(self, timeout_s: float = 60) -> None:
        assert self.client is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if await has_pollers(self.client, self.queue):
                    return
            except RPCError:
                pass  # the server may be restarting
            await asyncio.sleep(0.2)
        raise TimeoutError(f"no worker polled {self.queue} within {timeout_s:.0f} s")

    # runs

    async def start(self, spec: tuple[str, dict[str, Any]], approve: list[str] | None = None,
                    run_id: str | None = None) -> WorkflowHandle[BmadRunWorkflow, RunResult]:
        assert self.client is not None
        workflow_id, inputs = spec
        launched = await launch(self.client, self.store, self.settings, self.plans[workflow_id], inputs,
                                task_queue=self.queue, approve=approve or "none", run_id=run_id)
        return launched.handle

    async def result(self, handle: WorkflowHandle[Any, RunResult]) -> str | None:
        """Wait for the run to end, riding out a server that is down for a while; None when it did not end well."""
        deadline = time.monotonic() + self.cfg.run_timeout_s
        while True:
            try:
                result = await asyncio.wait_for(handle.result(), max(0.1, deadline - time.monotonic()))
                return result.status
            except WorkflowFailureError:
                return None
            except (TimeoutError, RPCError):
                if time.monotonic() > deadline:
                    return None
                await asyncio.sleep(0.5)

    async def reference(self, spec: tuple[str, dict[str, Any]]) -> Reference:
        """An undisturbed run of `spec`: what every disturbed run of it must produce, byte for byte."""
        handle = await self.start(spec)
        status = await self.result(handle)
        if status != "completed":
            raise RuntimeError(f"the undisturbed reference run of {spec[0]} did not complete")
        arts = await asyncio.to_thread(self.store.list_artifacts, run_id_of(handle))
        arts.sort(key=lambda a: a.id)
        return Reference(digests={a.name: a.sha256 for a in arts}, steps=[a.step for a in arts])

    async def check(self, handle: WorkflowHandle[Any, RunResult], reference: Reference) -> Outcome:
        status = await self.result(handle)
        outcome = await asyncio.to_thread(check_run, self.store, run_id_of(handle), reference.digests)
        if status != "completed":
            outcome.completed = False
            outcome.lost.append(f"the workflow did not complete within {self.cfg.run_timeout_s:.0f} s ({status})")
        return outcome

    # waiting for a point to strike at

    async def until(self, what: str, probe: Callable[[], Awaitable[bool]], poll_s: float = POLL_S) -> None:
        deadline = time.monotonic() + self.cfg.strike_timeout_s
        while not await probe():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not reached within {self.cfg.strike_timeout_s:.0f} s")
            await asyncio.sleep(poll_s)

    async def start_until_step_runs(
        self, label: str, rng: random.Random, reference: Reference, summary: Summary
    ) -> tuple[WorkflowHandle[Any, Any], str] | None:
        """Start a greenfield run and wait until a step picked at random runs; None (and the run counted as
        stuck) when it never does."""
        handle = await self.start(GREENFIELD)
        step = rng.choice(reference.steps)
        try:
            await self.until_running(run_id_of(handle), step)
        except TimeoutError as exc:
            summary.stuck(label, exc)
            return None
        return handle, step

    async def until_running(self, run_id: str, key: str) -> None:
        await self.until(f"{key} running", lambda: self.step_running(run_id, key))

    async def step_running(self, run_id: str, key: str) -> bool:
        run = await asyncio.to_thread(self._get_run_quietly, run_id)
        return run is not None and any(s.key == key and s.status == "running" for s in run.steps)

    async def artifact_stored(self, run_id: str, key: str) -> bool:
        try:
            arts = await asyncio.to_thread(self.store.list_artifacts, run_id)
        except Exception:  # noqa: BLE001 - the database may be the thing being restarted
            return False
        return any(a.step == key for a in arts)

    async def pending(self, handle: WorkflowHandle[Any, RunResult], step: str) -> ApprovalRequest | None:
        try:
            progress = await handle.query(BmadRunWorkflow.progress)
        except (RPCError, WorkflowQueryFailedError):
            return None  # no workflow task has run yet
        return next((r for r in progress.pending_approvals if r.step == step), None)

    def _get_run_quietly(self, run_id: str) -> Any:
        try:
            return self.store.get_run(run_id)
        except Exception:  # noqa: BLE001 - the database may be the thing being restarted
            return None


def run_id_of(handle: WorkflowHandle[Any, Any]) -> str:
    """Our run id is the tail of the Temporal workflow id `bmad-<workflow>-<run id>`."""
    return handle.id.rsplit("-", 1)[1]

