"""A module's planning track from `module-help.csv` / `_config/bmad-help.csv` (see track_workflows).

The help CSVs come with three headers across versions: `phase`/`sequence`/`required` (6.0), `after`/`before`,
and `preceded-by`/`followed-by` (6.12). The track `<module>-planning-track` is every phased workflow of the
module up to solutioning, in this order:

- phase rank first: a phase named `N-…` has rank N (`1-analysis`, `2-planning`, `3-solutioning`,
  `4-implementation`); the named phases of later versions map onto those numbers (`analysis` 1, `plan`/`planning`
  2, `solutioning` 3, `implementation`/`ship` 4); `anytime` rows are not part of a track; the track takes ranks
  1 to 3. 6.12 puts PRD in `2-planning` and brief, architecture and epics in `plan`: both are rank 2;
- within that, `preceded-by`/`after` (and `followed-by`/`before`, read the other way) are kept: a workflow comes
  after the ones it names;
- ties go by `sequence`, then by the row order of the module's own `module-help.csv` (the order its authors
  wrote; the merged `bmad-help.csv` is sorted by phase name, so it is only used when a module has no file).

Required workflows are steps; optional ones (`required` false) are steps under the condition `with_<workflow>`, a
run input defaulting to false. Every step reads every document written before it, so the brief feeds the PRD,
the PRD the architecture, both the epics and stories.
"""

from __future__ import annotations

import re
from pathlib import Path

from bmad.diagnostics import Diagnostic
from bmad.plan import AgentSpec, Plan, SourceRef
from bmad.v6.install import Install, read_csv
from bmad.v6.plans import _Builder, seal
from bmad.v6.workflows import V6Workflow

_NAMED_PHASES = {"analysis": 1, "plan": 2, "planning": 2, "solutioning": 3, "implementation": 4, "ship": 4}
TRACK_RANKS = (1, 2, 3)
_REFS = re.compile(r"[|;,\s]+")


def phase_rank(phase: str) -> int | None:
    """BMAD's phase number of a phase name; None for `anytime`, `_meta` and names we do not know."""
    name = phase.strip().lower()
    if m := re.match(r"(\d+)", name):
        return int(m[1])
    return _NAMED_PHASES.get(name)


def track_id(module: str) -> str:
    return f"{re.sub(r'[^0-9a-z]+', '-', module.lower()).strip('-')}-planning-track"


def condition_of(wf: V6Workflow) -> str:
    return "with_" + re.sub(r"[^0-9a-z]+", "_", wf.id.lower()).strip("_")


def _rows_by_module(install: Install, problems: list[Diagnostic]) -> list[tuple[str, Path, list[dict[str, str]]]]:
    found = []
    for module in install.modules:
        file = install.root / module / "module-help.csv"
        if file.is_file():
            found.append((module, file, read_csv(file, problems)))
    if found:
        return found
    merged = install.config_dir / "bmad-help.csv"
    by_module: dict[str, list[dict[str, str]]] = {}
    for row in read_csv(merged, problems):
        by_module.setdefault(row.get("module", ""), []).append(row)
    return [(m, merged, rows) for m, rows in by_module.items() if m]


def _workflow_of(install: Install, row: dict[str, str], by_id: dict[str, V6Workflow],
                 by_path: dict[str, V6Workflow]) -> V6Workflow | None:
    if row.get("skill"):
        return by_id.get(row["skill"])
    rel = (row.get("workflow-file") or "").replace("{project-root}", "").lstrip("/")
    if not rel:
        return None
    top, _, rest = rel.partition("/")
    on_disk = install.root / rest if top in ("_bmad", ".bmad", "bmad") else install.project / rel
    return by_path.get(install.shown(on_disk))


def _order(entries: list[tuple[int, float, int, V6Workflow, dict[str, str]]],
           names: dict[str, V6Workflow]) -> list[tuple[V6Workflow, dict[str, str]]]:
    """Kahn's sort over preceded-by edges; of the workflows ready, the one with the smallest (rank, sequence,
    row) goes first."""
    ids = {wf.id for *_, wf, _ in entries}
    after: dict[str, set[str]] = {wf.id: set() for *_, wf, _ in entries}
    for *_, wf, row in entries:
        for key, forward in (("preceded-by", True), ("after", True), ("followed-by", False), ("before", False)):
            for ref in _REFS.split(row.get(key) or ""):
                other = names.get(ref.lower())
                if other is None or other.id not in ids or other.id == wf.id:
                    continue
                if forward:
                    after[wf.id].add(other.id)
                else:
                    after[other.id].add(wf.id)
    pending = sorted(entries, key=lambda e: e[:3])
    done: set[str] = set()
    ordered: list[tuple[V6Workflow, dict[str, str]]] = []
    while pending:
        ready = next((e for e in pending if after[e[3].id] <= done), pending[0])  # a cycle: take the first
        pending.remove(ready)
        done.add(ready[3].id)
        ordered.append((ready[3], ready[4]))
    return ordered


def track_workflows(install: Install, workflows: list[V6Workflow], agents: dict[str, AgentSpec],
                    problems: list[Diagnostic]) -> list[Plan]:
    by_id = {w.id: w for w in workflows}
    by_path = {w.path: w for w in workflows}
    plans = []
    for module, file, rows in _rows_by_module(install, problems):
        entries: list[tuple[int, float, int, V6Workflow, dict[str, str]]] = []
        names: dict[str, V6Workflow] = {}
        for n, row in enumerate(rows):
            rank = phase_rank(row.get("phase", ""))
            if rank not in TRACK_RANKS or row.get("action"):
                continue
            wf = _workflow_of(install, row, by_id, by_path)
            if wf is None:
                what = row.get("skill") or row.get("workflow-file") or row.get("name") or f"row {n + 2}"
                problems.append(Diagnostic(install.shown(file), n + 2, 1, f"{what} (phase {row.get('phase')}) is "
                                           "not a workflow of this install: left out of the planning track",
                                           "warning"))
                continue
            if any(e[3].id == wf.id for e in entries):
                continue
            seq = row.get("sequence", "")
            entries.append((rank, float(seq) if seq.replace(".", "", 1).isdigit() else float("inf"), n, wf, row))
            for key in (wf.id, row.get("skill"), row.get("code"), row.get("menu-code"), row.get("name"),
                        row.get("display-name")):
                if key:
                    names.setdefault(key.lower(), wf)
        if not entries:
            continue
        b = _Builder(install, agents, by_path, problems, prefix=True)
        shown = []
        for wf, row in _order(entries, names):
            required = (row.get("required") or "").strip().lower() == "true"
            b.add(wf, optional=not required, condition=None if required else condition_of(wf))
            shown.append(wf.id if required else f"[{wf.id}]")
        tid = track_id(module)
        plans.append(seal(tid, f"{module} planning track",
                          f"The planning workflows of {module}, as its help CSV orders them ([optional]: run input "
                          f"with_<workflow>=true): {' → '.join(shown)}", b, SourceRef(path=install.shown(file))))
    return plans
