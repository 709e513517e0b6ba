"""`botarmy providers`: what is configured, whether each key is set, whether each endpoint answers, and health."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import httpx
from rich.console import Console

from botarmy.cli.tables import print_table
from providers.config import ProvidersConfig, from_model_spec, load_config
from providers.factory import GEMINI_OPENAI_BASE_URL
from providers.health import read_snapshot
from providers.types import ModelConfigError, parse_model

DEFAULT_CONFIG_PATHS = (Path(".botarmy/providers.yaml"), Path("botarmy.providers.yaml"))
DEFAULT_HEALTH_PATH = Path(".botarmy/provider-health.json")
PUBLIC_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": GEMINI_OPENAI_BASE_URL,
}


def probe(url: str, timeout_s: float) -> str:
    """'HTTP <status>' when the endpoint answers at all (any status: it is up), else why not."""
    try:
        response = httpx.get(url, timeout=timeout_s, follow_redirects=False)
    except httpx.TimeoutException:
        return f"no answer within {timeout_s:g}s"
    except httpx.HTTPError as exc:
        return f"unreachable ({type(exc).__name__})"
    return f"HTTP {response.status_code}"


def _config(config_path: Path | None) -> tuple[ProvidersConfig, str]:
    if config_path is not None:
        return load_config(config_path), str(config_path)
    for path in DEFAULT_CONFIG_PATHS:
        if path.exists():
            return load_config(path), str(path)
    from botarmy.settings import get_settings

    return from_model_spec(get_settings().model), "BOTARMY_MODEL (no providers file)"


def providers_command(
    config_path: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    health_path: Path = DEFAULT_HEALTH_PATH,
    timeout_s: float = 2.0,
    console: Console | None = None,
) -> int:
    """Print the providers table. 0: every provider in use has a key (or a local base_url) and answers;
    1: some do not; 2: the config cannot be read."""
    console = console or Console()
    env = os.environ if environ is None else environ
    try:
        config, source = _config(config_path)
    except ModelConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    models: dict[str, list[str]] = {}
    for spec in config.specs():
        choice = parse_model(spec)
        models.setdefault(choice.provider, []).append(choice.model)
    health = read_snapshot(health_path)
    rows: list[list[str]] = []
    ok = True
    for provider in sorted(set(models) | set(config.providers)):
        settings = config.provider(provider)
        limits = f"{settings.max_concurrent or '∞'} at once, {settings.requests_per_minute or '∞'}/min"
        stats = health.get(provider)
        state = "no calls recorded"
        if stats and stats.success_rate is not None:
            state = f"{'healthy' if stats.healthy else 'UNHEALTHY'} {stats.success_rate:.0%} of {stats.calls}"
            state += f", avg {stats.avg_latency_s:.2f}s" if stats.avg_latency_s is not None else ""
        if provider == "offline":
            rows.append([provider, "offline", "not needed", "in process", "yes", "-", state])
            continue
        key_env = config.key_env(provider) or "?"
        has_key = bool(key_env and env.get(key_env))
        url = settings.base_url or PUBLIC_URLS.get(provider, "")
        answer = probe(url, timeout_s) if url else "no endpoint"
        usable = (has_key or settings.base_url is not None) and answer.startswith("HTTP")
        ok = ok and (usable or provider not in models)
        key = f"{key_env} set" if has_key else f"{key_env} [red]not set[/red]"
        rows.append([provider, ", ".join(models.get(provider, [])) or "-", key, url, answer, limits, state])
    print_table(console, f"Providers ({source})", ("provider", "models", "key", "endpoint", "answers", "limits",
                                                   "health"), rows)
    return 0 if ok else 1
