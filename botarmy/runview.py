"""The run object `botarmy run --json` and `botarmy status --json` print (and the API returns)."""

from __future__ import annotations

from typing import Any

from store import RunView, UsageSummary


def usage_object(usage: UsageSummary | None) -> dict[str, Any]:
    """Token and cost totals of a run, and per provider:model (cost in USD, exact sums, as a JSON number)."""
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "calls": 0, "by_model": []}
    t = usage.totals
    return {
        "prompt_tokens": t.prompt_tokens,
        "completion_tokens": t.completion_tokens,
        "cost_usd": float(t.cost_usd),
        "calls": t.calls,
        "unpriced_calls": t.unpriced_calls,
        "by_model": [
            {"provider": g.provider, "model": g.model, "prompt_tokens": g.prompt_tokens,
             "completion_tokens": g.completion_tokens, "cost_usd": float(g.cost_usd), "calls": g.calls}
            for g in usage.by_model
        ],
    }


def run_object(run: RunView, web_ui: str | None = None) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "temporal_workflow_id": run.temporal_workflow_id,
        "status": run.status,
        "definition_hash": run.definition_hash,
        # the model the run was pinned to where it was started (None: started before runs carried their model);
        # each step's provider/model below is the one that answered it (None until one has)
        "model": run.model,
        "model_sha256": run.model_sha256,
        # a rerun: the run it was forked from, and the step it reran from (earlier steps carried over)
        "parent_run_id": run.parent_run_id,
        "rerun_from": run.rerun_from,
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
                "provider": s.provider,
                "model": s.model,
                "fallbacks": s.fallbacks,
                "reused_from": s.reused_from,  # "<run>/<step>" whose output it took over (no model call)
            }
            for s in run.steps
        ],
        "artifacts": [
            {"name": a.name, "version": a.version, "step": a.step, "sha256": a.sha256, "bytes": a.bytes}
            for a in run.artifacts
        ],
        "usage": usage_object(run.usage),
    }
