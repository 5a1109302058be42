"""The CometD (Bayeux) endpoint: the protocol, its errors, its bounds, and the notifications after Send.

Messages here are written the way the real clients send them (see tests/genesys/test_cometd_clients.py for the
clients themselves). Tests that hold a connect open run a real server on a loopback port. With CSRF protection
on (the default) every CometD POST carries the session cookie and the CSRF token, as against a real GWS.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.app import genesys_of, runtime_of
from mockserver.genesys.bayeux import channel_matches
from mockserver.mail.outbox import Filters
from mockserver.settings import Settings
from mockserver.tools.testing import RunningMock, running_mock
from tests.conftest import AUTH, BASIC, GWS_SEND, basic, gws_login, mock_settings
from tests.support import connect_message, handshake_message, subscribe_message

NOTIFY = "/api/v2/notifications"
SEND_BODY: dict[str, Any] = {
    "operationName": "Send",
    "queueName": "Forwarde-mails",
    "email": {
        "body": "Feelslikegood.",
        "to": ["qwerty@gplus-w2k3-gf80", "bruce.one@witcher.xyz"],
        "from": "htcc@gplus-w2k3-gf80",
        "subject": "HelloEmail",
    },
}


CSRF_ERROR = "403::Missing or invalid Csrf token"
_SESSIONS: weakref.WeakKeyDictionary[TestClient, dict[str, str]] = weakref.WeakKeyDictionary()


def login(client: TestClient, authorization: str = BASIC) -> dict[str, str]:
    """A GWS login; the headers its CometD requests carry: credentials, the session cookie (sent explicitly,
    so that several users can share one test client) and the CSRF token."""
    headers = gws_login(client, authorization)
    return {**headers, "Cookie": f"JSESSIONID={client.cookies['JSESSIONID']}"}


def session_of(client: TestClient) -> dict[str, str]:
    """The default user's session on this client, logged in once."""
    if client not in _SESSIONS:
        _SESSIONS[client] = login(client)
    return _SESSIONS[client]


def bayeux(client: TestClient, *messages: Any, auth: dict[str, str] | None = None, suffix: str = "") -> Any:
    response = client.post(NOTIFY + suffix, json=list(messages), headers=auth or session_of(client))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


def subscribed_client(client: TestClient, auth: dict[str, str] | None = None) -> str:
    [reply] = bayeux(client, handshake_message(), auth=auth, suffix="/handshake")
    client_id = str(reply["clientId"])
    [connected] = bayeux(client, connect_message(client_id, first=True), auth=auth, suffix="/connect")
    assert connected["successful"] is True
    [sub] = bayeux(client, subscribe_message(client_id), auth=auth, suffix="/")
    assert sub["successful"] is True
    return client_id


@pytest.fixture
def app_client() -> Iterator[TestClient]:
    with create_app(mock_settings(seed=3)).test_client() as client:
        yield client


# -- the protocol, message by message -------------------------------------------------------------------


def test_handshake_reply_has_what_real_clients_need(app_client: TestClient) -> None:
    [reply] = bayeux(app_client, handshake_message("7"), suffix="/handshake")
    assert reply["channel"] == "/meta/handshake" and reply["id"] == "7" and reply["successful"] is True
    assert reply["supportedConnectionTypes"] == ["long-polling"]
    assert reply["advice"] == {"reconnect": "retry", "interval": 0, "timeout": 30000}
    assert len(reply["clientId"]) == 32 and reply["version"] == "1.0"


def test_a_single_message_object_is_answered_too(app_client: TestClient) -> None:
    response = app_client.post(NOTIFY, json=handshake_message(), headers=session_of(app_client))
    assert response.json()[0]["successful"] is True


def test_handshake_without_long_polling_is_refused(app_client: TestClient) -> None:
    message = {**handshake_message(), "supportedConnectionTypes": ["websocket"]}
    [reply] = bayeux(app_client, message)
    assert reply["successful"] is False and reply["error"].startswith("301::websocket::")
    assert reply["supportedConnectionTypes"] == ["long-polling"]


def test_first_connect_is_answered_at_once_and_subscriptions_are_echoed(app_client: TestClient) -> None:
    [hs] = bayeux(app_client, handshake_message())
    client_id = hs["clientId"]
    started = time.monotonic()
    [connected] = bayeux(app_client, connect_message(client_id), suffix="/connect")  # no advice: still the first
    assert time.monotonic() - started < 5  # not held for the 30 s long-poll timeout
    assert connected == {
        "channel": "/meta/connect",
        "id": "3",
        "successful": True,
        "clientId": client_id,
        "advice": {"reconnect": "retry", "interval": 0, "timeout": 30000},
    }
    [sub] = bayeux(app_client, subscribe_message(client_id, ["/v2/me/emails", "/v2/me/*"]))
    assert sub["subscription"] == ["/v2/me/emails", "/v2/me/*"] and sub["successful"] is True
    [unsub] = bayeux(app_client, {**subscribe_message(client_id, "/v2/me/*"), "channel": "/meta/unsubscribe"})
    assert unsub["successful"] is True and unsub["subscription"] == "/v2/me/*"


@pytest.mark.parametrize("meta", ["/meta/connect", "/meta/subscribe", "/meta/unsubscribe", "/meta/disconnect"])
def test_unknown_client_is_sent_back_to_handshake(app_client: TestClient, meta: str) -> None:
    [reply] = bayeux(app_client, {"id": "9", "channel": meta, "clientId": "nobody", "subscription": "/v2/me/emails"})
    assert reply == {
        "channel": meta,
        "id": "9",
        "successful": False,
        "error": "402::Unknown client",
        "advice": {"reconnect": "handshake", "interval": 0},
    }


def test_another_users_client_id_is_unknown(app_client: TestClient) -> None:
    [hs] = bayeux(app_client, handshake_message())
    other = login(app_client, basic("someone-else", "pw"))
    [reply] = bayeux(app_client, subscribe_message(hs["clientId"]), auth=other)
    assert reply["error"] == "402::Unknown client"


def test_a_malformed_message_gets_its_own_error_and_the_rest_is_served(app_client: TestClient) -> None:
    replies = bayeux(
        app_client,
        {"id": "1"},  # no channel
        {"id": "2", "channel": "/meta/dance"},
        handshake_message("3"),
    )
    assert replies[0] == {"id": "1", "successful": False, "error": "400::Malformed message: channel missing"}
    assert replies[1]["error"] == "400::/meta/dance::Unknown meta channel"
    assert replies[2]["id"] == "3" and replies[2]["successful"] is True


@pytest.mark.parametrize("subscription", ["v2/me/emails", "/meta/handshake", "/v2/**/x", "", ["/ok", 5]], ids=repr)
def test_invalid_subscriptions_are_refused(app_client: TestClient, subscription: Any) -> None:
    [hs] = bayeux(app_client, handshake_message())
    response = app_client.post(
        NOTIFY, json=[subscribe_message(hs["clientId"], subscription)], headers=session_of(app_client)
    )
    if isinstance(subscription, list):
        assert response.status_code == 400  # a wrongly typed field is a contract violation: the whole request
        assert response.json()[0]["successful"] is False
        return
    [reply] = response.json()
    assert reply["successful"] is False and reply["error"].endswith("::Invalid subscription")
    assert reply["subscription"] == subscription


def test_clients_may_not_publish(app_client: TestClient) -> None:
    [hs] = bayeux(app_client, handshake_message())
    [reply] = bayeux(app_client, {"id": "5", "channel": "/v2/me/emails", "data": {"x": 1}, "clientId": hs["clientId"]})
    assert reply["successful"] is False and reply["error"] == "403::Publish denied"


def test_only_one_connect_per_request(app_client: TestClient) -> None:
    [hs] = bayeux(app_client, handshake_message())
    replies = bayeux(app_client, connect_message(hs["clientId"], "a"), connect_message(hs["clientId"], "b"))
    assert replies[0]["id"] == "b" and replies[0]["error"] == "400::Only one /meta/connect per request"
    assert replies[1]["id"] == "a" and replies[1]["successful"] is True


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"42", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'[{"channel": 5}]', "application/json", 400),
        (b"[]", "text/plain", 415),
    ],
)
def test_bodies_that_are_not_messages_get_a_bayeux_failure_never_a_500(
    app_client: TestClient, content: bytes, content_type: str, status: int
) -> None:
    headers = {**session_of(app_client), "Content-Type": content_type}
    response = app_client.post(NOTIFY, content=content, headers=headers)
    assert response.status_code == status
    [failure] = response.json()
    assert failure["successful"] is False and failure["error"].startswith(f"{status}::")


@pytest.mark.parametrize("suffix", ["", "/", "/handshake"])
def test_with_csrf_on_a_handshake_needs_the_sessions_cookie_and_token(app_client: TestClient, suffix: str) -> None:
    """All POSTs, CometD's included, as the vendor's CSRFProtection page says: Basic credentials alone get the
    403 a real GWS answers, before authentication, as failed replies a CometD client can read."""
    session = login(app_client)
    token = {"X-CSRF-TOKEN": session["X-CSRF-TOKEN"]}
    cookie = {"Cookie": session["Cookie"]}
    app_client.cookies.clear()  # only what each request sends explicitly counts
    refused = {
        "nothing": {},
        "basic only": AUTH,
        "cookie without token": {**AUTH, **cookie},
        "token without cookie": {**AUTH, **token},
        "wrong token": {**AUTH, **cookie, "X-CSRF-TOKEN": str(uuid.uuid4())},
        "unknown session": {**AUTH, **token, "Cookie": "JSESSIONID=madeup"},
    }
    for what, headers in refused.items():
        response = app_client.post(NOTIFY + suffix, json=[handshake_message()], headers=headers)
        assert response.status_code == 403, what
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.json() == [
            {
                "channel": "/meta/handshake",
                "id": "1",
                "successful": False,
                "error": CSRF_ERROR,
                "advice": {"reconnect": "none"},  # retrying without the token would fail the same way
            }
        ], what
    [reply] = bayeux(app_client, handshake_message(), auth={**AUTH, **cookie, **token}, suffix=suffix)
    assert reply["successful"] is True
    # The session cookie and its token alone will do, as in a browser.
    [reply] = bayeux(app_client, handshake_message(), auth={**cookie, **token}, suffix=suffix)
    assert reply["successful"] is True


def test_with_csrf_on_a_connect_needs_the_sessions_cookie_and_token(app_client: TestClient) -> None:
    session = login(app_client)
    [hs] = bayeux(app_client, handshake_message(), auth=session)
    connect = [connect_message(hs["clientId"], first=True)]
    without_token = {key: value for key, value in session.items() if key != "X-CSRF-TOKEN"}
    app_client.cookies.clear()
    for headers in (AUTH, without_token, {**session, "Cookie": "JSESSIONID=madeup"}):
        response = app_client.post(NOTIFY + "/connect", json=connect, headers=headers)
        assert response.status_code == 403
        [refused] = response.json()
        assert refused["channel"] == "/meta/connect" and refused["id"] == "3" and refused["error"] == CSRF_ERROR
    [connected] = bayeux(app_client, *connect, auth=session, suffix="/connect")
    assert connected["successful"] is True and connected["clientId"] == hs["clientId"]


@pytest.mark.parametrize(
    ("content", "replies"),
    [
        (
            b'[{"channel": "/meta/subscribe", "id": 7}, 5, {"channel": 3}]',
            [{"channel": "/meta/subscribe", "id": 7}, {}, {}],
        ),
        (b'{"channel": "/meta/handshake"}', [{"channel": "/meta/handshake"}]),
        (b"[]", [{}]),
        (b"{not json", [{}]),
        (b"42", [{}]),
        (b"[" + b" " * 300_000 + b"]", [{}]),  # too big to be read for the replies
    ],
    ids=["batch", "single", "empty", "not-json", "number", "huge"],
)
def test_a_csrf_refusal_is_bayeux_whatever_the_body(
    app_client: TestClient, content: bytes, replies: list[dict[str, Any]]
) -> None:
    response = app_client.post(NOTIFY, content=content, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 403 and response.headers["content-type"] == "application/json; charset=utf-8"
    for reply in response.json():
        assert reply["successful"] is False and reply["error"] == CSRF_ERROR
    echoed = [{k: v for k, v in reply.items() if k in ("channel", "id")} for reply in response.json()]
    assert echoed == replies


def test_with_csrf_off_basic_credentials_or_the_session_cookie_will_do() -> None:
    with create_app(mock_settings(gws_csrf=False)).test_client() as client:
        response = client.post(NOTIFY, json=[handshake_message()])
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Basic realm="GWS"'
        assert response.json()[0]["successful"] is False and response.json()[0]["error"].startswith("401::")
        [hs] = bayeux(client, handshake_message(), auth=AUTH, suffix="/handshake")
        assert hs["successful"] is True
        [connected] = bayeux(client, connect_message(hs["clientId"], first=True), auth=AUTH, suffix="/connect")
        assert connected["successful"] is True
        client.get("/api/v2/me", headers=AUTH)  # opens a session; its cookie alone authenticates
        [again] = bayeux(client, handshake_message(), auth={"Accept": "application/json"})
        assert again["successful"] is True


def test_an_empty_batch_gets_an_empty_answer(app_client: TestClient) -> None:
    assert bayeux(app_client) == []


@pytest.mark.parametrize(
    ("pattern", "channel", "matches"),
    [
        ("/v2/me/emails", "/v2/me/emails", True),
        ("/v2/me/*", "/v2/me/emails", True),
        ("/v2/me/*", "/v2/me/emails/x", False),
        ("/v2/**", "/v2/me/emails", True),
        ("/v2/**", "/v2", False),
        ("/v2/me/calls", "/v2/me/emails", False),
    ],
)
def test_wildcard_subscriptions(pattern: str, channel: str, matches: bool) -> None:
    assert channel_matches(pattern, channel) is matches


# -- notifications after Send --------------------------------------------------------------------------


def test_send_is_followed_by_its_status_change_notification(app_client: TestClient) -> None:
    session = gws_login(app_client)
    client_id = subscribed_client(app_client)
    sent = app_client.post(GWS_SEND, json=SEND_BODY, headers=session).json()
    events = wait_for_events(app_client, client_id)
    assert events[0]["channel"] == "/v2/me/emails"
    data = events[0]["data"]
    assert list(data) == ["referenceId", "notificationType", "messageType", "email"]  # the seed page's order
    assert data["referenceId"] == sent["referenceId"]
    assert data["notificationType"] == "StatusChange" and data["messageType"] == "EmailStateChangeMessage"
    email = data["email"]
    assert email["state"] == "Sent" and email["capabilities"] == [] and email["id"] == "0071023821aec011"
    assert email["uri"] == "http://testserver/api/v2/email/0071023821aec011"
    assert email["to"] == SEND_BODY["email"]["to"] and email["from"] == SEND_BODY["email"]["from"]
    assert email["subject"] == "HelloEmail" and email["body"] == "Feelslikegood." and email["mime"] == "text/html"
    assert email["userData"]["FromAddress"] == "qwerty@gplus-w2k3-gf80"
    assert len(email["userData"]["ContactId"]) == 16


def test_the_error_path_can_be_rehearsed(app_client: TestClient) -> None:
    session = gws_login(app_client)
    client_id = subscribed_client(app_client)
    sent = app_client.post(GWS_SEND, json=SEND_BODY, headers={**session, "Prefer": "notification=error"})
    assert sent.status_code == 200 and sent.headers["Preference-Applied"] == "notification=error"
    [event] = wait_for_events(app_client, client_id)
    data = event["data"]
    assert data["notificationType"] == "Error" and data["referenceId"] == sent.json()["referenceId"]
    assert "refused" in data["errorMessage"]
    assert data["email"]["state"] == "Composing" and "Send" in data["email"]["capabilities"]
    row = runtime_of(app_client.app).mail.outbox.find(Filters())[0].values  # type: ignore[arg-type]
    assert row["status"] == "failed" and row["error"] == data["errorMessage"]  # the journal says the same


def test_a_failed_delivery_is_reported_as_an_error_notification() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once the socket is closed
    settings = mock_settings(delivery="smtp", smtp_relay=f"smtp://127.0.0.1:{port}", smtp_timeout=2)
    with create_app(settings).test_client() as client:
        session = gws_login(client)
        client_id = subscribed_client(client)
        client.post(GWS_SEND, json=SEND_BODY, headers=session)
        [event] = wait_for_events(client, client_id)
    assert event["data"]["notificationType"] == "Error"
    assert str(port) in event["data"]["errorMessage"]


def test_each_user_hears_only_about_their_own_sends(app_client: TestClient) -> None:
    mine = subscribed_client(app_client)
    other_auth = login(app_client, basic("agent2", "pw"))
    theirs = subscribed_client(app_client, other_auth)
    app_client.post(GWS_SEND, json=SEND_BODY, headers=other_auth)
    [event] = wait_for_events(app_client, theirs, other_auth)
    assert event["data"]["notificationType"] == "StatusChange"
    [nothing] = bayeux(app_client, connect_message(mine, first=True))
    assert set(nothing) >= {"successful", "advice"}  # the connect reply only: no event for this user


def test_every_client_of_a_user_hears_about_each_send_once(app_client: TestClient) -> None:
    """An agent with two tabs open: both CometD clients get the notification, each once; nobody else does."""
    auth = login(app_client, basic("agent3", "pw"))
    tab1, tab2 = subscribed_client(app_client, auth), subscribed_client(app_client, auth)
    bystander_auth = login(app_client, basic("agent4", "pw"))
    bystander = subscribed_client(app_client, bystander_auth)
    sent = app_client.post(GWS_SEND, json=SEND_BODY, headers=auth).json()
    for tab in (tab1, tab2):
        [event] = wait_for_events(app_client, tab, auth)
        assert event["data"]["referenceId"] == sent["referenceId"]
        [connect_only] = bayeux(app_client, connect_message(tab, first=True), auth=auth)
        assert "data" not in connect_only  # delivered once, not again on the next connect
    [nothing] = bayeux(app_client, connect_message(bystander, first=True), auth=bystander_auth)
    assert "data" not in nothing


def wait_for_events(client: TestClient, client_id: str, auth: dict[str, str] | None = None) -> list[Any]:
    """Poll with immediate connects (the test client cannot hold one open) until events arrive."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        replies = bayeux(client, connect_message(client_id, first=True), auth=auth, suffix="/connect")
        events = [r for r in replies if "data" in r]
        if events:
            assert replies[-1]["channel"] == "/meta/connect" and replies[-1]["successful"] is True
            return events
        time.sleep(0.02)
    raise AssertionError("no notification within 10 s")


# -- long polling on a real server --------------------------------------------------------------------


def serve(**overrides: Any) -> Any:
    values: dict[str, Any] = {"bayeux_timeout": 2000}
    values.update(overrides)
    return running_mock(mock_settings(**values))


async def post(http: httpx.AsyncClient, session: dict[str, str], *messages: Any, suffix: str = "") -> Any:
    response = await http.post(NOTIFY + suffix, json=list(messages), headers=session)
    assert response.status_code == 200, response.text
    return response.json()


async def open_client(http: httpx.AsyncClient, session: dict[str, str]) -> str:
    [hs] = await post(http, session, handshake_message())
    client_id = str(hs["clientId"])
    await post(http, session, connect_message(client_id, first=True))
    [sub] = await post(http, session, subscribe_message(client_id))
    assert sub["successful"] is True
    return client_id


async def login_to(http: httpx.AsyncClient) -> dict[str, str]:
    """Credentials, session cookie (explicit, so another HTTP client can use it too) and CSRF token."""
    response = await http.get("/api/v2/me", headers=AUTH)
    cookie = f"JSESSIONID={response.cookies['JSESSIONID']}"
    return {**AUTH, "Cookie": cookie, "X-CSRF-TOKEN": response.headers["X-CSRF-TOKEN"]}


def test_a_held_connect_returns_as_soon_as_the_notification_is_published() -> None:
    async def scenario(mock: RunningMock) -> tuple[list[Any], float, int]:
        async with httpx.AsyncClient(base_url=mock.base_url, timeout=30) as http:
            session = await login_to(http)
            client_id = await open_client(http, session)
            held = asyncio.create_task(post(http, session, connect_message(client_id, "10")))
            await asyncio.sleep(0.3)
            assert not held.done()  # really held: nothing is queued yet
            started = time.monotonic()
            sent = await http.post(GWS_SEND, json=SEND_BODY, headers=session)
            replies = await held
            return replies, time.monotonic() - started, sent.json()["referenceId"]

    with serve(bayeux_timeout=20_000) as mock:
        replies, waited, reference_id = asyncio.run(scenario(mock))
    assert waited < 10  # woken by the publish, not by the 20 s timeout
    assert replies[0]["data"]["referenceId"] == reference_id
    assert replies[-1]["id"] == "10" and replies[-1]["successful"] is True


def test_a_held_connect_without_events_returns_after_the_advised_timeout() -> None:
    async def scenario(mock: RunningMock) -> tuple[list[Any], float]:
        async with httpx.AsyncClient(base_url=mock.base_url, timeout=30) as http:
            session = await login_to(http)
            client_id = await open_client(http, session)
            started = time.monotonic()
            replies = await post(http, session, connect_message(client_id))
            return replies, time.monotonic() - started

    with serve(bayeux_timeout=500) as mock:
        [reply], waited = asyncio.run(scenario(mock))
    assert reply["successful"] is True and reply["advice"]["timeout"] == 500
    assert waited >= 0.45


def test_disconnect_releases_a_held_connect() -> None:
    async def scenario(mock: RunningMock) -> tuple[list[Any], list[Any]]:
        async with httpx.AsyncClient(base_url=mock.base_url, timeout=30) as http:
            session = await login_to(http)
            client_id = await open_client(http, session)
            held = asyncio.create_task(post(http, session, connect_message(client_id, "11")))
            await asyncio.sleep(0.3)
            gone = await post(http, session, {"id": "12", "channel": "/meta/disconnect", "clientId": client_id})
            return await held, gone

    with serve(bayeux_timeout=20_000) as mock:
        held, gone = asyncio.run(scenario(mock))
    assert gone[0]["successful"] is True
    assert held[0]["advice"] == {"reconnect": "none"}


def test_a_client_that_hangs_up_during_a_held_connect_keeps_its_events() -> None:
    """Events published after the client went away stay queued for its next connect."""

    async def scenario(mock: RunningMock) -> list[Any]:
        async with httpx.AsyncClient(base_url=mock.base_url, timeout=30) as http:
            session = await login_to(http)
            client_id = await open_client(http, session)
            async with httpx.AsyncClient(base_url=mock.base_url, timeout=30) as doomed:
                held = asyncio.create_task(post(doomed, session, connect_message(client_id, "13")))
                await asyncio.sleep(0.3)
                held.cancel()  # the HTTP connection is closed under the held request
            await asyncio.sleep(0.3)
            mock.genesys.bayeux.publish("tje0", "/v2/me/emails", {"referenceId": 99})
            await asyncio.sleep(0.5)  # time enough for a held connect that missed the hang-up to take the event
            return await post(http, session, connect_message(client_id, "14"))

    with serve(bayeux_timeout=20_000) as mock:
        replies = asyncio.run(scenario(mock))
    assert replies[0] == {"channel": "/v2/me/emails", "data": {"referenceId": 99}}


def test_queues_are_bounded_oldest_dropped_first() -> None:
    with create_app(mock_settings(bayeux_max_queue=3)).test_client() as client:
        client_id = subscribed_client(client)
        bus = genesys_of(client.app).bayeux  # type: ignore[arg-type]
        for n in range(5):
            assert bus.publish("tje0", "/v2/me/emails", {"n": n}) == 1
        assert bus.stats()["bayeux_queue"] == 3
        events = wait_for_events(client, client_id)
    assert [e["data"]["n"] for e in events] == [2, 3, 4]


def test_an_event_nobody_listens_to_is_not_even_made() -> None:
    made: list[str] = []

    def event(name: str) -> Any:
        return lambda: made.append(name) or {"n": name}

    with create_app(mock_settings()).test_client() as client:
        bus = genesys_of(client.app).bayeux  # type: ignore[arg-type]
        assert bus.publish("tje0", "/v2/me/emails", event("before")) == 0
        client_id = subscribed_client(client)
        assert bus.publish("agent2", "/v2/me/emails", event("another user")) == 0
        assert bus.publish("tje0", "/v2/me/other", event("another channel")) == 0
        assert bus.publish("tje0", "/v2/me/emails", event("heard")) == 1
        events = wait_for_events(client, client_id)
    assert made == ["heard"]
    assert [e["data"] for e in events] == [{"n": "heard"}]


def test_publishing_several_events_reaches_the_same_clients_as_publishing_each() -> None:
    """`publish_all` (one look for subscribers for a batch of events): each event reaches whom `publish` would
    reach, in the order given, and an event nobody listens to is not made."""
    made: list[str] = []

    def event(name: str) -> Any:
        return lambda: made.append(name) or {"n": name}

    with create_app(mock_settings()).test_client() as client:
        bus = genesys_of(client.app).bayeux  # type: ignore[arg-type]
        assert bus.publish_all([]) == []
        assert bus.publish_all([("tje0", "/v2/me/emails", event("before"))]) == [0]
        client_id = subscribed_client(client)
        batch = [
            ("tje0", "/v2/me/emails", event("first")),
            ("agent2", "/v2/me/emails", event("another user")),
            ("tje0", "/v2/me/other", event("another channel")),
            ("tje0", "/v2/me/emails", {"n": "second"}),
        ]
        assert bus.publish_all(batch) == [1, 0, 0, 1]
        events = wait_for_events(client, client_id)
    assert made == ["first"]
    assert [e["data"] for e in events] == [{"n": "first"}, {"n": "second"}]


def test_a_client_that_stops_polling_is_dropped_with_its_queue() -> None:
    with create_app(mock_settings(bayeux_max_interval=200)).test_client() as client:
        client_id = subscribed_client(client)
        bus = genesys_of(client.app).bayeux  # type: ignore[arg-type]
        bus.publish("tje0", "/v2/me/emails", {"n": 1})
        assert bus.stats() == {"bayeux_clients": 1, "bayeux_subscriptions": 1, "bayeux_queue": 1}
        deadline = time.monotonic() + 5
        while bus.stats()["bayeux_clients"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the app's own sweeper runs while the test client's lifespan is on
        assert bus.stats() == {"bayeux_clients": 0, "bayeux_subscriptions": 0, "bayeux_queue": 0}
        [reply] = bayeux(client, connect_message(client_id))
    assert reply["error"] == "402::Unknown client"


def test_notification_delay_is_honoured() -> None:
    async def scenario(mock: RunningMock) -> float:
        async with httpx.AsyncClient(base_url=mock.base_url, timeout=30) as http:
            session = await login_to(http)
            client_id = await open_client(http, session)
            held = asyncio.create_task(post(http, session, connect_message(client_id, "20")))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await http.post(GWS_SEND, json=SEND_BODY, headers={**session, "Prefer": "notification-delay=600"})
            replies = await held
            assert replies[0]["data"]["notificationType"] == "StatusChange"
            return time.monotonic() - started

    with serve(bayeux_timeout=20_000) as mock:
        assert asyncio.run(scenario(mock)) >= 0.55


def test_two_workers_on_one_outbox_deliver_across_processes(tmp_path: Path) -> None:
    """A connect held by one worker gets the notification of a Send served by another."""
    outbox = str(tmp_path / "outbox.sqlite3")

    async def scenario(one: RunningMock, two: RunningMock) -> tuple[list[Any], int]:
        async with (
            httpx.AsyncClient(base_url=one.base_url, timeout=30) as a,
            httpx.AsyncClient(base_url=two.base_url, timeout=30) as b,
        ):
            session = await login_to(a)  # its explicit cookie works on the other worker too
            client_id = await open_client(a, session)
            held = asyncio.create_task(post(a, session, connect_message(client_id, "30")))
            await asyncio.sleep(0.2)
            sent = await b.post(GWS_SEND, json=SEND_BODY, headers=session)
            return await held, sent.json()["referenceId"]

    with serve(outbox=outbox, bayeux_timeout=20_000) as one, serve(outbox=outbox, bayeux_timeout=20_000) as two:
        replies, reference_id = asyncio.run(scenario(one, two))
    assert replies[0]["data"]["referenceId"] == reference_id


def test_a_websocket_upgrade_attempt_is_refused_cleanly() -> None:
    """The JavaScript client tries WebSocket first unless told otherwise; any non-101 answer makes it fall back."""
    with serve() as mock:
        response = httpx.get(
            mock.base_url + NOTIFY,
            headers={
                **AUTH,
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
    assert response.status_code != 101 and response.status_code < 500


def test_settings_bound_the_bayeux_knobs() -> None:
    for bad in ({"bayeux_timeout": 10}, {"bayeux_max_queue": 0}, {"bayeux_max_interval": 10**7}):
        with pytest.raises(ValueError, match="bayeux"):
            Settings(**bad)  # type: ignore[arg-type]
