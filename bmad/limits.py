"""The size and count limits a request must stay within, so no accepted request can make a workflow task carry a
payload Temporal refuses (2 MB per payload; it warns from 256 KB) or a history it cannot keep.

Pure: the values come from the settings (botarmy.settings.Settings.limits, BOTARMY_MAX_* variables); the CLI and
the API check with the same functions (`check_run_inputs` calls `input_problems`; decisions go through
`check_decision`), so a flag and a request body are refused for the same reasons with the same words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KIB = 1024

# What each limit is called in the environment (botarmy.settings.Settings has one field per name, lowercased).
SETTING = {
    "comment_bytes": "BOTARMY_MAX_COMMENT_BYTES",
    "run_comments_bytes": "BOTARMY_MAX_RUN_COMMENTS_BYTES",
    "amendment_bytes": "BOTARMY_MAX_AMENDMENT_BYTES",
    "run_input_bytes": "BOTARMY_MAX_RUN_INPUT_BYTES",
    "document_bytes": "BOTARMY_MAX_DOCUMENT_BYTES",
    "loop_items": "BOTARMY_MAX_LOOP_ITEMS",
}


@dataclass(frozen=True)
class Limits:
    """The defaults keep every payload of a run under Temporal's 256 KB warning and a 50-iteration run well inside
    its history limits (a run's inputs are copied into every step's activity today)."""

    comment_bytes: int = 16 * KIB  # one decision comment (feedback a step is re-run with)
    run_comments_bytes: int = 128 * KIB  # all of a run's decision comments: its result carries every one
    amendment_bytes: int = 192 * KIB  # an amended document (the Update and the activity that stores it carry it)
    run_input_bytes: int = 64 * KIB  # a run's inputs as JSON (documents go as artifacts, by reference)
    document_bytes: int = 4 * 1024 * KIB  # one external input document (stored, passed by reference)
    loop_items: int = 50  # iterations of one repeat (`for_each_*`: a count or the items of a list)


@dataclass(frozen=True)
class LimitProblem:
    """A value over its limit: the field (and key in it), how big it is, the limit and its setting."""

    field: str
    key: str | None
    size: int
    limit: int
    setting: str
    message: str


class LimitExceeded(ValueError):
    def __init__(self, problems: list[LimitProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def json_bytes(value: Any) -> int:
    """The size of `value` as the JSON a payload carries."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def text_bytes(text: str | None) -> int:
    return len(text.encode()) if text else 0


def _over(field: str, key: str | None, what: str, size: int, limit_name: str, limits: Limits,
          unit: str = "bytes", extra: str = "") -> LimitProblem | None:
    """`what` says what is too big; " is N bytes" follows unless it says the size itself ({size})."""
    limit = getattr(limits, limit_name)
    if size <= limit:
        return None
    setting = SETTING[limit_name]
    said = what.format(size=size) if "{size}" in what else f"{what} is {size} {unit}"
    return LimitProblem(field, key, size, limit, setting,
                        f"{said}; the limit is {limit} {unit} ({setting}){extra}")


def loop_count(value: Any) -> int | None:
    """How many iterations a repeat input asks for: a count, or the length of a list."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def input_problems(limits: Limits, inputs: Mapping[str, Any], repeats: Mapping[str, Any],
                   documents: Mapping[str, int]) -> list[LimitProblem]:
    """Problems with a run's inputs: their total size, each repeat's iterations (`repeats`: the value each
    repeat input will have, given or default) and each external document's size (`documents`: name -> bytes)."""
    found: list[LimitProblem | None] = [
        _over("inputs", None, "the run's inputs as JSON", json_bytes(dict(inputs)), "run_input_bytes", limits,
              extra="; pass long text as a document (--artifact / artifacts) instead")]
    for name, value in repeats.items():
        count = loop_count(value)
        if count is not None:
            found.append(_over("inputs", name, f"{name} asks for {{size}} iterations", count, "loop_items", limits,
                               unit="iterations"))
    for name, size in documents.items():
        found.append(_over("artifacts", name, f"document {name}", size, "document_bytes", limits))
    return [p for p in found if p is not None]


def check_decision(limits: Limits, comment: str | None, content: str | None, earlier_comments_bytes: int = 0) -> None:
    """Raise LimitExceeded when a decision's comment or amended document is over its limit, or the comment would
    take the run's decision comments (`earlier_comments_bytes` so far) over theirs."""
    size = text_bytes(comment)
    found = [_over("comment", None, "the comment", size, "comment_bytes", limits),
             _over("content", None, "the amended document (content)", text_bytes(content), "amendment_bytes",
                   limits)]
    if found[0] is None and size:
        total = earlier_comments_bytes + size
        found.append(_over("comment", None, f"the run's decision comments with this one ({size} bytes)", total,
                           "run_comments_bytes", limits))
    problems = [p for p in found if p is not None]
    if problems:
        raise LimitExceeded(problems)
