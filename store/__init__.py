"""Persistence for BotArmy: runs, steps, artifacts, usage and events, with migrations owned by Alembic."""

from store.migrate import upgrade
from store.store import Store, get_store
from store.types import (
    ArtifactRef,
    EventRow,
    ReusePlan,
    RunLineage,
    RunOpening,
    RunView,
    StepCompletion,
    StepStatus,
    StepView,
    UsageCall,
    UsageDay,
    UsageGroup,
    UsageRow,
    UsageSummary,
    UsageTotals,
)

__all__ = [
    "ArtifactRef",
    "EventRow",
    "RunOpening",
    "ReusePlan",
    "RunLineage",
    "RunView",
    "StepCompletion",
    "StepStatus",
    "StepView",
    "Store",
    "UsageCall",
    "UsageDay",
    "UsageGroup",
    "UsageRow",
    "UsageSummary",
    "UsageTotals",
    "get_store",
    "upgrade",
]
