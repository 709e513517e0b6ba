"""The other workflow forms of the v4 expansion packs, read as v4 `sequence:` entries (see README, BMAD dialect).

- named sequences: `workflow:` holds several `<name>_sequence:` lists; each is a workflow of its own,
  `<id>:<name>`, and the bare `<id>` runs the first. A mapping with `action:` after a sequence (its
  `workflow_end:`, `project_setup_guidance:`) is a control entry at the end of that sequence. Not a run input:
  a sequence's steps carry `condition:`s of their own and a step has one condition, so choosing at run time
  would need condition expressions in the workflow code; an id per sequence needs none.
- phases: `workflow.phases` maps phase names to step lists (`agent`, `task`, `input`, `output`, `repeat`),
  run in file order; `repeat: per-chapter` loops from that step to the end of its phase with run input
  `for_each_chapter`; `completion_criteria:` are checked when the run ends.
- steps: a top-level `steps:` list (`id`, `title`, `agent`, `uses`, `inputs`, `outputs`, `repeat_for`,
  `repeat`) with top-level `name`, `inputs`, `agents` and `outputs`; named documents are `<name>.md`; a loop
  covers its one step; each top-level output must exist when the run ends.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bmad.artifacts import slug
from bmad.diagnostics import Diagnostic
from bmad.models import StepDef
from bmad.yamlsrc import Located, Pos, to_plain

_PHASE_KEYS = {"task": "uses", "input": "requires", "output": "creates", "repeat": "repeats"}
_STEPS_KEYS = {"id": "step", "title": "notes", "inputs": "requires", "outputs": "creates",
               "repeat_for": "repeats", "repeat": "repeats"}


def raw_step(seq: CommentedSeq, index: int, where: Located, number: int | None = None) -> StepDef:
    """Entry `index` of `seq` with the positions of its keys, values and list items; `number` is its place in
    the workflow when that differs from its place in `seq`."""
    entry = seq[index]
    line, col = where.item(seq, index)
    step = StepDef(index=index if number is None else number, data=to_plain(entry), line=line, col=col)
    if isinstance(entry, CommentedMap):
        for key, value in entry.items():
            step.key_pos[str(key)] = where.key(entry, key)
            step.value_pos[str(key)] = where.value(entry, key) if value is not None else where.key(entry, key)
            if isinstance(value, CommentedSeq):
                step.item_pos[str(key)] = [where.item(value, i) for i in range(len(value))]
    return step


def _renamed(step: StepDef, names: dict[str, str]) -> StepDef:
    """The entry with its keys read as v4 step keys (positions follow); a key already there is kept."""
    if not isinstance(step.data, dict):
        return step
    data: dict[str, Any] = {}
    for raw, value in step.data.items():
        key = str(raw)
        new = names.get(key, key)
        if new in data:  # e.g. both `repeat_for:` and `repeat:`: the first wins, the other stays visible
            new = key
        data[new] = value
        if new != key:
            for positions in (step.key_pos, step.value_pos):
                if key in positions:
                    positions[new] = positions.pop(key)
            if key in step.item_pos:
                step.item_pos[new] = step.item_pos.pop(key)
    step.data = data
    return step


def loop_input(value: Any) -> Any:
    """`per-chapter` → `for_each_chapter` (the run input that says how many chapters, or which)."""
    if isinstance(value, str) and value.strip().lower().startswith(("per-", "per_")):
        return "for_each_" + slug(value.strip()[4:], "_")
    return value


def document(name: Any) -> Any:
    """A named document of the `steps:` form (`outline`) is the artifact `outline.md`."""
    if isinstance(name, str) and name.strip() and "." not in name.strip().rsplit("/", 1)[-1]:
        return f"{name.strip()}.md"
    return name


def _documents(value: Any) -> Any:
    return [document(v) for v in value] if isinstance(value, list) else document(value)


def phase_steps(phases: CommentedMap, where: Located) -> tuple[list[StepDef], list[Diagnostic]]:
    steps: list[StepDef] = []
    problems: list[Diagnostic] = []
    for phase, entries in phases.items():
        if not isinstance(entries, CommentedSeq):
            problems.append(where.diag(where.value(phases, phase), f"phase '{phase}' must be a list of steps "
                                       "(- agent: ..., task: ..., output: ...)"))
            continue
        for i in range(len(entries)):
            step = _renamed(raw_step(entries, i, where, len(steps)), _PHASE_KEYS)
            step.group = str(phase)
            if "repeats" in step.fields:
                step.fields["repeats"] = loop_input(step.fields["repeats"])
            steps.append(step)
    return steps, problems


def top_steps(entries: CommentedSeq, where: Located) -> list[StepDef]:
    steps: list[StepDef] = []
    for i in range(len(entries)):
        raw = raw_step(entries, i, where)
        each = isinstance(raw.fields.get("repeat_for"), str)  # once per item of that document
        step = _renamed(raw, _STEPS_KEYS)
        fields = step.fields
        step.group = f"step {i + 1}"
        for key in ("requires", "creates"):
            if key in fields:
                fields[key] = _documents(fields[key])
        if each:  # `repeat_for: scene_list` → run input `for_each_scene_list`; `repeat: n` → run input `n`
            fields["repeats"] = f"for_each_{slug(fields['repeats'], '_')}"
        if isinstance(fields.get("uses"), str):
            fields["uses"] = fields["uses"].strip().rsplit("/", 1)[-1]  # templates/x-tmpl.yaml → x-tmpl.yaml
        steps.append(step)
    return steps


def names(value: Any, seq: Any, where: Located) -> tuple[list[str], list[Pos]]:
    """A list of names with their positions (a single name reads as a list of one)."""
    if isinstance(value, CommentedSeq):
        return [str(v) for v in value], [where.item(value, i) for i in range(len(value))]
    if isinstance(value, str):
        return [value], [where.node(seq)]
    return [], []


def sequence_names(wf: CommentedMap) -> list[str]:
    """`<name>_sequence:` lists of a `workflow:` mapping, in file order."""
    return [str(k) for k, v in wf.items() if str(k).endswith("_sequence") and isinstance(v, CommentedSeq)]


def named_sequence(wf: CommentedMap, name: str, where: Located) -> tuple[list[StepDef], tuple[int, int]]:
    """The steps of one named sequence, then its control entries (mappings with `action:` up to the next
    sequence), and the lines it spans."""
    keys = [str(k) for k in wf]
    seq = wf[name]
    steps = [raw_step(seq, i, where) for i in range(len(seq))]
    after = keys[keys.index(name) + 1:]
    following = [k for k in after if k.endswith("_sequence") and isinstance(wf[k], CommentedSeq)]
    tail = after[:after.index(following[0])] if following else after
    for key in tail:
        value = wf[key]
        if not (isinstance(value, CommentedMap) and "action" in value):
            continue
        line, col = where.key(wf, key)
        entry = StepDef(index=len(steps), data={key: None, **to_plain(value)}, line=line, col=col)
        for sub in value:
            entry.key_pos[str(sub)] = where.key(value, sub)
            entry.value_pos[str(sub)] = where.value(value, sub)
        steps.append(entry)
    if following:
        last = where.key(wf, following[0])[0] - 1
    else:
        other = [k for k in tail if not (isinstance(wf[k], CommentedMap) and "action" in wf[k])]
        last = where.key(wf, other[0])[0] - 1 if other else 10**9
    return steps, (where.key(wf, name)[0], last)
