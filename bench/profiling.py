"""`--profile`: where the worker spends its time during a few engine runs.

pyinstrument profiles the event loop thread (activities, AutoGen, the client). Workflow code runs in the
SDK's workflow-task threads and store calls in `asyncio.to_thread` threads, which pyinstrument does not see,
so a small `sys._current_frames()` sampler covers every thread too.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bench.engine import ROOT

# leaves where a thread is parked, not working
_IDLE = {
    ("threading.py", "wait"),
    ("threading.py", "_wait_for_tstate_lock"),
    ("queue.py", "get"),
    ("selectors.py", "select"),
    ("thread.py", "_worker"),  # an idle ThreadPoolExecutor thread, blocked in SimpleQueue.get (C)
}
_OURS = tuple(str(ROOT / p) for p in ("activities", "workflows", "store", "providers", "bmad", "botarmy", "worker.py"))


def _where(frame: FrameType) -> tuple[str, str]:
    return frame.f_code.co_filename, frame.f_code.co_name


def short(path: str, func: str) -> str:
    p = Path(path)
    try:
        rel = p.relative_to(ROOT).as_posix()
    except ValueError:
        parts = p.parts
        rel = "/".join(parts[parts.index("site-packages") + 1 :]) if "site-packages" in parts else p.name
    return f"{rel}:{func}"


@dataclass
class ThreadSampler:
    """Samples the stacks of all threads; counts busy samples by leaf (self) and by our functions (inclusive)."""

    interval_s: float = 0.002
    busy: int = 0
    leaf: Counter[tuple[str, str]] = field(default_factory=Counter)
    ours: Counter[tuple[str, str]] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            for tid, frame in sys._current_frames().items():
                if tid != me:
                    self._sample(frame)
            time.sleep(self.interval_s)

    def _sample(self, frame: FrameType) -> None:
        file, func = _where(frame)
        if (Path(file).name, func) in _IDLE:
            return
        self.busy += 1
        self.leaf[(file, func)] += 1
        seen: set[tuple[str, str]] = set()
        f: FrameType | None = frame
        while f is not None:
            key = _where(f)
            if key[0].startswith(_OURS) and key not in seen:
                seen.add(key)
                self.ours[key] += 1
            f = f.f_back

    def top(self, counter: Counter[tuple[str, str]], n: int) -> list[dict[str, Any]]:
        return [
            {"function": short(*key), "share": count / max(1, self.busy)} for key, count in counter.most_common(n)
        ]


def pyinstrument_top(session: Any, n: int) -> list[dict[str, Any]]:
    """Self time by function over a pyinstrument session's frame tree, as shares of its wall time (idle excluded)."""
    total = session.duration or 1.0
    self_time: Counter[tuple[str, str]] = Counter()
    stack = [session.root_frame()]
    while stack:
        frame = stack.pop()
        if frame is None or frame.is_synthetic:
            continue
        # pyinstrument files a function's own time under a synthetic "[self]" child
        own = frame.time - sum(c.time for c in frame.children if not c.is_synthetic)
        self_time[(frame.file_path or "?", frame.function or "?")] += own
        stack.extend(frame.children)
    busy = [
        (key, seconds)
        for key, seconds in self_time.most_common()
        if (Path(key[0]).name, key[1]) not in _IDLE and key[1] != "epoll.poll"
    ]
    return [{"function": short(*key), "share": seconds / total} for key, seconds in busy[:n]]


async def profile_runs(
    bench: Any, plan: Any, inputs: dict[str, Any], runs: int, out_dir: Path | None
) -> dict[str, Any]:
    """Profile `runs` sequential engine runs: pyinstrument on the event loop, the sampler on every thread."""
    from pyinstrument import Profiler

    sampler = ThreadSampler()
    profiler = Profiler(interval=0.001, async_mode="disabled")
    sampler.start()
    profiler.start()
    try:
        for _ in range(runs):
            await bench.engine_run(plan, inputs)
    finally:
        session = profiler.stop()
        sampler.stop()
    if out_dir is not None:
        (out_dir / "profile.html").write_text(profiler.output_html())
        (out_dir / "profile.txt").write_text(profiler.output_text(unicode=True, color=False))
    return {
        "runs": runs,
        "event_loop_self_time": pyinstrument_top(session, 15),
        "all_threads_self": sampler.top(sampler.leaf, 15),
        "all_threads_our_code_inclusive": sampler.top(sampler.ours, 15),
        "all_threads_busy_samples": sampler.busy,
    }
