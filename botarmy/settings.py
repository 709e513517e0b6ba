"""The one settings object: env prefix BOTARMY_, plus the conventional DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bmad.limits import Limits

_LIMITS = Limits()

HOME_DIR = Path(".botarmy")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOTARMY_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{HOME_DIR}/botarmy.db",
        validation_alias=AliasChoices("DATABASE_URL", "BOTARMY_DATABASE_URL"),
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "BOTARMY_REDIS_URL"))
    temporal_address: str = Field(
        default="127.0.0.1:7233", validation_alias=AliasChoices("TEMPORAL_ADDRESS", "BOTARMY_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    web_ui_base: str | None = None  # e.g. http://localhost:8233 when the server's own address is not reachable
    # the web console's address, linked from a waiting run's current details in the Web UI; None: the API that
    # started the run uses its own address, a run started elsewhere carries no link
    console_url: str | None = None
    bmad_dir: Path | None = None  # the default .bmad-core when --bmad-dir is not given
    task_queue: str = "botarmy"
    home_dir: Path = HOME_DIR

    # model: "offline" or "openai:<model>"
    model: str = "offline"
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "BOTARMY_OPENAI_BASE_URL")
    )
    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "BOTARMY_OPENAI_API_KEY")
    )
    model_timeout_s: float = 120.0
    # providers file (models per agent/step, fallbacks, limits, prices); unset: BOTARMY_MODEL for every step
    providers_file: Path | None = None
    # where the worker writes provider health for `botarmy providers` and GET /health/providers
    provider_health_file: Path = HOME_DIR / "provider-health.json"
    provider_health_write_s: float = 5.0  # at most one snapshot write per this many seconds
    # one corrective re-ask in the same conversation when an answer is empty, cut off or lacks sections
    output_reask: bool = True
    # a step whose cost or tokens exceed anomaly_k x the median of earlier runs' same agent/model is an anomaly
    anomaly_k: float = 3.0
    anomaly_min_samples: int = 5
    anomaly_refresh_s: float = 60.0  # a worker re-reads the baseline (every worker's steps) this often
    anomaly_window_min: float = 15.0  # GET /health is degraded this long after an anomaly
    # composite steps (analyst/pm): rounds of the group chat before it stops, unless an agent says the word
    composite_rounds: int = 2
    composite_stop_word: str = "APPROVED"
    # fault injection for tests (BOTARMY_FAULT_PAUSE_AFTER_COMMIT_S): sleep after a step's output is committed,
    # before the activity returns, so a test can kill the worker in exactly that gap. Never set in production.
    fault_pause_after_commit_s: float = 0.0
    # offline model: artificial latency per call, for demos and durability tests
    offline_latency_ms: int = 0

    # worker
    max_concurrent_activities: int = 500  # agent steps are async I/O: provider limits, not slots, throttle model calls
    max_concurrent_workflow_tasks: int = 100
    # "resource": activity slots (up to max_concurrent_activities) are handed out only while the machine's CPU
    # and memory stay under 90 % / 80 % (Temporal's resource-based slot supplier), so a CPU-starved worker stops
    # taking steps it could not heartbeat for; "fixed": always max_concurrent_activities
    activity_slots: Literal["fixed", "resource"] = "fixed"
    # fixed slots: at most this many reserved without a running activity, so a worker takes steps from the server
    # only as fast as it starts them (a step taken is "started" and its heartbeat clock runs: botarmy/slots.py);
    # 0: no pacing (the SDK takes tasks while slots are free)
    activity_backlog: int = Field(default=20, ge=0)
    # workflows kept in the worker's sticky cache; past it the least recently used is evicted and rebuilt by replay
    # when its next task comes (a decision after hours of waiting): bounds the memory of thousands of waiting runs
    max_cached_workflows: int = 1000
    # run workflow code in Temporal's sandbox (costs CPU, checks little: see worker.workflow_runner)
    workflow_sandbox: bool = False

    # step activity policy
    step_start_to_close_s: float = 600.0
    step_heartbeat_s: float = 10.0
    retry_initial_s: float = 1.0
    retry_backoff: float = 2.0
    retry_max_attempts: int = 4
    # a run with a long loop continues as new (same workflow id, its state carried) past this many history events,
    # or earlier when Temporal suggests it; Temporal's hard limit is 51,200 events
    continue_as_new_events: int = 10_000
    # an activity rides out a database outage this long (retrying its idempotent store calls) before failing
    store_outage_s: float = 60.0
    # SQLite without Redis: store calls of async code run on its event loop, not in threads (store/inline.py)
    store_inline: bool = True
    # how long a workflow task waits for the worker that has the run cached before any worker takes it: short,
    # so a run resumes quickly after its worker died (the SDK default is 10 s)
    sticky_schedule_to_start_s: float = 3.0

    # limits on what a request may carry (bmad/limits.py says why each default is what it is), checked at the edge
    # by the CLI and the API alike
    max_comment_bytes: int = Field(default=_LIMITS.comment_bytes, gt=0)
    max_run_comments_bytes: int = Field(default=_LIMITS.run_comments_bytes, gt=0)
    max_amendment_bytes: int = Field(default=_LIMITS.amendment_bytes, gt=0, le=1_048_576)  # the workflow's own cap
    max_run_input_bytes: int = Field(default=_LIMITS.run_input_bytes, gt=0)
    max_document_bytes: int = Field(default=_LIMITS.document_bytes, gt=0)
    max_loop_items: int = Field(default=_LIMITS.loop_items, gt=0)
    # API request bodies; over it a request is refused before it is read (a field over its own limit is named)
    max_request_bytes: int = Field(default=1_048_576, gt=0)
    # the worker compares running runs in the store with their Temporal workflows this often (botarmy/reconcile.py)
    reconcile_interval_s: float = Field(default=30.0, gt=0)

    log_level: str = "INFO"
    # API: origins allowed by CORS (none by default), as a JSON list in BOTARMY_CORS_ORIGINS
    cors_origins: list[str] = Field(default_factory=list)

    # API authentication (api/auth.py): on unless BOTARMY_AUTH=off, which only a loopback server accepts
    auth: bool = True
    session_hours: float = 12.0  # a console session's longest life (never beyond its token's expiry)
    # bearer JWTs from an identity provider: verified against its JWKS when BOTARMY_OIDC_ISSUER is set
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None  # default: <issuer>/.well-known/jwks.json
    oidc_roles_claim: str = "roles"  # a claim holding a list (or space-separated string) of role names
    oidc_name_claim: str = "sub"
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256"])
    # console sign-in through the identity provider (authorization code + PKCE, api/oidc.py): offered when the
    # issuer and a client id are set; the provider's endpoints come from <issuer>/.well-known/openid-configuration
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None  # none: a public client (PKCE only)
    oidc_redirect_url: str | None = None  # default: <the address the browser used>/auth/oidc/callback
    oidc_scopes: str = "openid profile email"

    @field_validator(
        "redis_url", "openai_base_url", "openai_api_key", "web_ui_base", "bmad_dir", "providers_file",
        "oidc_issuer", "oidc_audience", "oidc_jwks_url", "oidc_client_id", "oidc_client_secret", "oidc_redirect_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose files and shells pass unset variables as "": treat them as not given
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("auth", mode="before")
    @classmethod
    def _on_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("on", "off"):
            return value.strip().lower() == "on"
        return value

    @property
    def limits(self) -> Limits:
        return Limits(comment_bytes=self.max_comment_bytes, run_comments_bytes=self.max_run_comments_bytes,
                      amendment_bytes=self.max_amendment_bytes, run_input_bytes=self.max_run_input_bytes,
                      document_bytes=self.max_document_bytes, loop_items=self.max_loop_items)

    @property
    def web_ui_url(self) -> str:
        if self.web_ui_base:
            return self.web_ui_base.rstrip("/")
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.temporal_ui_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
