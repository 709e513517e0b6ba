"""CLI command that serves the REST API. Registered on the main app by `register`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `botarmy` app."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8000,
        bmad_dir: Annotated[
            list[Path] | None,
            typer.Option("--bmad-dir", help="A .bmad-core folder; repeat to layer (the first one receives template "
                                            "edits; later folders override earlier ones)."),
        ] = None,
    ) -> None:
        """Serve the REST API (OpenAPI docs at /docs). Temporal is connected on first need."""
        import uvicorn

        from api.main import create_app
        from botarmy.cli import bmad_dirs
        from botarmy.logging import configure_logging
        from botarmy.settings import get_settings

        settings = get_settings()
        configure_logging(settings.log_level)
        origins = list(getattr(settings, "cors_origins", None) or [])
        uvicorn.run(create_app(settings, bmad_dirs(bmad_dir), origins), host=host, port=port,
                    log_level=settings.log_level.lower())
