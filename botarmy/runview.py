"""The run object `botarmy run --json` and `botarmy status --json` print (and the API returns)."""

from __future__ import annotations

from typing import Any

from store import RunView


def run_object(run: RunView, web_ui: str | None = None) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "temporal_workflow_id": run.temporal_workflow_id,
        "status": run.status,
        "definition_hash": run.definition_hash,
        "inputs": run.inputs,
        "error": run.error,
        "decisions": run.decisions,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "web_ui": web_ui,
        "steps": [
            {
                "id": s.key,
                "step": s.step_id,
                "iteration": s.iteration,
                "agent": s.agent,
                "status": s.status,
                "attempts": s.attempts,
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "finished_at": s.finished_at.isoformat() if s.finished_at else None,
                "error": s.error,
            }
            for s in run.steps
        ],
        "artifacts": [
            {"name": a.name, "version": a.version, "step": a.step, "sha256": a.sha256, "bytes": a.bytes}
            for a in run.artifacts
        ],
    }
