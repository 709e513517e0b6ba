"""Maps model-call failures to Temporal errors: retryable ones are retried by Temporal, the rest fail at once."""

from __future__ import annotations

import openai
from temporalio.exceptions import ApplicationError

from providers.factory import ModelChoice, ModelConfigError

_HINTS = {
    401: "check the API key (OPENAI_API_KEY)",
    403: "the key is not allowed to use this model; check the account's permissions",
    404: "the model or endpoint does not exist; check BOTARMY_MODEL and OPENAI_BASE_URL",
    400: "the request was refused as invalid; check the model name and the prompt size",
    422: "the request was refused as invalid; check the model name and the prompt size",
}


class EmptyOutputError(Exception):
    """The model answered with nothing usable."""


def to_application_error(exc: BaseException, choice: ModelChoice) -> ApplicationError:
    where = f"{choice.provider} model {choice.model}"
    if isinstance(exc, ModelConfigError):
        return ApplicationError(str(exc), type="ModelConfigError", non_retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in _HINTS:
            return ApplicationError(
                f"{where}: HTTP {status}: {exc.message} — {_HINTS[status]}",
                type="ProviderRefused",
                non_retryable=True,
            )
        return ApplicationError(f"{where}: HTTP {status}: {exc.message}", type="ProviderUnavailable")
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return ApplicationError(f"{where}: {type(exc).__name__}: {exc}", type="ProviderUnavailable")
    if isinstance(exc, EmptyOutputError):
        return ApplicationError(f"{where}: {exc}", type="EmptyOutput")
    return ApplicationError(f"{where}: {type(exc).__name__}: {exc}", type=type(exc).__name__)
