"""Masks secrets in a provider's error text before it becomes ours (stored, logged, published, shown).

A provider may quote the key it was given (a 401 "Incorrect API key provided: sk-...", a proxy echoing the
Authorization header): the configured key values are masked, and so is anything shaped like a key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from botarmy.settings import Settings
from providers.config import DEFAULT_KEY_ENV, ProvidersConfig

MASK = "[redacted]"
MIN_SECRET_CHARS = 8  # shorter values ("x", "test") would mask ordinary words; no real key is that short
_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_\-])(?P<prefix>sk-ant-|sk-|AIza)[A-Za-z0-9_\-]{8,}"  # OpenAI (sk-, sk-proj-), Anthropic, Google
    r"|(?P<bearer>(?i:bearer)\s+)[A-Za-z0-9._~+/\-]{15,}[A-Za-z0-9_~+/\-]=*",  # an echoed bearer token
)


def _mask_shape(match: re.Match[str]) -> str:
    return (match.group("prefix") or match.group("bearer")) + MASK


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret value and key-shaped token replaced by a mask that keeps the key's kind."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _KEY_SHAPES.sub(_mask_shape, text)


def secret_values(
    settings: Settings | None, config: ProvidersConfig | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The values of every key variable in use: the conventional ones, those the providers config names
    (`api_key_env`), and the settings' OpenAI key."""
    env = os.environ if environ is None else environ
    names = {n for n in DEFAULT_KEY_ENV.values() if n}
    if config is not None:
        names |= {p.api_key_env for p in config.providers.values() if p.api_key_env}
    values = [env.get(n, "") for n in sorted(names)]
    if settings is not None and settings.openai_api_key:
        values.append(settings.openai_api_key)
    return [v for v in values if v]


__all__ = ["MASK", "redact", "secret_values"]
