from __future__ import annotations

import base64
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.settings import Settings
from tests.servers import Dovecot, Postgres, dovecot, postgres

# `pytester` runs sample test files through a real pytest, as a user of the pytest plugin would.
pytest_plugins = ["pytester"]

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


def mock_settings(**overrides: Any) -> Settings:
    """Settings for an in-process app under test: no delivery and an in-memory outbox unless asked for."""
    values: dict[str, Any] = {"delivery": "none", "store": ":memory:", "port": 0}
    if "outbox" in overrides:  # the store's old name
        overrides["store"] = overrides.pop("outbox")
    values.update(overrides)
    return Settings(**values)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def gws_login(client: TestClient, authorization: str = BASIC) -> dict[str, str]:
    """A GWS client's start-up: `GET /api/v2/me` opens the session (the client keeps the JSESSIONID cookie)
    and hands out the CSRF token that POSTs must carry."""
    response = client.get("/api/v2/me", headers={"Authorization": authorization})
    assert response.status_code == 200, response.text
    return {"Authorization": authorization, "X-CSRF-TOKEN": response.headers["X-CSRF-TOKEN"]}


@pytest.fixture(scope="session")
def seeded_settings() -> Settings:
    return mock_settings(seed=1234, validate_responses=True)


@pytest.fixture(scope="session")
def app_client(seeded_settings: Settings) -> Iterator[TestClient]:
    """One in-process app for the session: deterministic, and checking its own responses against the contract."""
    with create_app(seeded_settings).test_client() as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return app_client


@pytest.fixture(scope="session")
def imap_server() -> Iterator[Dovecot]:
    """A private Debian Dovecot for the whole session; each test uses its own user (its own mailbox)."""
    with dovecot() as server:
        yield server


@pytest.fixture
def imap_user(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^a-z0-9]", "", request.node.name.lower())[-40:] or "user"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A private PostgreSQL cluster for the whole session (Debian's binaries, a throwaway data directory)."""
    with postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Postgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh, empty database of the session's cluster, dropped after the test."""
    # A test that stopped the cluster and failed before starting it again must not fail the tests after it.
    postgres_server.start()
    name = f"t{uuid.uuid4().hex[:8]}_" + re.sub(r"[^a-z0-9]", "", request.node.name.lower())[-40:]
    yield postgres_server.create_database(name)
    postgres_server.start()
    postgres_server.drop_database(name)
