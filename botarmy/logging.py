"""structlog JSON logging; context (run_id, step, attempt) is bound where it is known."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

import structlog

_OURS = "_botarmy_handler"


def configure_logging(level: str = "INFO", stream: TextIO = sys.stderr) -> None:
    """Send every log line (ours as structlog JSON, the libraries' and Python warnings through the root logger)
    to `stream` at `level`; calling it again replaces the earlier choice instead of adding to it."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # `warnings.warn` goes where the logs go, not to the terminal on its own
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def configure_cli_logging(verbose: bool) -> None:
    """A CLI user's terminal: warnings and errors only, info too with `-v`."""
    configure_logging("INFO" if verbose else "WARNING", sys.stderr)


def log_to_file(path: Path, level: str = "INFO") -> Path:
    """Every log line from here on (a worker hosted by the CLI: the SDK's warnings with their tracebacks too)
    goes to `path`, appended, none to the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(level, path.open("a", encoding="utf-8", buffering=1))  # noqa: SIM115 - lives as the process
    return path
