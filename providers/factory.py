"""Build the configured AutoGen model client. Temporal owns retries, so clients retry nothing themselves."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping

from autogen_core.models import ChatCompletionClient, ModelFamily, ModelInfo

from botarmy.settings import Settings
from providers.config import ProvidersConfig
from providers.offline import OfflineChatCompletionClient
from providers.types import ModelChoice, ModelConfigError, parse_model

GEMINI_OPENAI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"


def _model_info(json_output: bool) -> ModelInfo:
    # given explicitly so AutoGen never looks the model up (or tokenizes) for names it does not know
    return ModelInfo(
        vision=False,
        function_calling=True,
        json_output=json_output,
        family=ModelFamily.UNKNOWN,
        structured_output=False,
    )


def _sampling(choice: ModelChoice) -> dict[str, float | int]:
    args: dict[str, float | int] = {}
    if choice.temperature is not None:
        args["temperature"] = choice.temperature
    if choice.max_tokens is not None:
        args["max_tokens"] = choice.max_tokens
    return args


def build_client(
    settings: Settings,
    choice: ModelChoice | None = None,
    config: ProvidersConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> ChatCompletionClient:
    """A real client for `choice` (default: settings.model) with retries off and an explicit timeout.

    `config` gives base URLs, key variables and timeouts per provider; without it the settings' OpenAI fields and
    the conventional key variables are used. Secrets are read from `environ` (default: the process environment).
    """
    choice = choice or parse_model(settings.model)
    if choice.provider == "offline":
        return OfflineChatCompletionClient(latency_ms=settings.offline_latency_ms)
    config = config or ProvidersConfig()
    provider = config.provider(choice.provider)
    timeout = provider.timeout_s if provider.timeout_s is not None else settings.model_timeout_s
    key = config.api_key(choice.provider, environ)
    base_url = provider.base_url
    if choice.provider == "openai":
        base_url = base_url or settings.openai_base_url
        key = key or settings.openai_api_key
    if not key and not base_url:
        raise ModelConfigError(
            f"model {choice.label} needs an API key but {config.key_env(choice.provider)} is not set; "
            "export it, set a base_url for a local server, or use offline"
        )
    if choice.provider == "anthropic":
        from autogen_ext.models.anthropic import AnthropicChatCompletionClient

        return AnthropicChatCompletionClient(
            model=choice.model,
            api_key=key or "not-needed",
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            model_info=_model_info(json_output=False),
            **_sampling(choice),  # type: ignore[arg-type]
        )
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    extra: dict[str, object] = {}
    if choice.provider == "gemini":
        base_url = base_url or GEMINI_OPENAI_BASE_URL
        extra["include_name_in_message"] = False  # Gemini's OpenAI endpoint rejects the `name` field
    return OpenAIChatCompletionClient(
        model=choice.model,
        api_key=key or "not-needed",
        base_url=base_url,  # type: ignore[arg-type]  # None: the SDK's default endpoint
        max_retries=0,
        timeout=timeout,
        model_info=_model_info(json_output=True),
        **_sampling(choice),  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


# Building an SDK client costs ~5 ms of CPU (an SSL context with the CA bundle loaded, an HTTP pool), and a client
# built per step opens a new connection per step: at hundreds of steps in flight that was a quarter of a worker's
# CPU. Clients are reused per event loop (their connection pool belongs to the loop) and per resolved arguments
# (provider, model, sampling, endpoint, key, timeout), so a changed providers file or key builds a new one.
_CACHE_SIZE = 64
_cache: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OrderedDict[tuple[object, ...], ChatCompletionClient]]
_cache = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _client_key(settings: Settings, choice: ModelChoice, config: ProvidersConfig | None,
                environ: Mapping[str, str] | None) -> tuple[object, ...]:
    config = config or ProvidersConfig()
    provider = config.provider(choice.provider) if choice.provider != "offline" else None
    key = config.api_key(choice.provider, environ) if provider is not None else None
    if choice.provider == "openai":
        key = key or settings.openai_api_key
    secret = hashlib.sha256(key.encode()).hexdigest() if key else None  # the key itself is not kept as a dict key
    return (choice, provider.base_url if provider else None, provider.timeout_s if provider else None, secret,
            settings.openai_base_url if choice.provider == "openai" else None, settings.model_timeout_s,
            settings.offline_latency_ms)


def shared_client(
    settings: Settings,
    choice: ModelChoice | None = None,
    config: ProvidersConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> ChatCompletionClient:
    """`build_client`, reused by every step of this event loop with the same resolved arguments. Never close it:
    it lives as long as the loop (least recently used ones past 64 are closed by the garbage collector)."""
    choice = choice or parse_model(settings.model)
    key = _client_key(settings, choice, config, environ)
    loop = asyncio.get_running_loop()
    with _cache_lock:
        clients = _cache.setdefault(loop, OrderedDict())
        found = clients.get(key)
        if found is not None:
            clients.move_to_end(key)
            return found
    client = build_client(settings, choice, config, environ)  # may raise ModelConfigError: nothing cached
    with _cache_lock:
        clients[key] = client
        while len(clients) > _CACHE_SIZE:
            clients.popitem(last=False)
    return client
