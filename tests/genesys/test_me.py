"""GWS `/api/v2/me`: the signed-in agent (GET) and the contact-center session (POST)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.app import genesys_of
from tests.conftest import AUTH, USER, basic, gws_login, mock_settings

ME = "/api/v2/me"
START = {"operationName": "StartContactCenterSession", "channels": ["voice", "email"]}


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(mock_settings(seed=31))


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """A client of its own (its own cookie jar, so its own GWS session) on the module's app."""
    with app.test_client() as own:
        yield own


def user_id(run_seed: int, user: str) -> str:
    return hashlib.blake2b(f"{run_seed}:{user}".encode(), digest_size=16).hexdigest()


def channels(client: TestClient) -> tuple[str, ...]:
    live = genesys_of(client.app).sessions.get(client.cookies["JSESSIONID"])
    assert live is not None
    return live.channels


# -- GET --------------------------------------------------------------------------------------------------------


def test_get_describes_the_signed_in_agent(client: TestClient) -> None:
    response = client.get(ME, headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["statusCode", "user"] and body["statusCode"] == 0
    user = body["user"]
    expected_id = user_id(31, USER)
    assert user == {
        "id": expected_id,
        "userName": USER,
        "firstName": user["firstName"],
        "lastName": user["lastName"],
        "roles": ["ROLE_AGENT"],
        "enabled": True,
        "changePasswordOnFirstLogin": False,
        "uri": f"http://testserver/api/v2/users/{expected_id}",
        "path": f"/users/{expected_id}",
    }
    assert user["firstName"] and user["lastName"]
    assert int(response.headers["X-Mock-Seed"]) >= 0


def test_the_same_agent_has_the_same_name_whatever_the_request(client: TestClient) -> None:
    first = client.get(ME, headers=AUTH).json()["user"]
    for extra in (
        {"Prefer": "seed=1"},
        {"Prefer": "seed=2"},
        {"X-Mock-Namespace": "other"},
        {"Accept-Language": "nb-NO"},
        {"Accept-Language": "de"},
        {"SO-Language": "sv"},
    ):
        again = client.get(ME, headers={**AUTH, **extra}).json()["user"]
        assert (again["id"], again["firstName"], again["lastName"]) == (
            first["id"],
            first["firstName"],
            first["lastName"],
        )
    by_session = client.get(ME).json()["user"]  # the session cookie alone
    assert by_session == first


def test_another_agent_or_another_run_is_someone_else(client: TestClient) -> None:
    mine = client.get(ME, headers=AUTH).json()["user"]
    other = client.get(ME, headers={"Authorization": basic("agent2", "pw")}).json()["user"]
    assert other["userName"] == "agent2" and other["id"] == user_id(31, "agent2") != mine["id"]
    with create_app(mock_settings(seed=32)).test_client() as another_run:
        assert another_run.get(ME, headers=AUTH).json()["user"]["id"] == user_id(32, USER) != mine["id"]


def test_the_uri_follows_the_host_the_client_used(client: TestClient) -> None:
    user = client.get("http://gws.nordlys.no:8090/api/v2/me", headers=AUTH).json()["user"]
    assert user["uri"] == f"http://gws.nordlys.no:8090/api/v2/users/{user['id']}"


def test_get_answers_json_only(client: TestClient) -> None:
    response = client.get(ME, headers={**AUTH, "Accept": "application/xml"})
    assert response.status_code == 406
    assert response.json()["statusCode"] == 2 and "application/json" in response.json()["statusMessage"]


def test_get_without_credentials_is_a_gws_401(client: TestClient) -> None:
    response = client.get(ME)
    assert response.status_code == 401 and response.json()["statusCode"] == 20
    assert response.headers["WWW-Authenticate"] == 'Basic realm="GWS"'


def test_a_forced_error_is_a_documented_one_in_the_gws_shape(client: TestClient) -> None:
    response = client.get(ME, headers={**AUTH, "Prefer": "code=500"})
    assert response.status_code == 500 and set(response.json()) == {"statusCode", "statusMessage"}
    assert response.json()["statusCode"] == 4


# -- POST -------------------------------------------------------------------------------------------------------


def test_start_contact_center_session_answers_status_zero_and_keeps_the_channels(client: TestClient) -> None:
    session = gws_login(client)
    response = client.post(ME, json=START, headers=session)
    assert response.status_code == 200 and response.json() == {"statusCode": 0}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert channels(client) == ("voice", "email")
    restarted = client.post(
        ME, json={"operationName": "StartContactCenterSession", "channels": ["email"]}, headers=session
    )
    assert restarted.json() == {"statusCode": 0} and channels(client) == ("email",)


def test_start_without_channels_and_end_leave_no_channels(client: TestClient) -> None:
    session = gws_login(client)
    client.post(ME, json=START, headers=session)
    ended = client.post(ME, json={"operationName": "EndContactCenterSession", "channels": ["voice"]}, headers=session)
    assert ended.json() == {"statusCode": 0} and channels(client) == ()
    bare = client.post(ME, json={"operationName": "StartContactCenterSession"}, headers=session)
    assert bare.json() == {"statusCode": 0} and channels(client) == ()


@pytest.mark.parametrize(
    ("body", "code", "mentions"),
    [
        ({"operationName": "Dance"}, 2, "operationName"),
        ({"operationName": "startcontactcentersession"}, 2, "operationName"),
        ({}, 1, "Required parameter 'operationName' is missing"),
        ({"operationName": "StartContactCenterSession", "channels": "email"}, 2, "channels"),
    ],
)
def test_an_operation_gws_does_not_know_gets_the_documented_400(
    client: TestClient, body: dict[str, Any], code: int, mentions: str
) -> None:
    session = gws_login(client)
    client.post(ME, json=START, headers=session)
    response = client.post(ME, json=body, headers=session)
    assert response.status_code == 400
    assert set(response.json()) == {"statusCode", "statusMessage"} and response.json()["statusCode"] == code
    assert mentions in response.json()["statusMessage"]
    assert channels(client) == ("voice", "email")  # nothing changed


def test_post_needs_the_sessions_csrf_token(client: TestClient) -> None:
    gws_login(client)
    response = client.post(ME, json=START, headers=AUTH)
    assert response.status_code == 403
    assert response.json() == {"statusCode": 3, "statusMessage": "Missing or invalid Csrf token"}
    assert channels(client) == ()


def test_post_without_a_session_is_answered_too_when_csrf_is_off() -> None:
    with create_app(mock_settings(seed=31, gws_csrf=False)).test_client() as client:
        response = client.post(ME, json=START, headers=AUTH)
        assert (response.status_code, response.json()) == (200, {"statusCode": 0})
        assert "JSESSIONID" not in client.cookies  # a POST opens no session


def test_post_takes_json_only(client: TestClient) -> None:
    session = gws_login(client)
    response = client.post(
        ME, content="operationName=StartContactCenterSession", headers={**session, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json() == {
        "statusCode": 2,
        "statusMessage": "Content type 'text/plain' is not supported; send application/json",
    }
