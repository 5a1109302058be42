"""GWS's own state: the per-user referenceId counters."""

from __future__ import annotations

import asyncio

from mockserver.genesys.state import Genesys
from mockserver.runtime import Runtime
from tests.conftest import mock_settings


def test_reference_ids_count_per_user() -> None:
    genesys = Genesys(Runtime(mock_settings()))
    users = ("anna", "anna", "lars", "anna", "lars")
    ids = [asyncio.run(genesys.next_reference_id(user)) for user in users]
    assert ids == [1, 2, 1, 3, 2]


def test_reference_ids_counted_together_keep_the_order_they_were_asked_in() -> None:
    """Requests of the same moment share one transaction (`Outbox.together`): each still gets its own number."""
    genesys = Genesys(Runtime(mock_settings()))
    users = ("anna", "anna", "lars", "anna", "lars")

    async def at_once() -> list[int]:
        return list(await asyncio.gather(*(genesys.next_reference_id(user) for user in users)))

    assert asyncio.run(at_once()) == [1, 2, 1, 3, 2]
    assert asyncio.run(at_once()) == [4, 5, 3, 6, 4]
