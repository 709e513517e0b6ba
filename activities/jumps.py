"""A v6 step's `<goto>`s (PlanStep.jumps): what the agent is told, and the jump it takes read back from its answer.

The conditions are natural language, so only the agent can tell whether one holds; it says so with one line
`NEXT STEP: <n>` at the end of its answer (or `NEXT STEP: continue`, or nothing). The line is taken out of the
document; a target that is not one of the step's jumps is ignored (logged, and named in `step.completed`), never a
failure: the workflow then goes on in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bmad.plan import PlanStep

JUMPS_HEADING = "## Where the instructions may go next"
_LINE = re.compile(r"^[ \t>*_`-]*NEXT[ \t]+STEP[ \t]*[:=][ \t]*(?P<value>.*?)[ \t*_`.]*$", re.I | re.M)
_STAY = {"", "continue", "none", "no", "next", "-", "n/a"}


@dataclass
class TakenJump:
    """What the answer said: the step id to go to (None: go on in order), and a target it named that is none of
    the step's jumps."""

    to: str | None = None
    ignored: str | None = None


def jumps_section(plan_steps: list[PlanStep], step: PlanStep) -> str:
    """The prompt's part for a step with jumps: each target, when it is taken, and how to say so."""
    ids = {s.id: s for s in plan_steps}
    lines = []
    for j in step.jumps:
        target = ids.get(j.to)
        what = f"step {j.step}" + (f" ({target.action})" if target and target.action else "")
        when = j.condition or j.text
        extra = f" — {j.text}" if j.condition and j.text else ""
        lines.append(f"- `NEXT STEP: {j.step}` goes to {what}" + (f", when: {when}{extra}" if when else ""))
    return (
        f"{JUMPS_HEADING}\nThese instructions may send the workflow to another step (`<goto>`). Do this step's "
        "work only; the engine moves to the step you name after it:\n" + "\n".join(lines) + "\n"
        "If one of these applies now, end your answer with that one line. Otherwise end it with "
        "`NEXT STEP: continue` (or leave the line out): the workflow goes on with the next step in order."
    )


def _matches(value: str, step: PlanStep) -> str | None:
    bare = re.sub(r"^(?:step|goto)\s*", "", value.strip().strip("`\"'"), flags=re.I).strip()
    for j in step.jumps:
        if bare in (j.step, j.to) or value.strip() == j.to:
            return j.to
    return None


def split_jump(answer: str, step: PlanStep) -> tuple[TakenJump, str]:
    """The jump an answer takes (its last `NEXT STEP:` line), and the answer without that line."""
    found = list(_LINE.finditer(answer))
    if not found:
        return TakenJump(), answer
    last = found[-1]
    text = (answer[: last.start()].rstrip() + "\n" + answer[last.end():].lstrip("\n")).rstrip() + "\n"
    value = " ".join(last["value"].split())
    if value.lower() in _STAY:
        return TakenJump(), text
    to = _matches(value, step)
    return (TakenJump(to=to) if to else TakenJump(ignored=value[:200])), text
