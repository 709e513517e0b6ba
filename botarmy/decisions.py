"""The limits a person's decision must stay within (bmad.limits), checked the same way by `botarmy decide` and
`POST /runs/{id}/approvals/{step}` before the decision is sent to the run."""

from __future__ import annotations

from bmad.limits import Limits, check_decision
from store import Store


def check_decision_limits(store: Store, limits: Limits, run_id: str, comment: str | None,
                          content: str | None) -> None:
    """Raise bmad.limits.LimitExceeded when the comment or the amended document is over its limit, or the comment
    would take the run's decision comments over theirs (sync: it reads the run's earlier comments)."""
    earlier = store.decision_comment_bytes(run_id) if comment else 0
    check_decision(limits, comment, content, earlier)
