"""`botarmy prune --older-than 30d`: delete old finished runs and the documents no remaining run references.
Registered on the main app by `register`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from botarmy.cli.common import fail, out
from botarmy.settings import get_settings

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FINISHED = ("completed", "failed", "cancelled", "stopped")


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `2w`, `90m`, `45s`."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if found is None:
        raise ValueError(f"--older-than {text!r}: use a number and a unit, e.g. 30d, 12h, 2w")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def prune(
    older_than: Annotated[str, typer.Option("--older-than", help="runs started longer ago than this: 30d, 12h, "
                                            "2w")],
    status: Annotated[list[str] | None, typer.Option("--status", help="only runs in this state (repeat); "
                                                     "default: every finished state")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be deleted, delete nothing")] = False,
) -> None:
    """Delete finished runs older than --older-than (events, usage, steps, artifacts) and the documents no
    remaining run references; says what was freed. Running runs are never pruned."""
    from store import get_store

    try:
        age = parse_age(older_than)
    except ValueError as exc:
        raise fail(str(exc)) from None
    statuses = tuple(status or FINISHED)
    for st in statuses:
        if st not in FINISHED:
            raise fail(f"--status {st!r}: use one of {', '.join(FINISHED)} (running runs are never pruned)")
    report = get_store(get_settings().database_url).prune(datetime.now(UTC) - age, statuses, dry_run)
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {report.runs} runs, {report.documents} documents no other run uses ({report.bytes} bytes)",
              highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command()(prune)
