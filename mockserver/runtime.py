"""State that lives as long as one app: settings, generators, the directory, counters."""

from __future__ import annotations

import collections
import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

from mockserver.directory import Directory
from mockserver.dotnet import DotNetDateTime
from mockserver.fakes import FakerPool, Gen
from mockserver.ingest import Submission
from mockserver.settings import Settings

ACCEPTED_KEPT = 1000


class Runtime:
    """Everything an app instance shares between requests.

    Only `create_app` builds one; handlers reach it through the request scope.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.with_run_seed()
        self.run_seed = self.settings.effective_seed
        self.base_zone = ZoneInfo(self.settings.base_timezone)
        self.fakers = FakerPool()
        self.directory = Directory(self.run_seed)
        self.frozen_now = (
            DotNetDateTime.parse(self.settings.frozen_time, self.base_zone) if self.settings.deterministic else None
        )
        self._reference_ids: dict[str, itertools.count[int]] = {}
        # The most recent accepted mails, newest last; the outbox issue replaces this with a journal.
        self.accepted: collections.deque[Submission] = collections.deque(maxlen=ACCEPTED_KEPT)

    def gen(self, seed: int, locale: str | None = None) -> Gen:
        faker = self.fakers.seeded(seed, locale) if locale else self.fakers.seeded(seed)
        return Gen(faker, seed)

    def now(self, gen: Gen) -> DotNetDateTime:
        """The current instant; frozen (with a request-seeded fraction) when the server runs with a seed."""
        micros, tick = gen.fraction_ticks()
        if self.frozen_now is not None:
            return DotNetDateTime(self.frozen_now.value.replace(microsecond=micros), tick)
        return DotNetDateTime(datetime.now(self.base_zone), tick)

    def next_reference_id(self, user: str) -> int:
        """GWS numbers each session's requests 1, 2, 3 …; the notification for a request repeats its id."""
        counter = self._reference_ids.setdefault(user, itertools.count(1))
        return next(counter)
