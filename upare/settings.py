"""Read the UPARE_* settings; anything unset means the embedded default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import limits


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting a Upare process reads, with the embedded defaults."""

    env: str = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = ""  # of every key in Redis, for deployments sharing one server
    kafka_bootstrap: str = ""
    mail_url: str = "console://"  # from_env: file://$UPARE_DATA_DIR/mail
    sms_url: str = "console://"  # from_env: file://$UPARE_DATA_DIR/sms
    mail_from: str = "Upare <no-reply@upare.invalid>"
    delivery_attempts: int = 5  # sends of an outbox message before it is marked failed
    delivery_backoff: float = 2.0  # seconds before the first retry, doubling
    delivery_lease: float = 120.0  # seconds a deliverer holds a message it is sending
    notify_attempts: int = 3  # sends of a new friend's notice (inbox, mail) before 204104
    notify_backoff: float = 2.0  # seconds before its first retry, doubling
    secret_key: str = "development-only-secret"  # noqa: S105 (refused in production)
    max_body_bytes: int = 8 * 1024 * 1024
    captcha_test_mode: bool = False  # the answer PASSED always passes (refused in production)
    cookie_secure: bool = False  # the `sid` cookie is sent over HTTPS only
    code_resend_seconds: int = 60  # the least interval between two codes to one medium
    projection_retries: int = 3  # a failing batch's retries before its culprit is parked
    projection_backoff_ms: int = 50  # the first pause between them, doubling
    kafka_topic: str = "upare.events"
    kafka_partitions: int = 6  # when the topic is created
    kafka_group: str = "upare-projector"
    kafka_instance_id: str = ""  # static group membership: a restarted member keeps partitions
    kafka_session_timeout_ms: int = 10000
    issuer: str = ""  # the OAuth issuer (RFC 8414), e.g. https://api.example; "": the request's
    oauth_client_rate: str = "600/minute"  # requests of one OAuth client's tokens (`limits`)
    oauth_token_rate: str = "120/minute"  # noqa: S105 (requests of one access token)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build the settings from `UPARE_*` environment variables."""
        environ = dict(os.environ if environ is None else environ)
        data_dir = Path(environ.get("UPARE_DATA_DIR") or "var")
        settings = cls(
            env=environ.get("UPARE_ENV") or "development",
            data_dir=data_dir,
            database_url=environ.get("UPARE_DATABASE_URL") or f"sqlite:///{data_dir}",
            redis_url=environ.get("UPARE_REDIS_URL") or "",
            redis_prefix=environ.get("UPARE_REDIS_PREFIX") or "",
            kafka_bootstrap=environ.get("UPARE_KAFKA_BOOTSTRAP") or "",
            mail_url=environ.get("UPARE_MAIL_URL") or f"file://{data_dir.resolve()}/mail",
            sms_url=environ.get("UPARE_SMS_URL") or f"file://{data_dir.resolve()}/sms",
            mail_from=environ.get("UPARE_MAIL_FROM") or cls.mail_from,
            delivery_attempts=int(environ.get("UPARE_DELIVERY_ATTEMPTS") or cls.delivery_attempts),
            delivery_backoff=float(environ.get("UPARE_DELIVERY_BACKOFF") or cls.delivery_backoff),
            delivery_lease=float(environ.get("UPARE_DELIVERY_LEASE") or cls.delivery_lease),
            notify_attempts=int(environ.get("UPARE_NOTIFY_ATTEMPTS") or cls.notify_attempts),
            notify_backoff=float(environ.get("UPARE_NOTIFY_BACKOFF") or cls.notify_backoff),
            secret_key=environ.get("UPARE_SECRET_KEY") or cls.secret_key,
            max_body_bytes=int(environ.get("UPARE_MAX_BODY_BYTES") or cls.max_body_bytes),
            captcha_test_mode=flag(environ.get("UPARE_CAPTCHA_TEST_MODE")),
            cookie_secure=flag(environ.get("UPARE_COOKIE_SECURE")),
            code_resend_seconds=int(
                environ.get("UPARE_CODE_RESEND_SECONDS") or cls.code_resend_seconds
            ),
            projection_retries=int(
                environ.get("UPARE_PROJECTION_RETRIES") or cls.projection_retries
            ),
            projection_backoff_ms=int(
                environ.get("UPARE_PROJECTION_BACKOFF_MS") or cls.projection_backoff_ms
            ),
            kafka_topic=environ.get("UPARE_KAFKA_TOPIC") or cls.kafka_topic,
            kafka_partitions=int(environ.get("UPARE_KAFKA_PARTITIONS") or cls.kafka_partitions),
            kafka_group=environ.get("UPARE_KAFKA_GROUP") or cls.kafka_group,
            kafka_instance_id=environ.get("UPARE_KAFKA_INSTANCE_ID") or "",
            kafka_session_timeout_ms=int(
                environ.get("UPARE_KAFKA_SESSION_TIMEOUT_MS") or cls.kafka_session_timeout_ms
            ),
            issuer=(environ.get("UPARE_ISSUER") or "").rstrip("/"),
            oauth_client_rate=environ.get("UPARE_OAUTH_CLIENT_RATE") or cls.oauth_client_rate,
            oauth_token_rate=environ.get("UPARE_OAUTH_TOKEN_RATE") or cls.oauth_token_rate,
        )
        settings.check()
        return settings

    @property
    def media_dir(self) -> Path:
        """Return the folder of stored avatars."""
        return self.data_dir / "media"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_dir(self) -> Path:
        """Return the folder of the SQLite files (`sqlite:///DIR`)."""
        return Path(unquote(urlsplit(self.database_url).path.removeprefix("/")) or self.data_dir)

    def check(self) -> None:
        """Refuse settings that must never reach production."""
        if self.env == "production" and self.secret_key == Settings.secret_key:
            raise SystemExit("UPARE_SECRET_KEY must be set when UPARE_ENV=production")
        if self.env == "production" and self.captcha_test_mode:
            raise SystemExit("UPARE_CAPTCHA_TEST_MODE must not be on when UPARE_ENV=production")
        if not (self.is_postgres or self.database_url.startswith("sqlite:///")):
            raise SystemExit("UPARE_DATABASE_URL must be postgresql://... or sqlite:///DIR")
        if not self.mail_url.startswith(("smtp://", "file://", "console://")):
            raise SystemExit("UPARE_MAIL_URL must be smtp://host:port, file:///DIR or console://")
        if not self.sms_url.startswith(("file://", "console://")):
            raise SystemExit("UPARE_SMS_URL must be file:///DIR or console://")
        if self.delivery_attempts < 1:
            raise SystemExit("UPARE_DELIVERY_ATTEMPTS must be 1 or more")
        if self.notify_attempts < 1:
            raise SystemExit("UPARE_NOTIFY_ATTEMPTS must be 1 or more")
        if self.notify_backoff < 0:
            raise SystemExit("UPARE_NOTIFY_BACKOFF must be 0 seconds or more")
        for name, rate in (
            ("UPARE_OAUTH_CLIENT_RATE", self.oauth_client_rate),
            ("UPARE_OAUTH_TOKEN_RATE", self.oauth_token_rate),
        ):
            try:
                limits.parse(rate)
            except ValueError:
                raise SystemExit(f"{name} must be a rate such as 600/minute") from None


def flag(value: str | None) -> bool:
    """Read an on/off setting: 1/true/yes/on (any case) is on, anything else off."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def postgres_env(url: str) -> dict[str, str]:
    """Translate a postgresql:// URL into eventsourcing's POSTGRES_* settings."""
    parts = urlsplit(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        # an outage answers within seconds (100003), well inside gunicorn's worker timeout,
        # and a connection the server dropped is noticed before it is used
        "POSTGRES_CONNECT_TIMEOUT": "1",
        "POSTGRES_PRE_PING": "y",
    }
