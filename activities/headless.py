"""Skills' headless mode (BMAD 6.7+): what a headless step is told, and its JSON result read back from the answer.

The step's prompt carries the skill's own headless rules and schemas (PlanStep.headless) and asks for the document
followed by one JSON block (`status` complete/partial/blocked, `assumptions`, `open_questions`, `reason`). Reading
is tolerant: the last fenced JSON block with a `status`, else a bare JSON object that ends the answer; values are
normalised (a string for a list, question objects, unknown statuses). No result at all is status `missing`, and the
step's document is the whole answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bmad.plan import PlanStep
from providers.offline import HEADLESS_HEADING
from workflows.contracts import HeadlessReport

RESULT_SUFFIX = ".headless.json"  # stored beside the step's document: `<document>.headless.json`
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)\n[ \t]*```", re.S)
_STATUSES = {"complete", "partial", "blocked"}
_MAX_ITEMS, _MAX_CHARS = 20, 1000
_TAIL = 20_000  # a bare result is looked for in the answer's last characters


def headless_section(step: PlanStep) -> str:
    """The prompt's part for a headless step: the skill's rules, then the reply's shape."""
    return (
        f"{HEADLESS_HEADING}\nThis step runs the skill headless, by these rules of the skill:\n\n"
        f"{step.headless.strip()}\n\n"
        "Reply with the complete document in Markdown (shaped as below), then end with the headless result as one "
        "fenced ```json block: {\"status\": \"complete\" | \"partial\" | \"blocked\", \"assumptions\": [...], "
        "\"open_questions\": [...], \"reason\": \"...\"}. Use `partial` when the document is written but a person "
        "must decide something first (each in `open_questions`), `blocked` when it cannot be written (why, in "
        "`reason`, and what you need, in `open_questions`). A person's answers come back to you in the next run "
        "of this step. File paths, memlog and handoffs do not apply: the document is stored for you."
    )


def _items(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values[:_MAX_ITEMS]:
        if isinstance(v, dict):  # {"question": ...}, {"text": ...}, {"assumption": ...}
            v = next((v[k] for k in ("question", "text", "assumption", "value", "description") if k in v),
                     json.dumps(v, ensure_ascii=False))
        text = " ".join(str(v).split())
        if text:
            out.append(text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…")
    return out


def _report(data: dict[str, Any]) -> HeadlessReport:
    questions = _items(data.get("open_questions"))
    status = str(data.get("status", "")).strip().lower()
    if status not in _STATUSES:
        status = "partial" if questions else "complete"
    reason = data.get("reason")
    return HeadlessReport(status=status, assumptions=_items(data.get("assumptions")), open_questions=questions,
                          reason=" ".join(str(reason).split())[:_MAX_CHARS] if reason else None)


def _fenced(text: str) -> tuple[dict[str, Any], int, int] | None:
    for m in reversed(list(_FENCE.finditer(text))):
        try:
            data = json.loads(m[1])
        except ValueError:
            continue
        if isinstance(data, dict) and "status" in data:
            return data, m.start(), m.end()
    return None


def _bare(text: str) -> tuple[dict[str, Any], int, int] | None:
    """A JSON object with a `status` that ends the answer (nothing but spaces after it)."""
    end = len(text.rstrip())
    decoder = json.JSONDecoder()
    for i in (m.start() for m in re.finditer(r"\{", text[max(0, end - _TAIL):end])):
        start = i + max(0, end - _TAIL)
        try:
            data, stop = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if stop == end and isinstance(data, dict) and "status" in data:
            return data, start, end
    return None


def split_result(answer: str) -> tuple[HeadlessReport, str]:
    """The headless result in an answer, and the document: the answer without it (or the result's own
    `document` text). Without a result: status `missing` and the whole answer."""
    found = _fenced(answer) or _bare(answer)
    if found is None:
        return HeadlessReport(status="missing"), answer
    data, start, end = found
    document = data.get("document")
    if not isinstance(document, str) or not document.strip():
        document = (answer[:start].rstrip() + "\n\n" + answer[end:].strip()).strip()
    # a blocked result writes no document: keep the answer, so what the agent said is not lost
    return _report(data), (document.strip() + "\n") if document.strip() else answer


def load_report(content: bytes) -> HeadlessReport:
    return HeadlessReport.model_validate_json(content)
