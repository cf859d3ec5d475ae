"""All configuration, read once from the environment (and an optional .env file).

Every field maps to the upper-case environment variable of the same name. An
invalid value stops start-up with a message naming that variable.
"""

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import (
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

{% if cookiecutter.database == "postgresql" -%}
DEFAULT_DATABASE_URL = f"postgresql+asyncpg://lean:lean@127.0.0.1:5432/{__package__}"
{%- else -%}
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./app.db"
{%- endif %}
# The spellings hosting providers and other tools hand out, and the async
# driver the service uses for each.
DRIVER_OF_SCHEME = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
# Settings whose values may hold a password: shown without it in messages.
URL_SETTINGS = frozenset({"database_url", "rate_limit_storage", "broadcast_url"})

Percent = Annotated[float, Field(gt=0, lt=100)]
PositiveInt = Annotated[int, Field(ge=1)]
CommaList = Annotated[list[str], NoDecode]


class SettingsError(Exception):
    """Raised with a readable message when the environment holds an invalid value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Literal["development", "test", "staging", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    api_prefix: str = "/api"
    # /api/docs and the OpenAPI schema; unset, on everywhere but in production.
    docs_enabled: bool = True

    memory_threshold_percent: Percent = {{ cookiecutter.memory_threshold_percent }}
    memory_critical_percent: Percent = {{ cookiecutter.memory_critical_percent }}
    memory_limit_mb: PositiveInt | None = None
    # Shedding that lasts this long (reclaiming did not bring pressure below
    # the threshold) fails readiness as well: see memory/guard.py.
    memory_shed_grace_seconds: Annotated[float, Field(gt=0)] = 30.0
    memory_sample_interval_ms: Annotated[int, Field(ge=10)] = 250
    # A directory the workers of one server share, where each writes its
    # memory history for the dashboard (memory/workers.py); `serve` with
    # several workers sets one. Unset: each process shows its own.
    memory_share_dir: Path | None = None
    # Per-request tracemalloc profiling: a development tool (it slows every
    # request and serializes them), refused in production unless forced.
    memory_profile: bool = False
    memory_profile_log_kb: PositiveInt = 1024
    memory_profile_force: bool = False

    max_body_size_mb: PositiveInt = {{ cookiecutter.max_body_size_mb }}
    # Bodies the service parses (JSON, forms) under any prefix without a
    # limit of its own: what one becomes in memory grows with its values,
    # not its bytes, so they are bounded by both (bodylimit.py).
    max_json_body_kb: PositiveInt = 1024
    max_json_values: PositiveInt = 10_000
    max_json_depth: Annotated[int, Field(ge=2, le=512)] = 32
    max_upload_size_mb: PositiveInt = {{ cookiecutter.max_upload_size_mb }}
    upload_dir: Path = Path("./uploads")
    allowed_upload_types: CommaList = [
        "application/octet-stream",
        "application/pdf",
        "image/png",
        "image/jpeg",
        "text/csv",
        "text/plain",
    ]

    db_pool_size: PositiveInt = {{ cookiecutter.db_pool_size }}
    db_max_overflow: Annotated[int, Field(ge=0)] = {{ cookiecutter.db_max_overflow }}
    db_pool_timeout: Annotated[float, Field(gt=0)] = 10.0
    db_pool_recycle: Annotated[int, Field(ge=-1)] = 1800
    # PostgreSQL: the longest a statement (or one chunk of an export) may
    # wait for the server's answer. Migrations are not bounded by it.
    db_statement_timeout_seconds: Annotated[float, Field(gt=0)] = 15.0
    # Off: a round trip per checkout. A connection that died in the pool
    # (database restart) is detected by the read itself, which is retried
    # once on a fresh connection (reads.Reader).
    db_pool_pre_ping: bool = False
    # asyncpg's statement cache; 0 when connecting through PgBouncer in transaction mode.
    db_statement_cache_size: Annotated[int, Field(ge=0)] = 100
    # TLS to PostgreSQL: disable, require (encrypted, certificate not checked)
    # or verify-full (certificate chain and host name checked).
    db_ssl_mode: Literal["disable", "require", "verify-full"] = "disable"
    db_ssl_root_cert: FilePath | None = None

    default_page_size: PositiveInt = {{ cookiecutter.default_page_size }}
    max_page_size: PositiveInt = {{ cookiecutter.max_page_size }}

    gc_interval_seconds: Annotated[int, Field(ge=0)] = {{ cookiecutter.gc_interval_seconds }}
    lazy_routers: bool = True

    cache_ttl_seconds: Annotated[float, Field(gt=0)] = 60.0
    cache_max_entries: PositiveInt = 1024
    # Signed-in users per token, kept per worker: a revoked token keeps
    # working for at most this long in a worker that has seen it. 0: off.
    auth_cache_seconds: Annotated[float, Field(ge=0)] = 10.0
    auth_cache_max_entries: PositiveInt = 4096
    # List totals, per worker: at most this old, dropped at once when this
    # worker writes the table. 0: a COUNT with every page that has a total.
    count_cache_seconds: Annotated[float, Field(ge=0)] = 10.0

    # Accounts (accounts.py, passwords.py): tokens from a login expire after
    # TOKEN_TTL_HOURS; sign-up over the API only if ALLOW_SIGNUP. Password
    # hashes are argon2id at these costs (OWASP's minimum: 19 MiB, 2
    # passes), at most PASSWORD_HASH_CONCURRENCY at once per worker: each
    # holds its memory cost while it runs. Others wait up to
    # PASSWORD_HASH_WAIT_SECONDS, then get a 503.
    token_ttl_hours: Annotated[float, Field(gt=0)] = 24.0
    allow_signup: bool = False
    password_hash_memory_kib: Annotated[int, Field(ge=8 * 1024)] = 19 * 1024
    password_hash_time_cost: Annotated[int, Field(ge=1)] = 2
    password_hash_concurrency: PositiveInt = 2
    password_hash_wait_seconds: Annotated[float, Field(gt=0)] = 5.0
    # Password attempts (logins, password changes): a 429 past
    # LOGIN_RATE_LIMIT for one account from one client address, or past
    # LOGIN_ADDRESS_RATE_LIMIT from one address; past LOGIN_RATE_LIMIT for
    # one account from every address together, each waits
    # LOGIN_SLOWDOWN_SECONDS instead (ratelimit.py: no lockout by guessing).
    login_rate_limit: str = "10/minute"
    login_address_rate_limit: str = "30/minute"
    login_slowdown_seconds: Annotated[float, Field(ge=0, le=60)] = 2.0

    rate_limit_enabled: bool = True
    rate_limit_default: str = "120/minute"
    rate_limit_storage: str = "memory://"
    # Redis publish/subscribe that carries invalidations (logouts, rights
    # changed, tables written, the cache cleared) to every worker and
    # instance (broadcast.py). Empty: RATE_LIMIT_STORAGE when it is Redis.
    broadcast_url: str = ""
    # Redis out of reach (breaker.py): a timeout, or this many errors in a
    # row, and no request waits for it; rate limits are counted per worker
    # and invalidations dropped until it answers a ping, sent every
    # REDIS_PROBE_SECONDS.
    redis_breaker_failures: PositiveInt = 3
    redis_probe_seconds: Annotated[float, Field(gt=0)] = 1.0

    # Signs pagination cursors. Set it when running several workers or
    # instances: the random default differs per process (and is required
    # in production, as is every setting with a default_factory here).
    cursor_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    # Exports streaming at once per worker, and of those at most
    # MAX_EXPORTS_PER_USER for one signed-in user, so that one user's
    # exports cannot take every slot (export.py).
    max_concurrent_exports: PositiveInt = 4
    max_exports_per_user: PositiveInt = 2
    # An export whose client takes none of it for this long (it stopped
    # reading) is stopped: its slot and database connection are freed and
    # the connection closed. What counts is one send's wait: a client that
    # keeps reading ends each one (docs/design-notes.md, "export.py").
    export_stall_seconds: Annotated[float, Field(gt=0)] = 30.0
    # PostgreSQL writes exports itself (COPY, copy_export.py); false: every
    # database takes the row-by-row path.
    export_with_copy: bool = True

    # /metrics and the memory endpoints answer administrators, and this
    # bearer token if set (for a Prometheus scrape): at least 16 characters.
    metrics_token: Annotated[SecretStr, Field(min_length=16)] | None = None

    cors_origins: CommaList = []
    web_concurrency: PositiveInt = 1
    # The server (serving.py): request heads bounded in size and time; proxy
    # headers trusted only from these addresses (none by default); SIGTERM
    # cancels what still runs after the grace time.
    max_header_size_kb: Annotated[int, Field(ge=1, le=1024)] = 32
    max_header_count: Annotated[int, Field(ge=10, le=1000)] = 100
    header_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # Request bodies (protocol.py): BODY_TIMEOUT_SECONDS, then at least
    # BODY_MIN_RATE_KB a second, or a 408; at most MAX_BODIES_PER_CLIENT
    # arriving at once from one address (a trusted proxy is exempt), or a 429.
    body_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    body_min_rate_kb: PositiveInt = 16
    max_bodies_per_client: PositiveInt = 16
    # Open connections per process, the excess answered 503; 0: half of what
    # the open-file limit leaves (serving.py), so none fails for want of a file.
    max_connections: Annotated[int, Field(ge=0)] = 0
    forwarded_allow_ips: CommaList = []
    shutdown_grace_seconds: Annotated[int, Field(ge=1)] = 20
    # Logs (logs.py): json lines for collectors, or plain text; the level of
    # every logger (INFO includes one access line per request).
    log_format: Literal["json", "text"] = "text"
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @field_validator("allowed_upload_types", "cors_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_driver(cls, value: str) -> str:
        """postgres:// and postgresql:// (what hosting providers give) mean
        asyncpg, sqlite:// aiosqlite: the URL is stored with its driver."""
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError("must be a URL like postgresql://user:password@host/name") from None
        driver = DRIVER_OF_SCHEME.get(url.drivername)
        if driver is None:
            spellings = ", ".join(f"{scheme}://" for scheme in DRIVER_OF_SCHEME)
            raise ValueError(f"must start with one of: {spellings}")
        if {"ssl", "sslmode"} & {key.lower() for key in url.query}:
            raise ValueError("set TLS with DB_SSL_MODE and DB_SSL_ROOT_CERT, not in the URL")
        return url.set(drivername=driver).render_as_string(hide_password=False)

    @field_validator("api_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if value and (not value.startswith("/") or value.endswith("/")):
            raise ValueError("must start with '/' and not end with '/' (or be empty)")
        return value

    @field_validator("rate_limit_default", "login_rate_limit", "login_address_rate_limit")
    @classmethod
    def _limit_syntax(cls, value: str) -> str:
        try:
            if not parse_many(value):
                raise ValueError
        except ValueError:
            raise ValueError("must be limits like '120/minute' or '10/second;500/hour'") from None
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _storage_scheme(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("must be memory:// or a redis:// URL")
        return value

    @field_validator("broadcast_url")
    @classmethod
    def _broadcast_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be empty or a redis:// URL")
        return value

    @model_validator(mode="before")
    @classmethod
    def _docs_default(cls, data: Any) -> Any:
        # Production serves no docs unless DOCS_ENABLED asks for them: the
        # schema costs memory in every worker and maps the API for anyone.
        production = isinstance(data, dict) and data.get("environment") == "production"
        if production and "docs_enabled" not in data:
            return {**data, "docs_enabled": False}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.memory_critical_percent <= self.memory_threshold_percent:
            raise ValueError(
                "MEMORY_CRITICAL_PERCENT must be greater than MEMORY_THRESHOLD_PERCENT"
            )
        if self.default_page_size > self.max_page_size:
            raise ValueError("DEFAULT_PAGE_SIZE must not exceed MAX_PAGE_SIZE")
        if self.max_exports_per_user > self.max_concurrent_exports:
            raise ValueError("MAX_EXPORTS_PER_USER must not exceed MAX_CONCURRENT_EXPORTS")
        if self._profiling_refused():
            raise ValueError(
                "MEMORY_PROFILE=true is refused with ENVIRONMENT=production: tracing every "
                "request costs time and memory (set MEMORY_PROFILE_FORCE=true to run it anyway)"
            )
        self._check_tls()
        if self.environment == "production" and (unset := self._per_process_defaults()):
            names = ", ".join(name.upper() for name in unset)
            raise ValueError(
                f"ENVIRONMENT=production needs {names} set, the same for every worker and "
                "instance: the default is random per process, so what one signs another "
                "refuses, and a restart forgets it. Make one with: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return self

    def _per_process_defaults(self) -> list[str]:
        """The settings left at a default made per process (a default_factory)."""
        return [
            name
            for name, field in type(self).model_fields.items()
            if field.default_factory is not None and name not in self.model_fields_set
        ]

    def _profiling_refused(self) -> bool:
        production = self.environment == "production"
        return self.memory_profile and production and not self.memory_profile_force

    def _check_tls(self) -> None:
        if self.is_sqlite and self.db_ssl_mode != "disable":
            raise ValueError("DB_SSL_MODE applies to PostgreSQL only; SQLite needs 'disable'")
        if self.db_ssl_root_cert and self.db_ssl_mode != "verify-full":
            raise ValueError(
                "DB_SSL_ROOT_CERT is only used with DB_SSL_MODE=verify-full "
                f"(DB_SSL_MODE is {self.db_ssl_mode!r})"
            )

    @property
    def broadcast_redis(self) -> str | None:
        """The Redis that carries invalidations, if any (see broadcast_url)."""
        if self.broadcast_url:
            return self.broadcast_url
        return self.rate_limit_storage if self.rate_limit_storage.startswith("redis") else None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning pydantic's error into one line per bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            if error["loc"]:
                field = str(error["loc"][0])
                shown = shown_value(field, error["input"])
                message = error["msg"].removeprefix("Value error, ")
                lines.append(f"{field.upper()}: {message} (got {shown})")
            else:  # a rule across variables: the message names them
                lines.append(error["msg"].removeprefix("Value error, "))
        raise SettingsError("Invalid configuration:\n  " + "\n  ".join(lines)) from None


def shown_value(field: str, value: object) -> str:
    """A refused value as a message may show it: never a secret, and a URL
    without its password."""
    if field in SECRET_SETTINGS:
        return "a value not shown: it is a secret"
    if field in URL_SETTINGS and isinstance(value, str):
        return repr(hidden_password(value))
    return repr(value)


def hidden_password(url: str) -> str:
    """The URL with *** for its password; a value that does not parse as a
    URL is not shown at all (a password could be anywhere in it)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(not shown: not a URL)"


# Every setting typed as a secret, whether or not it is optional.
SECRET_SETTINGS = frozenset(
    name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)
)


@lru_cache
def get_settings() -> Settings:
    return load_settings()
