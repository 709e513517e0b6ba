"""The BotArmy extension key `approval:` on a sequence entry.

    approval: true                     # a person approves the step's output; waits as long as it takes
    approval:
      timeout: 2d                      # s, m, h or d; a bare number is seconds
      on_timeout: approve              # approve | reject | fail (default fail)
      role: product-owner              # recorded with the decision; a decision naming another role is refused
      max_revisions: 3                 # rejections that re-run the step before the run fails
"""

from __future__ import annotations

import re

from bmad.plan import ApprovalSpec

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_KEYS = {"timeout", "on_timeout", "role", "max_revisions"}


def parse_duration(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"timeout {value!r} is not a duration; write e.g. 90s, 30m, 4h or 2d")
    return float(match.group(1)) * _UNIT[match.group(2)]


def parse_approval(value: object) -> ApprovalSpec | None:
    """None when no approval is asked; raises ValueError with what to write instead."""
    if value is None or value is False:
        return None
    if value is True:
        return ApprovalSpec()
    if not isinstance(value, dict):
        raise ValueError("'approval' must be true, false, or a mapping with timeout/on_timeout/role/max_revisions")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in 'approval'; allowed: {', '.join(sorted(_KEYS))}")
    on_timeout = value.get("on_timeout", "fail")
    if on_timeout not in ("approve", "reject", "fail"):
        raise ValueError(f"approval.on_timeout {on_timeout!r} must be approve, reject or fail")
    revisions = value.get("max_revisions", 3)
    if not isinstance(revisions, int) or isinstance(revisions, bool) or revisions < 0:
        raise ValueError("approval.max_revisions must be a whole number >= 0")
    return ApprovalSpec(
        timeout_s=parse_duration(value["timeout"]) if value.get("timeout") is not None else None,
        on_timeout=on_timeout,
        role=str(value["role"]) if value.get("role") is not None else None,
        max_revisions=revisions,
    )
