"""Schemathesis against the in-process app: every operation, every check, positive and negative data.

The app runs with a configured user list, so that schemathesis' `ignored_auth` probes (well-formed but
wrong credentials) must be refused; by default the mock accepts any well-formed credentials.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from mockserver import create_app
from mockserver.settings import Settings
from tests.conftest import basic

USER, PASSWORD = "conformance", "s3cret"
APP = create_app(Settings(seed=7, validate_responses=True, users=(f"{USER}:{PASSWORD}",)))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(modes=["positive", "negative"])
# The coverage phase enumerates every boundary of every nested property: ~10,000 cases per SuperOffice
# operation, minutes each. `make conformance-deep` (MOCKSERVER_CONFORMANCE_DEEP=1) adds it.
DEEP = os.environ.get("MOCKSERVER_CONFORMANCE_DEEP") == "1"
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"] if DEEP else ["examples", "fuzzing"])

# XML and form bodies: the protocol-fidelity change teaches the server to read them.
NOT_READ_YET = {"application/xml", "text/xml", "application/x-www-form-urlencoded"}

pytestmark = pytest.mark.conformance


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_contract(case: Any) -> None:
    if case.media_type in NOT_READ_YET:
        return
    case.call_and_validate(headers={"Authorization": basic(USER, PASSWORD)})
