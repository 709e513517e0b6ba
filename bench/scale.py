"""The at-scale phases of `make bench` (issue 16): LLM-bound throughput (bench/llm_load.py), runs waiting for
approval (bench/waiting.py) and idle followers (bench/followers.py); their options, and their RESULTS.md section."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from botarmy.settings import Settings
from store import Store


@dataclass
class ScaleOptions:
    llm_runs: int = 200  # 0 skips the LLM-bound phase
    llm_latencies_s: list[float] = field(default_factory=lambda: [2.0, 0.0])
    llm_big_runs: int = 1000
    waiting_runs: int = 2000  # 0 skips the waiting phase
    waiting_decisions: int = 200
    waiting_rate: float = 5.0
    followers: int = 500  # 0 skips the followers phase
    followers_idle_s: float = 30.0
    api_token: str | None = None  # Authorization: Bearer for the API phases (an API with auth on)

    @classmethod
    def off(cls) -> ScaleOptions:
        return cls(llm_runs=0, waiting_runs=0, followers=0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("at scale (issue 16)")
    g.add_argument("--llm-runs", type=int, default=200, help="2-step runs at once, LLM-bound (0 skips)")
    g.add_argument("--llm-latency-s", default="2,0", help="fake provider latencies, comma-separated")
    g.add_argument("--llm-big-runs", type=int, default=1000, help="engine runs at once that must all complete")
    g.add_argument("--waiting-runs", type=int, default=2000, help="runs waiting for approval at once (0 skips)")
    g.add_argument("--waiting-decisions", type=int, default=200, help="of them decided, taken evenly across all")
    g.add_argument("--waiting-rate", type=float, default=5.0, help="decisions per second sent to them")
    g.add_argument("--followers", type=int, default=500, help="idle SSE followers (0 skips)")
    g.add_argument("--followers-idle-s", type=float, default=30.0)
    g.add_argument("--api-token", help="send Authorization: Bearer TOKEN to the API")
    g.add_argument("--quick", action="store_true", help="small sizes of the at-scale phases (development)")


def from_args(a: argparse.Namespace) -> ScaleOptions:
    if a.quick:
        return ScaleOptions(50, [2.0, 0.0], 100, 200, 40, 5.0, 100, 10.0, a.api_token)
    return ScaleOptions(a.llm_runs, [float(x) for x in a.llm_latency_s.split(",") if x.strip()], a.llm_big_runs,
                        a.waiting_runs, a.waiting_decisions, a.waiting_rate, a.followers, a.followers_idle_s,
                        a.api_token)


async def scale_phases(client: Client, settings: Settings, store: Store, tmp: Path, address: str,
                       opts: ScaleOptions, log_dir: Path | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if opts.llm_runs:
        from bench.llm_load import LLMLoadOptions, llm_load

        out["llm"] = await llm_load(client, settings, store, tmp,
                                    LLMLoadOptions(opts.llm_runs, opts.llm_latencies_s, opts.llm_big_runs))
    if opts.waiting_runs:
        from bench.waiting import WaitingOptions, waiting_bench

        out["waiting"] = await waiting_bench(client, settings, store,
                                             WaitingOptions(runs=opts.waiting_runs,
                                                            decisions=opts.waiting_decisions,
                                                            rate=opts.waiting_rate))
    if opts.followers:
        from bench.followers import FollowersOptions, followers_bench

        out["followers"] = await followers_bench(address, FollowersOptions(
            opts.followers, opts.followers_idle_s, token=opts.api_token), log_dir)
    return out


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(metric, measured, baseline measured in the same run, target, met?)"""
    rows: list[tuple[str, str, str, str, str]] = []
    llm = r.get("llm")
    if llm:
        for lat in llm["by_latency"].values():
            e, b = lat["engine"], lat["bare"]
            when = f"{lat['latency_s']:g} s provider latency"
            target = "≥ 0.8" if lat["latency_s"] >= 1 else ""
            ideal = f", ideal {lat['ideal_steps_per_s']:g}" if lat["ideal_steps_per_s"] else ""
            rows += [
                (f"LLM-bound: {llm['runs']} concurrent 2-step runs, {when}: steps/s, engine (bare){ideal}",
                 f"{e['steps_per_s']:.1f}", f"{b['steps_per_s']:.1f}", "", ""),
                (f"LLM-bound, {when}: throughput ratio engine ÷ bare", f"{lat['ratio']:.2f}", "1", target,
                 _yes(lat["ratio"] >= 0.8) if target else ""),
                (f"LLM-bound, {when}: CPU-ms per step of the worker process (worker + driver)",
                 f"{e['cpu_ms_per_step']:.1f}", f"{b['cpu_ms_per_step']:.1f}", "", ""),
                (f"LLM-bound, {when}: worker RSS after the runs", f"{e['rss_mb']:.0f} MiB", f"{b['rss_mb']:.0f} MiB",
                 "", ""),
                (f"LLM-bound, {when}: failed runs", f"{e['failed_runs']}", f"{b['failed_runs']}", "0",
                 _yes(e["failed_runs"] == 0)),
            ]
        big = llm.get("big")
        if big:
            rows += [(f"LLM-bound: {big['runs']} concurrent 2-step runs at {big['latency_s']:g} s: completed "
                      f"({big['steps_per_s']:.1f} steps/s, {big['cpu_ms_per_step']:.1f} CPU-ms/step, RSS "
                      f"{big['rss_mb']:.0f} MiB)", f"{big['runs'] - big['failed_runs']}/{big['runs']}", "", "all",
                      _yes(big["failed_runs"] == 0))]
            if "retried_steps" in big:
                load = big["load_average_1m"]
                rows.append((f"LLM-bound, the {big['runs']} runs: steps retried (a heartbeat timeout or another "
                             f"failure) / event-loop lag of the worker p99, max / load average at start → end",
                             f"{big['retried_steps']} / {big['loop_lag_ms']['p99']:.0f}, "
                             f"{big['loop_lag_ms']['max']:.0f} ms / {load['start']:.1f} → {load['end']:.1f}",
                             "", "0 retried", _yes(big["retried_steps"] == 0)))
    w = r.get("waiting")
    if w:
        rows += [
            (f"waiting: {w['runs']} runs waiting for approval on one worker (max_cached_workflows "
             f"{w['max_cached_workflows']}): worker RSS while they wait (before they started)",
             f"{w['rss_mb_waiting']:.0f} MiB", f"{w['rss_mb_before']:.0f} MiB", "bounded", ""),
            ("waiting: RSS per waiting run", f"{w['rss_kb_per_waiting_run']:.0f} KiB", "", "", ""),
            (f"waiting: decision → next step started, p50 / max ({w['decisions']} runs decided, "
             f"{w['decision_rate_per_s']:g} decisions/s, {w['failed_decisions']} failed)",
             f"{w['decision_to_next_step_ms_p50']:.0f} / {w['decision_to_next_step_ms_max']:.0f} ms", "", "", ""),
            (f"waiting: the same, p50 of the {w['decided_evicted_runs']} decided runs that had been evicted from the "
             "cache (rebuilt by replay)", f"{w['evicted_decision_to_next_step_ms_p50']:.0f} ms"
             if w["evicted_decision_to_next_step_ms_p50"] is not None else "none evicted", "", "", ""),
            ("waiting: decision → next step started, p99", f"{w['decision_to_next_step_ms_p99']:.0f} ms", "",
             "≤ 2000 ms", _yes(w["decision_to_next_step_ms_p99"] <= 2000 and w["failed_decisions"] == 0)),
        ]
    f = r.get("followers")
    if f:
        rows += [
            (f"followers: API CPU with {f['followers']} idle SSE followers over {f['idle_s']:g} s (no followers, "
             f"{f['baseline_s']:g} s)", f"{f['api_cpu_share_idle_followers']:.1%} of a core",
             f"{f['api_cpu_share_no_followers']:.1%}", "< 5 %", _yes(f["api_cpu_share_idle_followers"] < 0.05)),
            ("followers: an event stored by another process (no Redis) → each follower, p50 / p99 / max",
             f"{f['cross_process_delay_ms_p50']:.0f} / {f['cross_process_delay_ms_p99']:.0f} / "
             f"{f['cross_process_delay_ms_max']:.0f} ms", "", "", ""),
        ]
    return rows


MEANING = """\
**How to read them.** Every *baseline* figure was measured in the same run on the same machine and server.
*LLM-bound*: N runs of two model steps started at once (`launch`, as the API does) on one in-process worker with the
default settings, against a fake OpenAI-compatible server in its own process answering after the given latency; the
baseline is a bare Temporal workflow of two activities each making the same OpenAI SDK chat call (one SDK client per
worker, reused), same server, same slots. Steps/s is all completed steps over the wall time from the first start to
the last end; *ideal* is what the provider's latency allows (N steps in flight every latency); neither side comes
near it here because the Temporal dev server (about two thirds of a core for the bare side alone) and the other work
on the machine share its 2 cores, which is why the ratio is the figure. *CPU-ms per step* is this process's CPU
(worker, driver; the Temporal server and the fake run apart) over the phase, per step; at 0 s latency the runs are
CPU-bound and the ratio is the engine's CPU against the SDK's. Both sides run a warm-up first. In the 1,000-run
phase, *steps retried* counts the steps the store saw start more than once (a heartbeat timeout is the usual cause
under load), and *event-loop lag* is how late a 100 ms timer on the worker's event loop fired, which bounds how late
a step's own heartbeat can be. *Waiting*: N runs of a 2-step plan with `approve=all` and the offline model are
started (50 at a time) until every one waits for the approval of its first document; RSS is the worker process's (it
hosts the driver too). The worker keeps at most `max_cached_workflows` runs in its sticky cache; the others (the
oldest) were evicted and are rebuilt by replaying their history when their decision arrives. Decisions are then sent
paced (the rate shown) through the `decide` Update to runs taken evenly across all of them, and the delay runs from
sending one to its run's next `step.started` event (timestamps of one clock). Each decision costs the worker a
replay when its run was evicted, the decision's workflow task, the next (offline) step and its next approval
request: at 20 decisions/s this loaded 2-core machine fell behind (p99 82 s over 2,000 decisions, the backlog
growing), so the rate is one a team of reviewers might reach, and the figure is the latency of a decision among
2,000 waiting runs, not a decision throughput. *Followers*: the real API (`botarmy serve`, one process, SQLite, no
Redis) with N SSE clients following quiet runs; its process CPU over the quiet window (from /proc), against the same
server with no followers measured just before. Then this process stores one event per run, as a worker in another
process would, and each follower's delay is timed: without Redis the API's one table watcher reads the last seq of
every followed run in one query every 0.5 s (api/events.py), so about half of that is expected; with Redis, or a
worker in the API's process, followers wake at once."""


CHANGES = """\
What the profile showed on the model path and what changed (py-spy of 100 concurrent 2-step runs against the fake
answering at once, `py-spy record --gil`, this machine):

- **Spread**: four full LLM-bound runs on this shared machine the same afternoon gave engine ÷ bare 0.90, 0.88,
  0.94 and 0.81 at 2 s latency (target ≥ 0.8), and 0.86, 0.95, 0.63 and 0.58 at 0 s, where the engine's twice
  larger CPU per step decides and the figure follows whatever else the 2 cores run; the table shows the last.
- **An SDK client per step**: each agent step built its AutoGen `OpenAIChatCompletionClient`, and with it an
  `AsyncOpenAI` client, an httpx pool and an SSL context with the CA bundle loaded (`ssl.create_default_context`:
  23 % of all samples), then opened a new connection. Clients are now reused per event loop and resolved settings
  (provider, model, sampling, endpoint, key, timeout: `providers.factory.shared_client`), so steps share one pool
  of kept-alive connections. Engine CPU per step, 0 s latency, same bench without warm-up: 72 → 24 ms.
- **Slots**: 50 activity slots capped a worker at 50 model calls in flight whatever the provider allowed; agent
  steps are async, so the default is now 500 and the providers file's `max_concurrent` / `requests_per_minute`
  throttle calls per provider (`providers/limits.py`).
- **Sticky cache as a setting** (`BOTARMY_MAX_CACHED_WORKFLOWS`, default 1000): the waiting phase shows what it
  bounds. A cache smaller than the runs *in flight* thrashes (every workflow task replays the whole history): with
  100 cached of 400 and 20 decisions/s, decision → next step took 7 s at p50 on this machine instead of 0.13 s.
- **1,000 runs in flight on one worker** with 500 fixed slots on this shared machine: agent steps missed their
  10 s heartbeat timeout (the worker's log showed "activity not found on completion" for the late ones, which
  Temporal retried): 0, 68 and 0 of 1,000 runs failed over three full runs at load averages 6 to 12, and 74 of
  1,000 (383 steps retried) alone at load 3.5 → 9.7. The event loop was not the cause (its lag stayed under
  1.4 s, p99 0.3 s). Logging, in each step, the time since the server marked it started showed where the clock
  went: a median 12.5 s, p99 38 s, max 62 s before the step's first line ran. Temporal marks an activity
  started when the worker's poller takes it, and with 500 free slots the SDK took hundreds at once while the
  Python side starts them one per event-loop iteration, so they waited in the worker with the heartbeat clock
  running. Fixed slots are now paced (`botarmy/slots.py`, `BOTARMY_ACTIVITY_BACKLOG`, default 20): at most 20
  slots are out without a running activity, and the other steps wait on the server, where no clock runs. Same
  bench, paced: a median 0.9 s, p99 3.5 s, max 4.8 s from started to the first line; 0 of 1,000 runs failed and
  0 steps were retried at load 4.7 → 5.8 (11.4 steps/s against 9.4 unpaced, which spent its time on retries),
  and again at load 1.9 → 5.5 (the table's row).
  At 200 runs an unpaced worker retried 51 steps at load 4.2; paced, none (load 4.0). Pacing costs no throughput
  above the noise: 200 runs at 2 s, paced then unpaced, 11.0 / 13.1 and 11.4 / 11.9 engine steps/s.
  `BOTARMY_ACTIVITY_SLOTS=resource` (slots while the CPU stays under 90 %) also completed 1,000 runs, more slowly.
- **Per launch**: the plan and the model pin were inserted again for every run (a compiled INSERT and the
  writer's lock); the store now inserts each content hash once per process.
- **A data race**: the anomaly watch read its per-agent baseline (a deque) in one store thread while another
  step's thread appended to it (`deque mutated during iteration` under load); it is read under a lock now.
- **Followers**: each SSE/WebSocket stream read the events table every 0.25 s and the run's status every 2 s; they
  now wait on a wake-up (bus, Redis, one table watcher per API process), see *Followers* above.
- **Patch markers** (seventh session): each `workflow.patched` a new run asked recorded a marker and, as the SDK's
  core does for every patch, an upsert of `TemporalChangeVersion` (a visibility write): 13 of the 31 events of a
  2-step run, and the dev server spent 16 ms of CPU per engine step against 10–11 for a bare one (its process
  CPU over the phase, 0 s latency). A run now records the engine level it was started at (`RunInput.engine`,
  `workflows/patches.py`) and takes every patch folded into level 1 without a marker; runs started before ask
  each patch as they did (their recorded histories replay unchanged, and three level-1 histories were
  recorded). The same run: 18 events; engine ÷ bare at 2 s latency, alone, 0.68 → 0.76.
- **Eager activities** (seventh session): the paced slots refused an eager activity (the server hands it back in
  the reply to this worker's own workflow task) once 20 permits were out without a started activity, and the
  pollers' own reservations, waiting for a task, held most of those 20: more than half of the eager activities
  were refused and each went through the server's matching and a poller instead. Engine, bare, and the engine
  unpaced, alternated 3 rounds at 200 runs and 2 s: 38.5 / 61.2 / 45.2 steps/s; with eager activities not
  paced at all, 44.6, but 1,000 runs then retried 17 of 2,000 steps (6 with an allowance of 100). Eager
  activities are now taken while the tasks not started would start within 0.25 s at the rate this worker has
  been starting them (`botarmy/slots.py`); 1,000 runs: 0 failed, 0 retried, twice. At 200 runs the allowance
  mostly stays at the backlog, so the gain there is small (42.4 against 61.2–62.8 for bare in the same
  alternation); a finished activity whose slot the SDK has not released yet no longer counts as backlog.
- **Full collections** (seventh session): with 200 model calls in flight a full cyclic collection walked the
  ~300,000 objects of the process and paused the event loop ~200 ms (0.41 s of the engine phase's 10 s at 2 s
  latency, 0.22 s of the bare one's). The worker freezes its start-up heap once started (`gc.freeze`,
  `worker.freeze_startup_heap`), and so does this process before the measured phases: 0.06 s for either, engine
  40.1 → 42.4 steps/s in one pair, bare 57.8 → 58.1.
- **Spread** (seventh session): five LLM-bound runs alone at 2 s on the quiet machine with these changes gave
  engine ÷ bare 0.77, 0.66, 0.83, 0.64 and 0.89 (three more with a counting wrapper around the slots: 0.67, 0.65,
  0.65): the engine phase moved between 35 and 53 steps/s and its CPU per step between 15 and 21 ms, while the
  bare one stayed at 54–62 steps/s and 8–10 ms. The ≥ 0.8 target is met in some runs and not in most, so it is
  reported as not met.
- **Store calls on the loop** (eighth session, `store/inline.py`): sampled in the worker with 200 runs at 2 s, a
  store call sent to a thread waited a median 17.7 ms (p90 321 ms) for one of the loop's six executor threads,
  then took 6.9 ms of wall time (p90 63 ms) for 2.0 ms of CPU (p90 3.5), trading the GIL with the loop. With
  SQLite and no Redis a worker's and a launch's store calls now run on the loop itself; a write that finds the
  file locked by another connection fails at `BEGIN IMMEDIATE` at once there and runs again in a thread, and these
  calls take at most half of any 100 ms of the loop (a call past that waits for the next window: sending those to
  threads instead brought back the queue, p90 650 ms, and took the write lock from the inline ones). A/B on this
  machine, engine steps/s alternated with bare: a first version that ran every `asyncio.to_thread` of the process
  on the loop gave 40.2 / 35.8 / 39.1 against 30.9 / 30.0 / 36.6 with threads; the kept one, later and with the
  machine slower (`timeit sum(range(10000))` 160 → 224 µs), 27.9 / 32.1 / 28.0 / 31.2 against 28.6 / 26.1 / 30.2 /
  30.8 with `BOTARMY_STORE_INLINE=false`, bare 42.8–51.1, and the first version again 30.4 / 26.0 / 31.3 beside
  it: within the noise of this shared machine, not the quarter the first pairs showed. 1,000 runs: 0 failed, 0
  steps retried, 29.4 steps/s, 29.5 CPU-ms per step, event-loop lag p99 234 ms (max 476), against 27.9 steps/s,
  30.9 ms, p99 141 ms (max 479) with threads.
- **Where the LLM-bound gap is** (eighth session, same sampling): the engine never had more than ~150 of the 200
  runs' model calls in flight (bare: 200). A step waited between scheduled and started a p90 of 1.7–2.4 s on the
  server (the backlog of 20 paced slots; `BOTARMY_ACTIVITY_BACKLOG=0` gave 38.7 / 35.5 / 35.4 steps/s in the
  alternation above) and then 170–240 ms at the median, 0.6–1.0 s at p90, between started and its first line
  (bare: 69 / 383 ms): the SDK hands the worker one activity per poll, one poll per event-loop iteration, and the
  engine's iterations are longer. The machine stayed 68–83 % busy during the engine phases (bare 66–89 %): the
  engine is bound by its one loop, whose CPU per step (16–33 ms with the driver, bare 10–15) sets how fast it
  starts steps, and the Temporal server's CPU per step was 17–30 ms against 13–20 for bare.
- Left, measured at 0 s latency on this machine (per step, worker process / Temporal server): engine 15–18 / 14–17
  ms against bare 6.5–8 / 11–14 ms. In the worker, an agent step's own work alone (the activity run 400 times
  without Temporal, 200 at a time) costs ~6–8 ms, of which the OpenAI SDK call is half; a worker whose agent step is
  a no-op costs 8 ms per step against ~4 for a bare no-op activity (the interpreter, the run's launch and
  `finish_run`, larger payloads). The GIL samples put SQLAlchemy at ~15–19 % (a step's two write transactions, the
  reads before them, the run's rows), asyncio and thread hand-offs at ~20 %, AutoGen's agent at ~2–14 % (the high
  figure an artefact of a full collection inside it), the Temporal SDK at the bare side's level. Replacing the ORM
  session by a plain connection for the step's writes saved 0.17 of 1.0 ms per step in a loop, not pursued; a
  smaller workflow-activation thread pool was within the noise and not kept (the SDK's deadlock detector counts the
  time an activation waits for a thread)."""


def section(r: dict[str, Any]) -> str | None:
    rows = _rows(r)
    if not rows:
        return None
    table = "\n".join(f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows)
    load = r.get("machine", {}).get("load")
    where = (f" Load averages of the machine (shared with other work) at the end of the run: {load}."
             if load else "")
    phases = (("llm", "LLM-bound"), ("waiting", "waiting"), ("followers", "followers"))
    alone = [f"{name} {r[key]['measured']}" for key, name in phases if (r.get(key) or {}).get("measured")]
    if alone:
        where += " Re-run alone since (merged into the figures): " + ", ".join(alone) + "."
    return f"""## At scale: model-bound runs, waiting runs, idle followers

`python -m bench.llm_load`, `bench.waiting`, `bench.followers` run one phase alone (smaller with their options);
`make bench` runs all three.{where}

| metric | measured | baseline (same run) | target | met? |
|---|---|---|---|---|
{table}

{MEANING}

{CHANGES}
"""
