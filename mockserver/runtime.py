"""State that lives as long as one app and that every handler shares: settings, generators, the clock, the mail."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

from mockserver import controls
from mockserver.contract import spec
from mockserver.contract.xmlcodec import XmlCodec
from mockserver.controls import ChaosRule, Latency, parse_chaos
from mockserver.fakes import FakerPool, Gen
from mockserver.formats.dotnet import DotNetDateTime
from mockserver.formats.locales import NO_LANGUAGE, Texts
from mockserver.mail.ingest import Mailroom
from mockserver.mail.outbox import Outbox
from mockserver.settings import Settings


class Runtime:
    """Everything an app instance shares between requests, whichever vendor they are for.

    Only `create_app` builds one; handlers reach it through the request scope. What belongs to one vendor
    (GWS sessions and CometD, the CRM directory) is that vendor's own state, built beside it by the wiring.
    """

    def __init__(self, settings: Settings) -> None:
        settings = settings.with_run_seed()
        outbox = Outbox(settings.store)
        if settings.seed is None and settings.store != ":memory:":
            # Every process sharing the store derives the same data (an address is the same person on every
            # replica): workers of one machine get the seed from their parent, replicas elsewhere from the store.
            settings = dataclasses.replace(settings, run_seed=int(outbox.agreed("run_seed", str(settings.run_seed))))
        self.settings = settings
        self.run_seed = self.settings.effective_seed
        self.base_zone = ZoneInfo(self.settings.base_timezone)
        self.fakers = FakerPool()
        self.latency = Latency.parse(self.settings.latency) if self.settings.latency else None
        self.chaos = self._checked_chaos(parse_chaos(self.settings.chaos))
        self.xml = XmlCodec(spec.resolve)
        self.iana_zones = spec.iana_zone_names()
        self.frozen_now = (
            DotNetDateTime.parse(self.settings.frozen_time, self.base_zone) if self.settings.deterministic else None
        )
        # The outbox, delivery and its background work: what mail/ingest needs, handed to it as one value.
        self.mail = Mailroom(outbox, self.settings.delivery_options())

    @staticmethod
    def _checked_chaos(rules: tuple[ChaosRule, ...]) -> tuple[ChaosRule, ...]:
        """Chaos may only inject statuses the contract documents for the operation it names."""
        controlled = [o for o in spec.operations() if controls.is_controlled(o)]
        for rule in rules:
            targets = controlled if rule.operation == "*" else [rule.operation]
            for operation_id in targets:
                if operation_id not in spec.operations():
                    raise ValueError(f"chaos names unknown operation {operation_id!r}")
                if not controls.is_controlled(operation_id):
                    raise ValueError(
                        f"chaos cannot target {operation_id}: the CometD endpoint answers Bayeux protocol replies"
                    )
                if str(rule.status) not in spec.responses(operation_id) and rule.operation != "*":
                    raise ValueError(f"chaos status {rule.status} is not documented for {operation_id}")
            if rule.operation == "*" and not any(str(rule.status) in spec.responses(o) for o in targets):
                raise ValueError(f"chaos status {rule.status} is not documented for any operation")
        return rules

    def gen(self, seed: int, texts: Texts = NO_LANGUAGE) -> Gen:
        return Gen.lazy(self.fakers, seed, texts)

    def instant(self, gen: Gen) -> datetime:
        """`now(gen).value`, for a request that records when it came but shows no fraction of it: on a running
        clock that draws nothing (the fraction only makes up the seventh digit, or a frozen clock's microseconds)."""
        if self.frozen_now is not None:
            return self.now(gen).value
        return datetime.now(self.base_zone)

    def now(self, gen: Gen) -> DotNetDateTime:
        """The current instant; frozen (with a request-seeded fraction) when the server runs with a seed."""
        micros, tick = gen.fraction_ticks()
        if self.frozen_now is not None:
            return DotNetDateTime(self.frozen_now.value.replace(microsecond=micros), tick)
        return DotNetDateTime(datetime.now(self.base_zone), tick)
