"""What a disturbed run must still be: completed, nothing lost, nothing written twice, bytes as undisturbed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from store import Store

DONE_STEP_STATUSES = frozenset({"completed", "skipped"})


@dataclass
class Outcome:
    """One run's verdict; each list names what is wrong (empty lists: the run came through whole)."""

    run_id: str
    completed: bool = False
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth reading, not a failure (e.g. an event stored twice)

    @property
    def ok(self) -> bool:
        return self.completed and not (self.lost or self.duplicated or self.diverged)


@dataclass
class Summary:
    """One scenario's line in the table `chaos.run` prints."""

    scenario: str
    runs: int = 0
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    diverged: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, what: str) -> None:
        self.runs += 1
        self.completed += outcome.completed
        self.lost += bool(outcome.lost)
        self.duplicated += bool(outcome.duplicated)
        self.diverged += bool(outcome.diverged)
        for kind, items in (("lost", outcome.lost), ("duplicated", outcome.duplicated),
                            ("diverged", outcome.diverged)):
            self.problems += [f"{what} (run {outcome.run_id}) {kind}: {item}" for item in items]
        self.notes += [f"{what} (run {outcome.run_id}): {note}" for note in outcome.notes]

    def stuck(self, what: str, exc: BaseException) -> None:
        """A run that never reached the point to strike at: it is stuck, so it is lost."""
        self.runs += 1
        self.lost += 1
        self.problems.append(f"{what}: {exc}")

    @property
    def ok(self) -> bool:
        return (self.runs > 0 and self.completed == self.runs and not (self.lost or self.duplicated or self.diverged)
                and not self.problems)


def check_run(store: Store, run_id: str, reference: dict[str, str]) -> Outcome:
    """Compare a finished run, as the store has it, with an undisturbed reference run of the same inputs."""
    out = Outcome(run_id)
    run = store.get_run(run_id)
    if run is None:
        out.lost.append("the run is not in the store")
        return out
    out.completed = run.status == "completed"
    if not out.completed:
        out.lost.append(f"run status is {run.status!r} ({run.error})")

    versions = Counter(a.name for a in run.artifacts)
    out.duplicated += [f"artifact {n} has {c} versions" for n, c in versions.items() if c > 1]
    out.lost += [f"artifact {n} missing" for n in sorted(set(reference) - set(versions))]
    out.diverged += [f"artifact {n} not in the reference run" for n in sorted(set(versions) - set(reference))]
    digests = {a.name: a.sha256 for a in run.artifacts}
    out.diverged += [f"artifact {n} sha256 {digests[n][:12]} != reference {reference[n][:12]}"
                     for n in sorted(set(digests) & set(reference)) if digests[n] != reference[n]]

    step_rows = Counter(s.key for s in run.steps)
    out.duplicated += [f"step {k} has {c} rows" for k, c in step_rows.items() if c > 1]
    out.lost += [f"step {s.key} ended {s.status!r}" for s in run.steps if s.status not in DONE_STEP_STATUSES]

    usage = Counter(u.step_key for u in store.usage_for_run(run_id))
    out.duplicated += [f"usage for {k} recorded {c} times" for k, c in usage.items() if c > 1]
    produced = {a.step for a in run.artifacts}
    out.lost += [f"usage of {k} missing" for k in sorted(produced - set(usage))]

    events = store.list_events(run_id)
    created = Counter((e.data.get("name"), e.data.get("version")) for e in events if e.type == "artifact.created")
    out.duplicated += [f"artifact.created {n} v{v} stored {c} times" for (n, v), c in created.items() if c > 1]
    out.lost += [f"no artifact.created event for {n}" for n in sorted(versions) if not any(k[0] == n for k in created)]
    for kind in ("run.started", "run.completed"):
        count = sum(e.type == kind for e in events)
        if count == 0 and out.completed:
            out.lost.append(f"no {kind} event")
        elif count > 1:
            out.notes.append(f"{kind} event stored {count} times")
    return out
