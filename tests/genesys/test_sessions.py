"""GWS sessions and CSRF protection: JSESSIONID from a Basic login, the token from GET /api/v2/me, 403s."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.app import genesys_of, runtime_of
from mockserver.mail.outbox import Filters
from tests.conftest import AUTH, GWS_SEND, basic, gws_login, mock_settings

SEND_BODY: dict[str, Any] = {
    "operationName": "Send",
    "queueName": "q",
    "email": {"to": ["a@b.no"], "from": "agent@nordlys.no", "subject": "Hei"},
}
CSRF_REFUSAL = {"statusCode": 3, "statusMessage": "Missing or invalid Csrf token"}
NOTIFICATIONS = "/api/v2/notifications"
HANDSHAKE = [{"id": "1", "channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}]


@pytest.fixture
def fresh() -> Any:
    with create_app(mock_settings(seed=5)).test_client() as client:
        yield client


def test_login_opens_a_session_and_hands_out_the_csrf_token(fresh: TestClient) -> None:
    response = fresh.get("/api/v2/me", headers=AUTH)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("JSESSIONID=") and "HttpOnly" in cookie and "Path=/" in cookie
    assert response.headers["X-CSRF-HEADER"] == "X-CSRF-TOKEN"
    uuid.UUID(response.headers["X-CSRF-TOKEN"])
    user = response.json()["user"]
    assert response.json()["statusCode"] == 0
    assert user["userName"] == "tje0" and user["roles"] == ["ROLE_AGENT"]
    assert user["uri"].endswith(user["path"]) and user["path"] == f"/users/{user['id']}"
    # The session continues: no new cookie, the same token, the same person.
    again = fresh.get("/api/v2/me", headers=AUTH)
    assert "set-cookie" not in again.headers
    assert again.headers["X-CSRF-TOKEN"] == response.headers["X-CSRF-TOKEN"]
    assert again.json()["user"] == user


def test_posts_without_the_sessions_token_are_refused_before_anything_else(fresh: TestClient) -> None:
    # No session at all, and an invalid body: CSRF comes first, as Spring's CsrfFilter does.
    no_session = fresh.post(GWS_SEND, json={"operationName": "nonsense"}, headers=AUTH)
    assert (no_session.status_code, no_session.json()) == (403, CSRF_REFUSAL)
    session = gws_login(fresh)
    missing = fresh.post(GWS_SEND, json=SEND_BODY, headers=AUTH)
    wrong = fresh.post(GWS_SEND, json=SEND_BODY, headers={**AUTH, "X-CSRF-TOKEN": str(uuid.uuid4())})
    for response in (missing, wrong):
        assert (response.status_code, response.json()) == (403, CSRF_REFUSAL)
    fresh.cookies.clear()  # the right token without its session cookie is no good either
    stolen = fresh.post(GWS_SEND, json=SEND_BODY, headers=session)
    assert (stolen.status_code, stolen.json()) == (403, CSRF_REFUSAL)
    assert runtime_of(fresh.app).mail.outbox.count(Filters()) == 0  # type: ignore[arg-type]  # nothing accepted


def test_the_cometd_endpoint_is_no_exception(fresh: TestClient) -> None:
    """All POSTs need the token, the vendor says; on the Bayeux path the refusal reads as failed replies."""
    refused = fresh.post(NOTIFICATIONS, json=HANDSHAKE, headers=AUTH)
    assert refused.status_code == 403
    assert [(r["channel"], r["successful"], r["error"]) for r in refused.json()] == [
        ("/meta/handshake", False, "403::Missing or invalid Csrf token")
    ]
    session = gws_login(fresh)
    assert fresh.post(NOTIFICATIONS, json=HANDSHAKE, headers=AUTH).status_code == 403  # cookie without token
    accepted = fresh.post(NOTIFICATIONS, json=HANDSHAKE, headers=session)
    assert accepted.status_code == 200 and accepted.json()[0]["successful"] is True


def test_the_session_cookie_alone_authenticates(fresh: TestClient) -> None:
    session = gws_login(fresh)
    token_only = {"X-CSRF-TOKEN": session["X-CSRF-TOKEN"]}
    assert fresh.get("/api/v2/me").status_code == 200
    sent = fresh.post(GWS_SEND, json=SEND_BODY, headers=token_only)
    assert sent.status_code == 200 and sent.json()["statusCode"] == 0
    fresh.cookies.clear()
    assert fresh.get("/api/v2/me").status_code == 401
    fresh.cookies.set("JSESSIONID", "madeup")
    assert fresh.get("/api/v2/me").json()["statusCode"] == 20


def test_another_login_in_the_same_browser_gets_its_own_session(fresh: TestClient) -> None:
    first = gws_login(fresh)
    second = gws_login(fresh, basic("agent2", "pw"))
    assert first["X-CSRF-TOKEN"] != second["X-CSRF-TOKEN"]
    response = fresh.post(GWS_SEND, json=SEND_BODY, headers=second)
    assert response.status_code == 200
    assert runtime_of(fresh.app).mail.accepted[-1].user == "agent2"  # type: ignore[arg-type]


def test_sessions_expire_when_idle() -> None:
    with create_app(mock_settings(gws_session_minutes=0.002)).test_client() as client:
        session = gws_login(client)
        time.sleep(0.25)
        response = client.post(GWS_SEND, json=SEND_BODY, headers=session)
        assert (response.status_code, response.json()) == (403, CSRF_REFUSAL)
        assert client.get("/api/v2/me").status_code == 401


def test_csrf_protection_can_be_turned_off() -> None:
    with create_app(mock_settings(gws_csrf=False)).test_client() as client:
        me = client.get("/api/v2/me", headers=AUTH)
        assert "X-CSRF-TOKEN" not in me.headers and me.headers["set-cookie"].startswith("JSESSIONID=")
        assert client.post(GWS_SEND, json=SEND_BODY, headers=AUTH).status_code == 200
        client.cookies.clear()
        assert client.post(NOTIFICATIONS, json=HANDSHAKE, headers=AUTH).json()[0]["successful"] is True


def test_start_and_end_the_contact_center_session(fresh: TestClient) -> None:
    session = gws_login(fresh)
    start = {"operationName": "StartContactCenterSession", "channels": ["voice", "email"]}
    response = fresh.post("/api/v2/me", json=start, headers=session)
    assert (response.status_code, response.json()) == (200, {"statusCode": 0})
    sessions = genesys_of(fresh.app).sessions  # type: ignore[arg-type]
    live = sessions.get(fresh.cookies["JSESSIONID"])
    assert live is not None and live.channels == ("voice", "email")
    end = fresh.post("/api/v2/me", json={"operationName": "EndContactCenterSession"}, headers=session)
    assert end.json() == {"statusCode": 0}
    ended = sessions.get(fresh.cookies["JSESSIONID"])
    assert ended is not None and ended.channels == ()
    bad = fresh.post("/api/v2/me", json={"operationName": "Dance"}, headers=session)
    assert bad.status_code == 400 and bad.json()["statusCode"] == 2 and "operationName" in bad.json()["statusMessage"]
    unprotected = fresh.post("/api/v2/me", json=start, headers=AUTH)
    assert unprotected.status_code == 403


def test_sessions_and_reference_ids_are_shared_by_workers_on_one_outbox(tmp_path: Path) -> None:
    """Two apps on one outbox file stand for two uvicorn workers: a session opened on one works on the other."""
    outbox = str(tmp_path / "outbox.sqlite3")
    with (
        create_app(mock_settings(outbox=outbox)).test_client() as one,
        create_app(mock_settings(outbox=outbox)).test_client() as two,
    ):
        session = gws_login(one)
        two.cookies.update(one.cookies)
        first = two.post(GWS_SEND, json=SEND_BODY, headers=session)
        second = one.post(GWS_SEND, json=SEND_BODY, headers=session)
        assert first.json()["referenceId"] + 1 == second.json()["referenceId"]


def test_cors_lets_a_browser_read_the_csrf_headers(fresh: TestClient) -> None:
    response = fresh.get("/api/v2/me", headers={**AUTH, "Origin": "http://localhost:5173"})
    exposed = response.headers["Access-Control-Expose-Headers"]
    assert "X-CSRF-HEADER" in exposed and "X-CSRF-TOKEN" in exposed
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
