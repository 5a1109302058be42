"""Per-request control of the mock: `Prefer` (RFC 7240) and its `__name` query twins, latency and chaos.

    Prefer: code=500                 answer with this documented status and a realistic body of its schema
    Prefer: example=docsSample       answer with this named example of the contract
    Prefer: dynamic=false            answer with the contract's example instead of generated data
    Prefer: seed=12345               generate with this seed (the one X-Mock-Seed reported)
    Prefer: delay=250 | 100-400 | lognormal:200:0.5 | nsapislow
    Prefer: notification=error       (Genesys) report the send as failed (and do not deliver it)
    Prefer: notification-delay=2000  (Genesys) publish the CometD notification this many ms after the outcome

The query twins (`?__code=500&__example=…&__seed=…&__dynamic=false&__delay=…&__notification=…`, also
`__notification-delay`) are for
clients that cannot set headers; a header value wins over its twin.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from mockserver.contract import problems

MAX_DELAY_MS = 120_000
# The vendor's pages print "NsApiSlow threshold: 5000 ms" for the EMail agent: calls slower than that are
# logged as slow. The preset lands every call just past it.
PRESETS = {"nsapislow": (5000.0, 5500.0)}
QUERY_PREFIX = "__"
KNOWN = ("code", "example", "seed", "dynamic", "delay", "notification", "notification-delay")


@dataclass(frozen=True)
class Latency:
    """A latency distribution in milliseconds: fixed, uniform between two bounds, or log-normal."""

    kind: str
    a: float
    b: float = 0.0

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            value = self.a
        elif self.kind == "uniform":
            value = rng.uniform(self.a, self.b)
        else:
            value = rng.lognormvariate(math.log(self.a), self.b)
        return max(0.0, min(float(MAX_DELAY_MS), value))

    @classmethod
    def parse(cls, text: str) -> Latency:
        """`250`, `100-400`, `lognormal:200:0.5` or a preset name; ValueError otherwise."""
        value = text.strip().lower()
        if value in PRESETS:
            low, high = PRESETS[value]
            return cls("uniform", low, high)
        if re.fullmatch(r"\d+(\.\d+)?", value):
            return cls("fixed", _bounded(float(value)))
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)", value)
        if match:
            low, high = _bounded(float(match[1])), _bounded(float(match[2]))
            if low > high:
                raise ValueError(f"delay range {text!r} runs backwards")
            return cls("uniform", low, high)
        match = re.fullmatch(r"lognormal:(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)", value)
        if match and float(match[1]) > 0:
            return cls("lognormal", _bounded(float(match[1])), float(match[2]))
        raise ValueError(
            f"delay {text!r} is not milliseconds (250), a range (100-400), lognormal:<median>:<sigma> or nsapislow"
        )


def _bounded(ms: float) -> float:
    if ms > MAX_DELAY_MS:
        raise ValueError(f"delays are capped at {MAX_DELAY_MS} ms")
    return ms


@dataclass(frozen=True)
class Controls:
    """What a request asked of the mock itself."""

    code: int | None = None
    example: str | None = None
    seed: int | None = None
    dynamic: bool = True
    delay: Latency | None = None
    notification: str | None = None
    notification_delay: int | None = None
    applied: tuple[str, ...] = ()


def parse_prefer(values: list[str]) -> dict[str, str]:
    """`Prefer` preferences (several headers, comma-separated, `;` parameters ignored); names lower-cased."""
    found: dict[str, str] = {}
    for value in values:
        for item in value.split(","):
            token = item.split(";", 1)[0].strip()
            name, eq, setting = token.partition("=")
            if eq:
                found.setdefault(name.strip().lower(), setting.strip().strip('"'))
    return found


NONE = Controls()


def read(prefer_headers: list[str], query: str) -> Controls:
    """The controls of one request; a malformed value is a 400, unknown preferences are ignored (RFC 7240)."""
    if not prefer_headers and not query:
        return NONE  # most requests ask nothing of the mock
    wanted = {f"{QUERY_PREFIX}{name}": name for name in KNOWN}
    settings: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in wanted:
            settings.setdefault(wanted[key], value)
    settings.update({k: v for k, v in parse_prefer(prefer_headers).items() if k in KNOWN})
    try:
        code = int(settings["code"]) if "code" in settings else None
        seed = int(settings["seed"]) if "seed" in settings else None
        delay = Latency.parse(settings["delay"]) if "delay" in settings else None
        notification_delay = int(settings["notification-delay"]) if "notification-delay" in settings else None
    except ValueError as exc:
        raise problems.bad_request(f"Mock control not understood: {exc}") from None
    if notification_delay is not None and not 0 <= notification_delay <= MAX_DELAY_MS:
        raise problems.bad_request(f"Mock control not understood: notification-delay must be 0-{MAX_DELAY_MS} ms")
    if seed is not None and not 0 <= seed < 2**63:
        raise problems.bad_request("Mock control not understood: seed must be between 0 and 2^63-1")
    dynamic_text = settings.get("dynamic", "true").lower()
    if dynamic_text not in ("true", "false"):
        raise problems.bad_request("Mock control not understood: dynamic must be true or false")
    notification = settings.get("notification")
    if notification is not None and notification.lower() not in ("error", "success"):
        raise problems.bad_request("Mock control not understood: notification must be error or success")
    return Controls(
        code=code,
        example=settings.get("example") or None,
        seed=seed,
        dynamic=dynamic_text == "true",
        delay=delay,
        notification=notification.lower() if notification else None,
        notification_delay=notification_delay,
        applied=tuple(f"{name}={settings[name]}" for name in KNOWN if name in settings),
    )


@dataclass(frozen=True)
class ChaosRule:
    operation: str
    status: int
    probability: float


def parse_chaos(text: str | None) -> tuple[ChaosRule, ...]:
    """`v1EMailAgent_SendEMails=500:0.2,*=503:0.01` → rules; `*` stands for every operation."""
    rules = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_*]+)\s*=\s*(\d{3})\s*:\s*(0(?:\.\d+)?|1(?:\.0+)?)", item)
        if match is None:
            raise ValueError(f"chaos rule {item!r} is not OPERATION=STATUS:PROBABILITY (e.g. *=500:0.05)")
        rules.append(ChaosRule(match[1], int(match[2]), float(match[3])))
    return tuple(rules)


def is_controlled(operation_id: str) -> bool:
    """Whether `Prefer`, latency and chaos apply: not to the CometD endpoint, whose answers are Bayeux protocol
    replies (a canned HTTP error there would only make a client re-handshake), not resources."""
    return not operation_id.startswith("gwsNotifications_")


def chaos_status(
    rules: tuple[ChaosRule, ...], operation_id: str, documented: Mapping[str, object], rng: random.Random
) -> int | None:
    """The error status chaos picks for this request, if any (deterministic for a given seed). A `*` rule skips
    operations that do not document its status: an operation never answers what its contract cannot say."""
    for rule in rules:
        if rule.operation not in ("*", operation_id) or str(rule.status) not in documented:
            continue
        if rng.random() < rule.probability:
            return rule.status
    return None


def documented_statuses(responses: Mapping[str, object]) -> list[int]:
    return sorted(int(code) for code in responses if code.isdigit())
