"""GWS `/api/v2/notifications`: one CometD endpoint under every URL a CometD client posts to."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.app import genesys_of
from mockserver.tools.testing import running_mock
from tests.conftest import AUTH, USER, basic, gws_login, mock_settings
from tests.support import connect_message, handshake_message, subscribe_message

NOTIFY = "/api/v2/notifications"
MESSAGE_TYPES = ("handshake", "connect", "disconnect", "subscribe", "unsubscribe")
JSON = "application/json; charset=utf-8"


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(mock_settings(seed=13))


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with app.test_client() as own:
        yield own


def login(client: TestClient, authorization: str = AUTH["Authorization"]) -> dict[str, str]:
    headers = gws_login(client, authorization)
    return {**headers, "Cookie": f"JSESSIONID={client.cookies['JSESSIONID']}"}


def post(client: TestClient, session: dict[str, str], body: Any, suffix: str = "") -> list[dict[str, Any]]:
    response = client.post(NOTIFY + suffix, json=body, headers=session)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    replies: list[dict[str, Any]] = response.json()
    return replies


@pytest.mark.parametrize("suffix", ["", "/", *(f"/{name}" for name in MESSAGE_TYPES)])
def test_every_url_a_cometd_client_uses_is_the_same_endpoint(client: TestClient, suffix: str) -> None:
    session = login(client)
    [reply] = post(client, session, [handshake_message("7")], suffix)
    assert reply["channel"] == "/meta/handshake" and reply["id"] == "7" and reply["successful"] is True
    client_id = reply["clientId"]
    [connected] = post(client, session, [connect_message(client_id)], suffix)
    assert connected["successful"] is True and connected["clientId"] == client_id


def test_the_messages_decide_not_the_url(client: TestClient) -> None:
    session = login(client)
    [reply] = post(client, session, [handshake_message()], "/disconnect")
    assert reply["channel"] == "/meta/handshake" and reply["successful"] is True
    client_id = reply["clientId"]
    [sub] = post(client, session, [subscribe_message(client_id)], "/handshake")
    assert sub["channel"] == "/meta/subscribe" and sub["subscription"] == "/v2/me/emails"
    [connected] = post(client, session, [connect_message(client_id)], "/subscribe")
    assert connected["channel"] == "/meta/connect" and connected["successful"] is True


@pytest.mark.parametrize("suffix", ["", "/", "/handshake"])
def test_a_single_message_object_is_answered_as_a_batch(client: TestClient, suffix: str) -> None:
    replies = post(client, login(client), handshake_message("9"), suffix)
    assert len(replies) == 1 and replies[0]["id"] == "9" and replies[0]["successful"] is True


def test_a_batch_is_answered_message_by_message(client: TestClient) -> None:
    session = login(client)
    [first] = post(client, session, [handshake_message()])
    replies = post(
        client,
        session,
        [subscribe_message(first["clientId"], message_id="a"), {"id": "b"}, handshake_message("c")],
        "/",
    )
    assert [r.get("id") for r in replies] == ["a", "b", "c"]
    assert [r["successful"] for r in replies] == [True, False, True]


@pytest.mark.parametrize("message_type", ["bogus", "meta", "Handshake", "publish"])
def test_an_unknown_message_type_in_the_url_is_a_bayeux_400(client: TestClient, message_type: str) -> None:
    response = client.post(f"{NOTIFY}/{message_type}", json=[handshake_message()], headers=login(client))
    assert response.status_code == 400 and response.headers["content-type"] == JSON
    [failure] = response.json()
    assert failure["successful"] is False and failure["error"].startswith("400::")
    assert "messageType" in failure["error"]


def test_a_message_type_of_more_than_one_segment_matches_no_route(client: TestClient) -> None:
    response = client.post(f"{NOTIFY}/meta/connect", json=[handshake_message()], headers=login(client))
    assert response.status_code == 404
    assert response.json() == [{"successful": False, "error": "404::Resource not found"}]


@pytest.mark.parametrize("suffix", ["", "/", "/connect"])
def test_a_body_that_is_not_json_is_refused_as_a_bayeux_failure(client: TestClient, suffix: str) -> None:
    session = login(client)
    wrong_type = client.post(NOTIFY + suffix, content=b"[]", headers={**session, "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415 and wrong_type.json()[0]["successful"] is False
    broken = client.post(NOTIFY + suffix, content=b"[{", headers={**session, "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()[0]["error"].startswith("400::")


def test_each_request_speaks_for_its_own_user(client: TestClient) -> None:
    mine, theirs = login(client), login(client, basic("agent2", "pw"))
    [hs] = post(client, mine, [handshake_message()])
    [other_hs] = post(client, theirs, [handshake_message()], "/handshake")
    for session, client_id in ((mine, hs["clientId"]), (theirs, other_hs["clientId"])):
        post(client, session, [connect_message(client_id)], "/connect")
        post(client, session, [subscribe_message(client_id)], "/")
    [stolen] = post(client, theirs, [connect_message(hs["clientId"])], "/connect")
    assert stolen["successful"] is False and stolen["error"] == "402::Unknown client"
    assert genesys_of(client.app).bayeux.publish("agent2", "/v2/me/emails", {"n": 1}) == 1
    [event, reply] = post(client, theirs, [connect_message(other_hs["clientId"], first=True)], "/connect")
    assert event == {"channel": "/v2/me/emails", "data": {"n": 1}} and reply["successful"] is True
    [only_reply] = post(client, mine, [connect_message(hs["clientId"], first=True)], "/connect")
    assert "data" not in only_reply and only_reply["channel"] == "/meta/connect"


def test_a_client_that_hangs_up_on_a_held_connect_finds_its_events_on_the_next_one() -> None:
    async def scenario(base_url: str, publish: Any) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            me = await http.get("/api/v2/me", headers=AUTH)
            session = {**AUTH, "X-CSRF-TOKEN": me.headers["X-CSRF-TOKEN"]}
            session["Cookie"] = f"JSESSIONID={me.cookies['JSESSIONID']}"
            [hs] = (await http.post(NOTIFY + "/handshake", json=[handshake_message()], headers=session)).json()
            client_id = hs["clientId"]
            await http.post(NOTIFY + "/connect", json=[connect_message(client_id)], headers=session)
            await http.post(NOTIFY + "/", json=[subscribe_message(client_id)], headers=session)
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as doomed:
                held = asyncio.create_task(
                    doomed.post(NOTIFY + "/connect", json=[connect_message(client_id)], headers=session)
                )
                await asyncio.sleep(0.3)
                assert not held.done()  # really held
                held.cancel()  # the connection closes under the held request
            await asyncio.sleep(0.2)
            assert publish(USER, "/v2/me/emails", {"referenceId": 5}) == 1
            await asyncio.sleep(0.3)  # a held connect that missed the hang-up would take the event now
            response = await http.post(NOTIFY + "/connect", json=[connect_message(client_id, "9")], headers=session)
            replies: list[dict[str, Any]] = response.json()
            return replies

    with running_mock(mock_settings(seed=13, bayeux_timeout=3000)) as mock:
        replies = asyncio.run(scenario(mock.base_url, mock.genesys.bayeux.publish))
    assert replies[0] == {"channel": "/v2/me/emails", "data": {"referenceId": 5}}
    assert replies[-1]["id"] == "9" and replies[-1]["successful"] is True
