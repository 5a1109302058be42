from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.settings import Settings

settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

USER = "tje0"
PASSWORD = "Tje0"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
AUTH = {"Authorization": BASIC}
SEND = "/api/v1/Agents/EMail/SendEMails"
SAVE = "/api/v1/Agents/EMail/SaveToMailServer"
RELAY = "/api/v1/Agents/EMail/RelayMessage"
GWS_SEND = "/api/v2/me/emails/0071023821aec011"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="session")
def seeded_settings() -> Settings:
    return Settings(seed=1234, validate_responses=True)


@pytest.fixture(scope="session")
def app_client(seeded_settings: Settings) -> Iterator[TestClient]:
    """One in-process app for the session: deterministic, and checking its own responses against the contract."""
    with create_app(seeded_settings).test_client() as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return app_client
