"""A run's model choice, resolved where the run is started and pinned in the run, so any worker runs it the same.

The pin holds the model setting and the providers config in force at the start (as parsed data), never a secret:
for each provider that needs a key it names the environment variable the worker must have.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict

from botarmy.settings import Settings
from providers.config import ProvidersConfig, from_model_spec, load_config
from providers.types import ModelChoice, ModelConfigError, parse_model


class RunModel(BaseModel):
    """What a run's agent steps use: `config` decides the model per step, `keys` what each provider needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: str  # the default model, e.g. "openai:gpt-4o-mini" (a providers file may choose others per step)
    source: str  # "BOTARMY_MODEL" or the providers file it was read from
    config: dict[str, Any]  # ProvidersConfig as JSON data
    keys: dict[str, str] = {}  # provider → the variable holding its key, for every provider that needs one

    @cached_property
    def _canonical(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def body(self) -> str:
        """Canonical JSON: equal pins have equal bodies, so the pin is stored once by its hash. Computed once per
        pin (it is frozen): every launch asks for it and its hash several times."""
        return self._canonical

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.body().encode()).hexdigest()

    def providers_config(self) -> ProvidersConfig:
        return ProvidersConfig.model_validate(self.config)

    @classmethod
    def load(cls, sha256: str, body: str) -> RunModel:
        pin = cls.model_validate_json(body)
        if pin.sha256 != sha256:
            raise ModelConfigError(f"the run's model pin {sha256[:12]} does not match its stored content")
        return pin


def _start_config(settings: Settings) -> tuple[ProvidersConfig, str]:
    if settings.providers_file is not None:
        return load_config(settings.providers_file), str(settings.providers_file)
    try:
        parse_model(settings.model)
    except ModelConfigError as exc:
        raise ModelConfigError(f"BOTARMY_MODEL: {exc}") from exc
    return from_model_spec(settings.model), "BOTARMY_MODEL"


def _has_key(config: ProvidersConfig, settings: Settings, provider: str, environ: Mapping[str, str]) -> bool:
    # the worker's client falls back to the settings' OpenAI key (OPENAI_API_KEY or BOTARMY_OPENAI_API_KEY)
    return bool(config.api_key(provider, environ) or (provider == "openai" and settings.openai_api_key))


def resolve_run_model(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[RunModel, list[str]]:
    """The pin for a run started with `settings`, and warnings (a key not set here, which the worker may have).

    Raises ModelConfigError (one line) for a model setting or providers file that cannot be used at all.
    """
    env = os.environ if environ is None else environ
    config, source = _start_config(settings)
    if settings.openai_base_url and config.provider("openai").base_url is None:
        # what the worker's client would use from OPENAI_BASE_URL: pinned, so the run talks to the same endpoint
        providers = {**config.providers, "openai": config.provider("openai").model_copy(
            update={"base_url": settings.openai_base_url})}
        config = config.model_copy(update={"providers": providers})
    keys: dict[str, str] = {}
    warnings: list[str] = []
    for provider in dict.fromkeys(parse_model(spec).provider for spec in config.specs()):
        name = config.key_env(provider)
        if provider == "offline" or name is None:
            continue
        has_key = _has_key(config, settings, provider, env)
        if config.provider(provider).base_url and not has_key:
            continue  # a local server without a key: the worker needs none either
        keys[provider] = name
        if not has_key:
            warnings.append(f"{provider} needs {name}, which is not set here; the workers that run this run's "
                            "steps must have it")
    default = parse_model(config.default.model or "offline").label
    made_of = (default, source, id(config), tuple(sorted(keys.items())))
    pin = _pins.get(made_of)
    if pin is None or pin[0] is not config:  # the same loaded config (load_config keeps it while the file stays)
        pin = (config, RunModel(spec=default, source=source, config=config.model_dump(mode="json"), keys=keys))
        if len(_pins) > 64:
            _pins.clear()
        _pins[made_of] = pin
    return pin[1], warnings


# pins made here, by what makes them: every launch resolves the pin, and dumping the config and hashing the pin's
# body cost more than the rest of a launch's Python work (the config object is kept, so its id is not reused)
_pins: dict[tuple[str, str, int, tuple[tuple[str, str], ...]], tuple[ProvidersConfig, RunModel]] = {}


def require_key(pin: RunModel, config: ProvidersConfig, choice: ModelChoice, settings: Settings, worker: str,
                environ: Mapping[str, str] | None = None) -> None:
    """Raise ModelConfigError when this worker lacks the key the pinned run needs for `choice`: never another
    model in its place."""
    name = pin.keys.get(choice.provider)
    if name is None or _has_key(config, settings, choice.provider, os.environ if environ is None else environ):
        return
    raise ModelConfigError(
        f"this run is pinned to {choice.label} (from {pin.source} where it was started), which needs the "
        f"{choice.provider} key in {name}, but {name} is not set on worker {worker}; set it in that worker's "
        "environment (the run never falls back to another model)"
    )


def pinned_settings(settings: Settings) -> Settings:
    """The worker's settings for a pinned run: endpoints come from the pin, not from the worker's OPENAI_BASE_URL."""
    return settings.model_copy(update={"openai_base_url": None})


__all__ = ["RunModel", "pinned_settings", "require_key", "resolve_run_model"]
