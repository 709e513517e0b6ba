"""Persistence for BotArmy: runs, steps, artifacts, usage and events, with migrations owned by Alembic."""

from store.migrate import upgrade
from store.store import Store, get_store
from store.types import ArtifactRef, EventRow, RunView, StepStatus, StepView, UsageRow

__all__ = [
    "ArtifactRef",
    "EventRow",
    "RunView",
    "StepStatus",
    "StepView",
    "Store",
    "UsageRow",
    "get_store",
    "upgrade",
]
