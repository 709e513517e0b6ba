"""BotArmy's REST API: runs, approvals, artifacts, catalog, health and live events over one FastAPI app."""
