"""Settings: one frozen struct built once from the environment by a composition root."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the services read from their environment."""

    database_url: str = "postgresql://postgres@localhost:5432/peoplelinks"
    # The role the application acts as (owns no table; see 0001_event_store.sql).
    app_role: str = "peoplelinks_app"
    # The role the worker acts as: it keeps the read models of every programme.
    worker_role: str = "peoplelinks_worker"
    redis_url: str = "redis://localhost:6379/0"
    # Prefix of every Redis key and arq queue, so that test runs and
    # deployments sharing one Redis never see each other's jobs.
    redis_prefix: str = "peoplelinks"
    secret_key: str = ""
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    # How long a login to the web pages lasts (its session cookie and its session row): a working day.
    page_session_seconds: int = 12 * 3600
    # Login throttling: this many failures within the window lock an e-mail
    # address (or a client address) out for the lockout.
    login_max_failures_per_email: int = 5
    login_max_failures_per_client: int = 20
    login_failure_window_seconds: int = 900
    login_lockout_seconds: int = 900
    pool_min_size: int = 2
    pool_max_size: int = 16
    statement_timeout_ms: int = 30_000
    idle_in_transaction_timeout_ms: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch_events: int = 5_000
    # How long a request for a worker-rendered export (the PDF) waits for the
    # file before answering 202 Accepted with Retry-After.
    export_wait_seconds: float = 15.0
    # The report quota (infra/report_quota.py): report, dashboard and export requests of one
    # user of one programme, a steady rate a minute and a burst above it; 0 turns it off.
    report_requests_per_minute: int = 60
    report_request_burst: int = 30
    # CSV and XLSX exports rendering at once in one API process (each in a thread), and how long
    # an export waits for one of those slots before the answer is 503 with Retry-After. One: the
    # renderers are pure Python holding the GIL, so a second thread renders no faster, it only
    # takes more of the interpreter from every other request.
    max_concurrent_renders: int = 1
    render_wait_seconds: float = 5.0
    # The worker prunes stored exports (report_exports) daily: older than this many days, and each
    # programme's beyond its newest so many; a pruned export is rendered again when asked for.
    export_keep_days: int = 14
    export_keep_per_programme: int = 100
    # How often the worker advances every projection (and renders waiting exports) straight from PostgreSQL,
    # whether or not Redis woke it: the bound on how late a lost wake-up leaves the read models.
    worker_sweep_seconds: float = 1.0
    allowed_hosts: tuple[str, ...] = ("*",)
    cors_origins: tuple[str, ...] = ()
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto the API believes (addresses or networks). None by
    # default: behind no proxy, a client could otherwise name any address and escape the per-client limits.
    trusted_proxies: tuple[str, ...] = ()
    # Base64 of the 32-byte key that wraps every participant's and contact's
    # data key (infra/crypto.py). No default: the API refuses to start without
    # it, since a key made up per process would leave every name unreadable
    # after a restart (`peoplelinks up` keeps one in its data directory).
    master_key: str = ""
    # The erasure ledger (infra/erasures.py): keep it outside the database's backups.
    erasure_ledger: str = ".peoplelinks/erasure-ledger.jsonl"
    # Logs: JSON lines (one object a line, for a collector) or plain text (for a terminal); the root level.
    log_format: str = "json"
    log_level: str = "INFO"
    # Who may scrape /metrics: clients from these addresses or networks, or any client sending
    # `Authorization: Bearer <metrics_token>` when a token is set. Loopback only by default.
    metrics_allow: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    metrics_token: str = ""
    # /health/ready says "degraded" (still 200) when a projection is further behind the head than this.
    ready_max_lag: int = 10_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        defaults = cls()
        secret = env.get("PEOPLELINKS_SECRET_KEY", "")

        def _int(name: str, default: int) -> int:
            raw = env.get(name)
            return default if raw is None or raw == "" else int(raw)

        def _list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
            raw = env.get(name)
            if raw is None:
                return default
            return tuple(part.strip() for part in raw.split(",") if part.strip())

        def _choice(name: str, default: str, allowed: tuple[str, ...], *, upper: bool = False) -> str:
            raw = env.get(name) or default
            value = raw.upper() if upper else raw.lower()
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
            return value

        return cls(
            database_url=env.get("DATABASE_URL", defaults.database_url),
            app_role=env.get("PEOPLELINKS_APP_ROLE", defaults.app_role),
            worker_role=env.get("PEOPLELINKS_WORKER_ROLE", defaults.worker_role),
            redis_url=env.get("REDIS_URL", defaults.redis_url),
            redis_prefix=env.get("PEOPLELINKS_REDIS_PREFIX", defaults.redis_prefix),
            # Without a configured key each process makes its own: tokens then
            # do not survive a restart, which is right for a first look only.
            secret_key=secret or secrets.token_urlsafe(32),
            access_token_ttl_seconds=_int("PEOPLELINKS_ACCESS_TOKEN_TTL", defaults.access_token_ttl_seconds),
            refresh_token_ttl_seconds=_int("PEOPLELINKS_REFRESH_TOKEN_TTL", defaults.refresh_token_ttl_seconds),
            page_session_seconds=_int("PEOPLELINKS_PAGE_SESSION_SECONDS", defaults.page_session_seconds),
            login_max_failures_per_email=_int(
                "PEOPLELINKS_LOGIN_MAX_FAILURES_PER_EMAIL", defaults.login_max_failures_per_email
            ),
            login_max_failures_per_client=_int(
                "PEOPLELINKS_LOGIN_MAX_FAILURES_PER_CLIENT", defaults.login_max_failures_per_client
            ),
            login_failure_window_seconds=_int(
                "PEOPLELINKS_LOGIN_FAILURE_WINDOW_SECONDS", defaults.login_failure_window_seconds
            ),
            login_lockout_seconds=_int("PEOPLELINKS_LOGIN_LOCKOUT_SECONDS", defaults.login_lockout_seconds),
            pool_min_size=_int("PEOPLELINKS_POOL_MIN", defaults.pool_min_size),
            pool_max_size=_int("PEOPLELINKS_POOL_MAX", defaults.pool_max_size),
            statement_timeout_ms=_int("PEOPLELINKS_STATEMENT_TIMEOUT_MS", defaults.statement_timeout_ms),
            idle_in_transaction_timeout_ms=_int(
                "PEOPLELINKS_IDLE_IN_TRANSACTION_TIMEOUT_MS", defaults.idle_in_transaction_timeout_ms
            ),
            max_body_bytes=_int("PEOPLELINKS_MAX_BODY_BYTES", defaults.max_body_bytes),
            max_batch_events=_int("PEOPLELINKS_MAX_BATCH_EVENTS", defaults.max_batch_events),
            export_wait_seconds=float(env.get("PEOPLELINKS_EXPORT_WAIT_SECONDS") or defaults.export_wait_seconds),
            report_requests_per_minute=_int(
                "PEOPLELINKS_REPORT_REQUESTS_PER_MINUTE", defaults.report_requests_per_minute
            ),
            report_request_burst=_int("PEOPLELINKS_REPORT_REQUEST_BURST", defaults.report_request_burst),
            max_concurrent_renders=_int("PEOPLELINKS_MAX_CONCURRENT_RENDERS", defaults.max_concurrent_renders),
            render_wait_seconds=float(env.get("PEOPLELINKS_RENDER_WAIT_SECONDS") or defaults.render_wait_seconds),
            export_keep_days=_int("PEOPLELINKS_EXPORT_KEEP_DAYS", defaults.export_keep_days),
            export_keep_per_programme=_int("PEOPLELINKS_EXPORT_KEEP_PER_PROGRAMME", defaults.export_keep_per_programme),
            worker_sweep_seconds=float(env.get("PEOPLELINKS_WORKER_SWEEP_SECONDS") or defaults.worker_sweep_seconds),
            allowed_hosts=_list("PEOPLELINKS_ALLOWED_HOSTS", defaults.allowed_hosts),
            cors_origins=_list("PEOPLELINKS_CORS_ORIGINS", defaults.cors_origins),
            trusted_proxies=_list("PEOPLELINKS_TRUSTED_PROXIES", defaults.trusted_proxies),
            master_key=env.get("PEOPLELINKS_MASTER_KEY", ""),
            erasure_ledger=env.get("PEOPLELINKS_ERASURE_LEDGER") or defaults.erasure_ledger,
            log_format=_choice("PEOPLELINKS_LOG_FORMAT", defaults.log_format, ("json", "text")),
            log_level=_choice(
                "PEOPLELINKS_LOG_LEVEL", defaults.log_level, ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True
            ),
            metrics_allow=_list("PEOPLELINKS_METRICS_ALLOW", defaults.metrics_allow),
            metrics_token=env.get("PEOPLELINKS_METRICS_TOKEN", ""),
            ready_max_lag=_int("PEOPLELINKS_READY_MAX_LAG", defaults.ready_max_lag),
        )
