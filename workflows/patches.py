"""`workflow.patched`, and the patches a run started by this code takes without asking.

Each `workflow.patched(id)` a new run asks records a marker in its history and, since the SDK's core does it for
every patch, an upsert of the `TemporalChangeVersion` search attribute (a visibility write on the server). With
the patches this engine has collected, a two-step run's history was 31 events of which 13 were those markers
and upserts, and the dev server spent half as much CPU again per step as for a bare activity.

A run records the engine level it was started at (`RunInput.engine`). Every patch folded into that level is
taken without a marker: the run was started by code that always takes it, and its history, replayed by any later
code, asks for none. Runs started before (level 0, no field) ask `workflow.patched` exactly as they did, so their
histories replay unchanged. A patch added later is asked with a marker like any other, until a new level folds
it in too (a level is never changed once released: add the next one)."""

from __future__ import annotations

from temporalio import workflow

# level -> the patch ids a run started at that level (or later) takes without a marker
FOLDED: dict[int, frozenset[str]] = {
    1: frozenset({
        "bookkeeping-as-local-activities", "waiting-cleared-when-run-ends", "inline-loops", "run-recorded-at-launch",
        "inputs-by-reference", "steps-ask-a-person", "headless-open-questions", "headless-questions-after-revision",
        "goto-steps", "optional-steps-ask-a-person", "carried-steps-keep-their-answers", "pause-between-steps",
        "console-link-in-details",
    }),
}
ENGINE_LEVEL = max(FOLDED)  # what runs started by this code record


def patched(engine: int, patch_id: str) -> bool:
    """`workflow.patched(patch_id)`, or True without a marker when the run's engine level folds the patch in."""
    if any(patch_id in ids for level, ids in FOLDED.items() if level <= engine):
        return True
    return workflow.patched(patch_id)
