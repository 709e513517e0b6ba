"""Maps model-call failures to Temporal errors (retryable ones are retried by Temporal, the rest fail at once),
and checks a model's answer before it is stored (empty, cut off, missing sections)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import anthropic
import openai
from temporalio.exceptions import ApplicationError

from providers.config import DEFAULT_KEY_ENV
from providers.guard import FallbackExhausted
from providers.redact import redact
from providers.types import ModelChoice, ModelConfigError

_STATUS_ERRORS = (openai.APIStatusError, anthropic.APIStatusError)
_TIMEOUTS = (openai.APITimeoutError, anthropic.APITimeoutError, TimeoutError)
_CONNECTION_ERRORS = (openai.APIConnectionError, anthropic.APIConnectionError)
_CONTEXT_MARKERS = ("context_length", "context length", "prompt is too long", "too many tokens",
                    "maximum number of tokens", "input is too long", "token limit")
_POLICY_MARKERS = ("content_policy", "content policy", "content_filter", "content management", "safety", "blocked")


class EmptyOutputError(Exception):
    """The model answered with nothing usable."""


class TruncatedOutputError(Exception):
    """The answer was cut off at the output token limit."""


class IncompleteOutputError(Exception):
    """The answer lacks sections the step requires."""


@dataclass(frozen=True)
class Failure:
    """What went wrong with one model call, as Temporal should see it."""

    kind: str  # the ApplicationError type
    retryable: bool
    message: str
    status: int | None = None
    retry_after: timedelta | None = None


def _body_error(body: object) -> dict[str, Any]:
    # OpenAI/Anthropic: {"error": {...}}; Gemini's OpenAI endpoint: [{"error": {...}}]
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        inner = body.get("error", body)
        return inner if isinstance(inner, dict) else {"message": str(inner)}
    return {}


def _seconds(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def retry_after(exc: BaseException) -> timedelta | None:
    """The wait the provider asked for: retry-after-ms, Retry-After (seconds or HTTP date), or Gemini's retryDelay."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    seconds: float | None = None
    if headers.get("retry-after-ms"):
        ms = _seconds(headers["retry-after-ms"])
        seconds = ms / 1000 if ms is not None else None
    if seconds is None and headers.get("retry-after"):
        seconds = _seconds(headers["retry-after"])
    if seconds is None:
        for detail in _body_error(getattr(exc, "body", None)).get("details") or []:
            delay = detail.get("retryDelay") if isinstance(detail, dict) else None
            if isinstance(delay, str) and delay.endswith("s"):
                seconds = _seconds(delay[:-1])
    return timedelta(seconds=max(0.0, seconds)) if seconds is not None else None


def _status_failure(exc: openai.APIStatusError | anthropic.APIStatusError, where: str, key_env: str) -> Failure:
    status = exc.status_code
    err = _body_error(exc.body)
    detail = str(err.get("message") or exc.message)
    code = " ".join(str(err.get(k) or "") for k in ("code", "type", "status")).lower()
    text = f"{code} {detail}".lower()
    head = f"{where}: HTTP {status}"

    def refused(kind: str, hint: str) -> Failure:
        return Failure(kind, False, f"{head} {kind}: {detail} — {hint}", status)

    if status == 429 and "insufficient_quota" not in text:
        wait = retry_after(exc)
        hint = f"retrying after {wait.total_seconds():g}s as the provider asked" if wait else "retrying with backoff"
        return Failure("RateLimited", True, f"{head} RateLimited: {detail} — {hint}; lower requests_per_minute or "
                       "max_concurrent for this provider if it keeps happening", status, wait)
    if status == 429:
        return refused("QuotaExhausted", "the account has no quota left; check billing with the provider")
    if status in (408, 409) or status >= 500:
        wait = retry_after(exc)
        return Failure("ProviderUnavailable", True, f"{head} ProviderUnavailable: {detail} — the provider failed "
                       "or is overloaded; retrying", status, wait)
    if status == 401:
        return refused("AuthenticationFailed", f"check the API key ({key_env})")
    if status == 403:
        return refused("PermissionDenied", f"the key in {key_env} is not allowed to use this model; check the "
                       "account's permissions")
    if status == 404:
        return refused("ModelNotFound", "the model or endpoint does not exist; check the model name and base_url")
    if status == 413 or any(m in text for m in _CONTEXT_MARKERS):
        return refused("ContextTooLong", "the prompt is larger than the model's context; use a model with a "
                       "larger context or shorten the step's inputs")
    if any(m in text for m in _POLICY_MARKERS):
        return refused("ContentPolicy", "the provider refused the content under its usage policy; revise the "
                       "inputs or the agent's instructions")
    return refused("InvalidRequest", "the request was refused as invalid; check the model name, max_tokens, "
                   "temperature and the prompt")


def classify(
    exc: BaseException, choice: ModelChoice, key_envs: Mapping[str, str] | None = None, secrets: Iterable[str] = ()
) -> Failure:
    """Sort a failure from a real SDK (openai, anthropic; Gemini comes through openai) into retryable or not.

    `key_envs` names the API key variable per provider when the providers file overrides the conventional ones.
    The message is redacted here, where a provider's text becomes ours: `secrets` (the configured key values,
    providers.redact.secret_values) and anything shaped like a key are masked, so no copy of it holds a key.
    """
    failure = _classify(exc, choice, key_envs)
    return replace(failure, message=redact(failure.message, secrets))


def _classify(exc: BaseException, choice: ModelChoice, key_envs: Mapping[str, str] | None) -> Failure:
    if isinstance(exc, FallbackExhausted):
        last_choice, last_exc = exc.last
        last = _classify(last_exc, last_choice, key_envs)
        return replace(last, message=f"{exc}; all failed, the last with: {last.message}")
    where = f"{choice.provider} model {choice.model}"
    key_env = (key_envs or {}).get(choice.provider) or DEFAULT_KEY_ENV.get(choice.provider) or "the API key variable"
    if isinstance(exc, ModelConfigError):
        return Failure("ModelConfigError", False, str(exc))
    if isinstance(exc, _STATUS_ERRORS):
        return _status_failure(exc, where, key_env)
    if isinstance(exc, _TIMEOUTS):  # before connection errors: the SDKs' timeouts are connection errors too
        return Failure("ProviderTimeout", True, f"{where}: timed out waiting for the answer — retrying; raise "
                       "timeout_s for this provider if the model is slow")
    if isinstance(exc, _CONNECTION_ERRORS):
        return Failure("ProviderUnreachable", True, f"{where}: cannot connect ({exc}) — retrying; check base_url "
                       "and the network")
    for kind, cls in (("EmptyOutput", EmptyOutputError), ("TruncatedOutput", TruncatedOutputError),
                      ("IncompleteOutput", IncompleteOutputError)):
        if isinstance(exc, cls):
            return Failure(kind, True, f"{where}: {exc}")
    return Failure(type(exc).__name__, True, f"{where}: {type(exc).__name__}: {exc}")


def to_application_error(
    exc: BaseException, choice: ModelChoice, key_envs: Mapping[str, str] | None = None, secrets: Iterable[str] = ()
) -> ApplicationError:
    """The Temporal error for a failed model call, its message redacted (see `classify`). Raise it `from None`
    (with the original traceback if wanted): a chained cause would carry the provider's raw text into history."""
    failure = classify(exc, choice, key_envs, secrets)
    return ApplicationError(
        failure.message,
        type=failure.kind,
        non_retryable=not failure.retryable,
        next_retry_delay=failure.retry_after,
    )


# -- the answer ------------------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def sanitize(text: str) -> str:
    """Remove control characters (keeping newlines and tabs) that would corrupt a stored document."""
    return _CONTROL.sub("", text)


def _norm(heading: str) -> str:
    return " ".join(heading.lstrip("#").replace("*", "").split()).casefold()


def validate_output(result_text: str, finish_reason: str | None, required_sections: list[str]) -> str | None:
    """The problem with an answer, phrased so it can be put to the model in one corrective re-ask; None if fine."""
    text = sanitize(result_text or "").strip()
    if not text:
        return "The answer was empty. Write the complete document."
    if finish_reason == "length":
        return ("The answer was cut off at the output token limit. Write the complete document again, more "
                "concisely, and finish every section.")
    headings = {_norm(m.group(1)) for m in map(_HEADING.match, text.splitlines()) if m}
    missing = [s for s in required_sections if _norm(s) not in headings]
    if missing:
        return "The answer lacks these required sections: " + ", ".join(missing) + ". Write the complete document."
    return None


def check_output(result_text: str, finish_reason: str | None, required_sections: list[str]) -> str:
    """The sanitized answer, or the typed (retryable) error for what is wrong with it — after the re-ask."""
    problem = validate_output(result_text, finish_reason, required_sections)
    if problem is None:
        return sanitize(result_text)
    text = sanitize(result_text or "").strip()
    if not text:
        raise EmptyOutputError("the model returned an empty document")
    if finish_reason == "length":
        raise TruncatedOutputError("the answer was cut off at the output token limit (finish_reason=length)")
    raise IncompleteOutputError(problem)
