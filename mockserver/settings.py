"""Server settings: one frozen dataclass, every field with a MOCKSERVER_* environment twin."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mockserver.formats.dotnet import DotNetDateTime

if TYPE_CHECKING:
    from mockserver.mail.delivery import DeliveryOptions

ENV_PREFIX = "MOCKSERVER_"


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _parse_list(value: str) -> tuple[str, ...] | None:
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    return items or None


@dataclass(frozen=True)
class Settings:
    """Everything that changes how the server behaves.

    Credentials lists (`users`, `tickets`, `tokens`) restrict a scheme to the listed values; when a list is
    unset, any well-formed credential of that scheme is accepted. They are kept out of `repr` so that they
    never reach a log.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    seed: int | None = None
    run_seed: int | None = None
    users: tuple[str, ...] | None = field(default=None, repr=False)
    tickets: tuple[str, ...] | None = field(default=None, repr=False)
    tokens: tuple[str, ...] | None = field(default=None, repr=False)
    validate_responses: bool = False
    base_timezone: str = "Europe/Oslo"
    hostname: str = "mail.superoffice.mock"
    online_restricted: bool = False
    frozen_time: str = "2025-05-13T10:24:31+02:00"
    max_body_bytes: int = 64 * 1024 * 1024
    delivery: str = "sink"
    store: str = field(default="mockserver-outbox.sqlite3", repr=False)
    sink_host: str = "127.0.0.1"
    sink_port: int = 1025
    smtp_relay: str | None = field(default=None, repr=False)
    smtp_allow: tuple[str, ...] | None = ("loopback",)
    smtp_timeout: float = 10.0
    imap_url: str | None = field(default=None, repr=False)
    imap_timeout: float = 10.0
    tls_ca_file: str | None = None
    latency: str | None = None
    chaos: str | None = None
    cors_origins: tuple[str, ...] | None = ("*",)
    require_app_token: bool = False
    gws_csrf: bool = True
    gws_session_minutes: float = 30.0
    notification_delay: int = 0
    bayeux_timeout: int = 30_000
    bayeux_max_interval: int = 10_000
    bayeux_max_queue: int = 1000
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from MOCKSERVER_* variables; explicit keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        # `outbox` is the store's name from before it held more than the outbox; still understood.
        legacy = overrides.pop("outbox", None)
        if legacy is not None and overrides.get("store") is None:
            overrides["store"] = legacy
        if ENV_PREFIX + "OUTBOX" in env and ENV_PREFIX + "STORE" not in env:
            values["store"] = env[ENV_PREFIX + "OUTBOX"]
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The MOCKSERVER_* variables that rebuild these settings in another process (uvicorn workers)."""
        env: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                env[ENV_PREFIX + f.name.upper()] = ",".join(value)
            elif isinstance(value, bool):
                env[ENV_PREFIX + f.name.upper()] = "true" if value else "false"
            else:
                env[ENV_PREFIX + f.name.upper()] = str(value)
        return env

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, not {self.port}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        if self.delivery not in ("none", "sink", "smtp"):
            raise ValueError(f"delivery must be none, sink or smtp, not {self.delivery!r}")
        if not 0 < self.smtp_timeout <= 300 or not 0 < self.imap_timeout <= 300:
            raise ValueError("smtp_timeout and imap_timeout must be between 0 and 300 seconds")
        if not 0 < self.gws_session_minutes <= 24 * 60:
            raise ValueError("gws_session_minutes must be between 0 and 1440")
        if not 0 <= self.notification_delay <= 120_000:
            raise ValueError("notification_delay must be between 0 and 120000 ms")
        if not 100 <= self.bayeux_timeout <= 300_000 or not 100 <= self.bayeux_max_interval <= 300_000:
            raise ValueError("bayeux_timeout and bayeux_max_interval must be between 100 and 300000 ms")
        if not 1 <= self.bayeux_max_queue <= 100_000:
            raise ValueError("bayeux_max_queue must be between 1 and 100000")
        try:
            ZoneInfo(self.base_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {self.base_timezone!r} (use an IANA name such as Europe/Oslo)"
            ) from None
        try:
            DotNetDateTime.parse(self.frozen_time, ZoneInfo(self.base_timezone))
        except ValueError:
            raise ValueError(
                f"frozen_time must look like 2025-05-13T10:24:31+02:00, not {self.frozen_time!r}"
            ) from None
        # Imported here: the controls module pulls in Connexion, and settings must stay cheap to import.
        from mockserver.controls import Latency, parse_chaos

        if self.latency is not None:
            Latency.parse(self.latency)
        parse_chaos(self.chaos)

    @property
    def deterministic(self) -> bool:
        """A seed was given: the same request gives the same bytes, and the clock is frozen."""
        return self.seed is not None

    @property
    def effective_seed(self) -> int:
        if self.seed is not None:
            return self.seed
        if self.run_seed is not None:
            return self.run_seed
        raise RuntimeError("settings have no seed; call with_run_seed() first")

    def delivery_options(self) -> DeliveryOptions:
        """What the mail pipeline's delivery reads of these settings."""
        # Imported here: delivery pulls in the SMTP and IMAP clients, and settings must stay cheap to import.
        from mockserver.mail.delivery import DeliveryOptions

        return DeliveryOptions(
            mode=self.delivery,
            sink_host=self.sink_host,
            sink_port=self.sink_port,
            smtp_relay=self.smtp_relay,
            smtp_allow=self.smtp_allow,
            smtp_timeout=self.smtp_timeout,
            imap_url=self.imap_url,
            imap_timeout=self.imap_timeout,
            tls_ca_file=self.tls_ca_file,
        )

    def with_run_seed(self) -> Settings:
        """These settings with a per-run seed, shared by every worker so that an address means the same
        person in all of them. A user-given `seed` always wins."""
        if self.seed is not None or self.run_seed is not None:
            return self
        return dataclasses.replace(self, run_seed=secrets.randbits(32))


def _convert(name: str, type_name: Any, raw: str) -> Any:
    type_text = str(type_name)
    try:
        if "tuple" in type_text:
            return _parse_list(raw)
        if type_text.startswith("bool"):
            return _parse_bool(raw)
        if type_text.startswith("int"):
            return int(raw) if raw.strip() else None
        if type_text.startswith("float"):
            return float(raw)
        return raw if raw != "" else None
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: {exc}") from exc
