"""GWS's own state: the per-user referenceId counters."""

from __future__ import annotations

from mockserver.genesys.state import Genesys
from mockserver.runtime import Runtime
from tests.conftest import mock_settings


def test_reference_ids_count_per_user() -> None:
    genesys = Genesys(Runtime(mock_settings()))
    ids = [genesys.next_reference_id(user) for user in ("anna", "anna", "lars", "anna", "lars")]
    assert ids == [1, 2, 1, 3, 2]
