"""Real CometD clients through a GWS client's whole start-up: login (JSESSIONID + CSRF token),
StartContactCenterSession, handshake, subscribe, Send over HTTP, and the notification with the Send's
referenceId. The official JavaScript client runs on Node (tests/js, installed from the npm registry by the
test setup); the Python client is aiocometd-ng. CSRF protection is on, as on a real GWS: the CometD requests
carry the session cookie and the CSRF token, and a client that forgets the token is refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiocometd_ng import Client, ConnectionType, Extension
from aiocometd_ng.exceptions import ServerError

from mockserver.tools.testing import RunningMock, running_mock
from tests.conftest import AUTH, GWS_SEND, mock_settings
from tests.support import JS_DIR, js_packages

SEND_BODY: dict[str, Any] = {
    "operationName": "Send",
    "queueName": "Forwarde-mails",
    "email": {"body": "Feelslikegood.", "to": ["qwerty@gplus-w2k3-gf80"], "from": "htcc@gplus-w2k3-gf80"},
}


@pytest.fixture(scope="module")
def node_client() -> Path:
    """The Node script, with the JavaScript client's packages installed."""
    js_packages()
    return JS_DIR / "gws-session.mjs"


@pytest.fixture(scope="module")
def mock() -> Iterator[RunningMock]:
    # A short long-poll timeout keeps the clients' connect cycle visible in the few seconds a test runs.
    with running_mock(mock_settings(bayeux_timeout=3000)) as running:
        yield running


def run_node(script: Path, base_url: str, mode: str, returncode: int = 0) -> dict[str, Any]:
    completed = subprocess.run(
        ["node", str(script), base_url, "tje0", "Tje0", mode, "20000"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    assert completed.returncode == returncode, completed.stdout + completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_the_javascript_client_receives_the_status_change(node_client: Path, mock: RunningMock) -> None:
    result = run_node(node_client, mock.base_url, "success")
    steps = {step["step"]: step for step in result["steps"]}
    assert steps["login"] == {"step": "login", "status": 200, "cookie": "JSESSIONID", "csrfHeader": "X-CSRF-TOKEN"}
    assert steps["StartContactCenterSession"]["body"] == {"statusCode": 0}
    assert steps["handshake"]["successful"] is True and steps["subscribe"]["successful"] is True
    sent = steps["send"]
    assert sent["status"] == 200 and sent["body"]["statusCode"] == 0
    data = result["notification"]["data"]
    assert result["notification"]["channel"] == "/v2/me/emails"
    assert data["referenceId"] == sent["body"]["referenceId"]
    assert data["notificationType"] == "StatusChange" and data["email"]["state"] == "Sent"
    assert data["email"]["subject"] == "HelloEmail"


def test_the_javascript_client_receives_the_error(node_client: Path, mock: RunningMock) -> None:
    result = run_node(node_client, mock.base_url, "error")
    sent = next(step for step in result["steps"] if step["step"] == "send")
    data = result["notification"]["data"]
    assert data["referenceId"] == sent["body"]["referenceId"]
    assert data["notificationType"] == "Error" and data["errorMessage"]
    assert data["email"]["state"] == "Composing"


def test_the_javascript_client_without_the_csrf_token_is_refused(node_client: Path, mock: RunningMock) -> None:
    result = run_node(node_client, mock.base_url, "no-csrf", returncode=3)
    handshake = next(step for step in result["steps"] if step["step"] == "handshake")
    assert handshake["successful"] is False and handshake["httpCode"] == 403


class SessionCookie(Extension):
    """Sends the GWS session cookie with every CometD request, as a browser would, and the CSRF token that
    every POST of the session must carry (None: a client that forgets it)."""

    def __init__(self, cookie: str, csrf_token: str | None) -> None:
        self.cookie = cookie
        self.csrf_token = csrf_token

    async def outgoing(self, payload: Any, headers: Any) -> None:
        headers["Cookie"] = self.cookie
        if self.csrf_token is not None:
            headers["X-CSRF-TOKEN"] = self.csrf_token

    async def incoming(self, payload: Any, headers: Any = None) -> None:
        return None


def notification_client(base_url: str, cookie: str, csrf_token: str | None) -> Client:
    """aiocometd-ng on the mock's notification endpoint, carrying a GWS session's cookie and CSRF token."""
    return Client(
        base_url + "/api/v2/notifications",
        connection_types=[ConnectionType.LONG_POLLING],
        extensions=[SessionCookie(cookie, csrf_token)],
    )


async def python_session(base_url: str, prefer: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        login = await http.get("/api/v2/me", headers=AUTH)
        cookie = login.headers["set-cookie"].split(";")[0]
        session = {"Cookie": cookie, "X-CSRF-TOKEN": login.headers["X-CSRF-TOKEN"]}
        start = {"operationName": "StartContactCenterSession", "channels": ["email"]}
        assert (await http.post("/api/v2/me", json=start, headers=session)).status_code == 200
        client = notification_client(base_url, cookie, session["X-CSRF-TOKEN"])
        async with client:
            await client.subscribe("/v2/me/emails")
            headers = {**session, **({"Prefer": prefer} if prefer else {})}
            sent = (await http.post(GWS_SEND, json=SEND_BODY, headers=headers)).json()
            async for message in client:
                if message["data"].get("referenceId") == sent["referenceId"]:
                    return sent, message
    raise AssertionError("the client closed before the notification arrived")


@pytest.mark.parametrize(("prefer", "kind"), [(None, "StatusChange"), ("notification=error", "Error")])
def test_the_python_client_receives_the_notification(mock: RunningMock, prefer: str | None, kind: str) -> None:
    sent, message = asyncio.run(asyncio.wait_for(python_session(mock.base_url, prefer), timeout=30))
    assert message["channel"] == "/v2/me/emails"
    assert message["data"]["notificationType"] == kind
    assert message["data"]["referenceId"] == sent["referenceId"]


def test_the_python_client_re_handshakes_after_the_server_forgets_it(mock: RunningMock) -> None:
    """`402::Unknown client` (here: every client dropped, as after a restart) makes it handshake and
    re-subscribe by itself, and notifications keep coming."""

    async def scenario() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=mock.base_url, timeout=30) as http:
            login = await http.get("/api/v2/me", headers=AUTH)
            cookie = login.headers["set-cookie"].split(";")[0]
            session = {"Cookie": cookie, "X-CSRF-TOKEN": login.headers["X-CSRF-TOKEN"]}
            client = notification_client(mock.base_url, cookie, session["X-CSRF-TOKEN"])
            async with client:
                await client.subscribe("/v2/me/emails")
                assert mock.genesys.bayeux.forget() >= 1
                await asyncio.sleep(1.0)  # the held connect answers, the next one gets 402, the client re-handshakes
                sent = (await http.post(GWS_SEND, json=SEND_BODY, headers=session)).json()
                async for message in client:
                    if message["data"].get("referenceId") == sent["referenceId"]:
                        return dict(message)
        raise AssertionError("no notification after the re-handshake")

    message = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    assert message["data"]["notificationType"] == "StatusChange"


def test_the_python_client_without_the_csrf_token_is_refused(mock: RunningMock) -> None:
    """The 403 answers one failed reply per message, so the client reports the handshake's failure."""

    async def scenario() -> ServerError:
        async with httpx.AsyncClient(base_url=mock.base_url, timeout=30) as http:
            login = await http.get("/api/v2/me", headers=AUTH)
        cookie = login.headers["set-cookie"].split(";")[0]
        client = notification_client(mock.base_url, cookie, None)
        with pytest.raises(ServerError) as refused:
            await client.open()
        await client.close()
        return refused.value

    error = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    reply = error.response
    assert reply is not None and reply["channel"] == "/meta/handshake" and reply["successful"] is False
    assert reply["error"] == "403::Missing or invalid Csrf token" and reply["advice"] == {"reconnect": "none"}
