"""`mockserver proxy`: the mock on loopback as the upstream passes through unchanged, invalid requests and the
deliberately broken upstreams of tests/tools/broken.py are reported (or refused, in strict mode) in each vendor's
shape, an unreachable upstream is a 502, and no credential reaches the header or the log."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver import create_app
from mockserver.contract import forms, spec
from mockserver.contract.wire import XML
from mockserver.tools.conformance import gws_session_headers
from mockserver.tools.proxy import VIOLATIONS_HEADER, add_arguments, create_proxy, main
from mockserver.tools.testing import RunningMock, free_port, running_mock, serving
from tests.conftest import basic
from tests.tools.broken import BROKEN, GWS_PASSWORD, GWS_USER, SO_PASSWORD, SO_USER, server_settings

SO_AUTH = {"Authorization": basic(SO_USER, SO_PASSWORD)}
GWS_AUTH = basic(GWS_USER, GWS_PASSWORD)
SEND = "/api/v1/Agents/EMail/SendEMails"
SAVE = "/api/v1/Agents/EMail/SaveToMailServer"
RELAY = "/api/v1/Agents/EMail/RelayMessage"
GWS_SEND = "/api/v2/me/emails/0071023821aec011"
LOGGER = "mockserver.proxy"


def request_examples(operation_id: str) -> dict[str, Any]:
    content = spec.operations()[operation_id]["requestBody"]["content"]["application/json"]
    return {name: spec.resolve(example)["value"] for name, example in content["examples"].items()}


MINIMAL = request_examples("v1EMailAgent_SendEMails")["minimal"]
RELAY_MESSAGE = request_examples("v1EMailAgent_RelayMessage")["message"]
GWS_MESSAGE = request_examples("gwsEmail_Send")["docsSample"]
INVALID = {"Emails": [{**MINIMAL["Emails"][0], "Priority": "Urgent"}]}


def post(base: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    return httpx.post(base + path, json=body, timeout=10, **kwargs)


def violations(response: httpx.Response) -> str:
    return response.headers.get(VIOLATIONS_HEADER, "0")


class Counting:
    """An upstream that counts the requests that reach it, per path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen[scope["path"]] += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def mock() -> Iterator[RunningMock]:
    with running_mock(server_settings()) as running:
        yield running


@pytest.fixture(scope="module")
def proxy(mock: RunningMock) -> Iterator[str]:
    with serving(create_proxy(mock.base_url)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def strict() -> Iterator[tuple[str, Counting]]:
    upstream = Counting(create_app(server_settings()))
    with serving(upstream) as upstream_url, serving(create_proxy(upstream_url, strict=True)) as base_url:
        yield base_url, upstream


@pytest.fixture
def proxy_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    return caplog


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


# -- the mock as the upstream -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "operation_id", "example"),
    [(SEND, "v1EMailAgent_SendEMails", name) for name in ("minimal", "docsSample", "docsSample2024")]
    + [(SAVE, "v1EMailAgent_SaveToMailServer", "docsSample")]
    + [(RELAY, "v1EMailAgent_RelayMessage", name) for name in ("docsSample", "message")],
)
def test_contract_examples_go_through_unchanged(
    mock: RunningMock, proxy: str, path: str, operation_id: str, example: str
) -> None:
    body = request_examples(operation_id)[example]
    direct = post(mock.base_url, path, body, headers=SO_AUTH)
    proxied = post(proxy, path, body, headers=SO_AUTH)
    assert proxied.status_code == direct.status_code < 300, proxied.text
    assert proxied.content == direct.content
    assert proxied.headers.get("content-type") == direct.headers.get("content-type")
    assert violations(proxied) == "0"


@pytest.mark.parametrize("media_type", ["application/xml", "text/xml", "application/x-www-form-urlencoded"])
def test_xml_and_form_requests_and_xml_answers_are_read_by_the_contract(proxy: str, media_type: str) -> None:
    if media_type.endswith("xml"):
        raw = XML.write(MINIMAL, spec.schema("SendEMailsRequest"), "SendEMailsRequest", str)
    else:
        raw = forms.encode(MINIMAL).encode("ascii")
    headers = {**SO_AUTH, "Content-Type": media_type, "Accept": "application/xml"}
    response = httpx.post(f"{proxy}{SEND}?$select=Subject,To/Address", content=raw, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.text.startswith("<ArrayOfEMailEntity")
    assert violations(response) == "0"


def test_a_gws_session_works_through_the_proxy(proxy: str) -> None:
    logins: list[httpx.Response] = []

    def get(path: str, headers: dict[str, str]) -> httpx.Response:
        logins.append(httpx.get(proxy + path, headers=headers, timeout=10))
        return logins[-1]

    session = gws_session_headers(get, GWS_AUTH)
    assert logins[0].status_code == 200 and violations(logins[0]) == "0"
    assert session["Cookie"].startswith("JSESSIONID=") and session["X-CSRF-TOKEN"]
    del session["Authorization"]  # the session cookie alone must carry the POST
    sent = post(proxy, GWS_SEND, GWS_MESSAGE, headers=session)
    # The proxy keeps no cookies of its own: without the client's cookie there is no session.
    cookieless = post(proxy, GWS_SEND, GWS_MESSAGE, headers={"X-CSRF-TOKEN": session["X-CSRF-TOKEN"]})
    assert cookieless.status_code in (401, 403) and "no credentials" in violations(cookieless)
    assert sent.status_code == 200, sent.text
    assert sent.json()["statusCode"] == 0
    assert violations(sent) == "0"


def test_paths_outside_the_vendor_apis_are_forwarded_unchecked(proxy: str) -> None:
    response = httpx.get(proxy + "/openapi.json", timeout=10)
    assert response.status_code == 200 and response.json()["openapi"].startswith("3.0")
    assert VIOLATIONS_HEADER not in response.headers


# -- invalid requests -------------------------------------------------------------------------------------


def test_an_invalid_request_is_forwarded_and_reported(
    mock: RunningMock, proxy: str, proxy_log: pytest.LogCaptureFixture
) -> None:
    proxied = post(proxy, SEND, INVALID, headers=SO_AUTH)
    direct = post(mock.base_url, SEND, INVALID, headers=SO_AUTH)
    assert proxied.status_code == 400 and proxied.content == direct.content  # the upstream's own refusal
    header = violations(proxied)
    assert header.startswith("1 | request: body: Emails[0].Priority: ") and "Urgent" in header
    assert header.isascii() and "\n" not in header
    lines = [line for line in logged(proxy_log) if "Priority" in line]
    assert lines and lines[0].startswith(f"POST {SEND} request: body: Emails[0].Priority")


def test_unknown_operations_are_reported(proxy: str, proxy_log: pytest.LogCaptureFixture) -> None:
    unknown = post(proxy, "/api/v1/Agents/EMail/SendFax", MINIMAL, headers=SO_AUTH)
    assert "no such path in the contract" in violations(unknown)
    wrong_method = httpx.get(proxy + SEND, headers=SO_AUTH, timeout=10)
    assert "GET is not documented for /api/v1/Agents/EMail/SendEMails" in violations(wrong_method)
    assert len(logged(proxy_log)) >= 2


def test_strict_refuses_an_invalid_superoffice_request_itself(strict: tuple[str, Counting]) -> None:
    base_url, upstream = strict
    response = post(base_url, SEND, INVALID, headers=SO_AUTH)
    assert response.status_code == 400
    body = response.json()
    assert body["Message"] == "The request is invalid." and "Emails[0].Priority" in body["MessageDetail"]
    assert violations(response).startswith("1 | request:")
    assert upstream.seen[SEND] == 0
    valid = post(base_url, SEND, MINIMAL, headers=SO_AUTH)
    assert valid.status_code == 200 and violations(valid) == "0"
    assert upstream.seen[SEND] == 1


def test_head_is_checked_as_the_get_it_stands_for(strict: tuple[str, Counting]) -> None:
    """HEAD is answered by every GET route; the strict proxy must not refuse it as an undocumented method."""
    base_url, _ = strict
    response = httpx.head(base_url + "/api/v2/me", headers={"Authorization": GWS_AUTH}, timeout=10)
    assert response.status_code == 200
    assert response.content == b""
    assert violations(response) == "0"


def test_strict_refuses_in_the_genesys_and_credential_shapes(strict: tuple[str, Counting]) -> None:
    base_url, upstream = strict
    gws = post(base_url, GWS_SEND, {**GWS_MESSAGE, "operationName": "Reply"}, headers={"Authorization": GWS_AUTH})
    assert gws.status_code == 400
    assert set(gws.json()) == {"statusCode", "statusMessage"} and gws.json()["statusCode"] == 2
    assert "operationName" in gws.json()["statusMessage"]
    anonymous = post(base_url, SEND, MINIMAL)
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert anonymous.json()["Message"] == "Authorization has been denied for this request."
    unknown = post(base_url, "/api/v1/Agents/EMail/SendFax", MINIMAL, headers=SO_AUTH)
    assert unknown.status_code == 404 and "No HTTP resource" in unknown.json()["Message"]
    assert upstream.seen[GWS_SEND] == upstream.seen["/api/v1/Agents/EMail/SendFax"] == 0


# -- broken upstreams ---------------------------------------------------------------------------------------


def _send(base: str) -> httpx.Response:
    return post(base, SEND, MINIMAL, headers=SO_AUTH)


BROKEN_CASES: dict[str, tuple[Callable[[str], httpx.Response], str]] = {
    "wrong-type": (_send, "[0].Size: "),
    "select-ignored": (
        lambda base: post(base, f"{SEND}?$select=Subject,To/Address", MINIMAL, headers=SO_AUTH),
        "$select=Subject,To/Address not honoured",
    ),
    "relay-200": (
        lambda base: post(base, RELAY, RELAY_MESSAGE, headers=SO_AUTH),
        "status 200 is not documented for v1EMailAgent_RelayMessage",
    ),
    "xml-wrong-root": (
        lambda base: post(base, SEND, MINIMAL, headers={**SO_AUTH, "Accept": "application/xml"}),
        "root element <Result>, the contract names <ArrayOfEMailEntity>",
    ),
    "gws-no-status-message": (
        # A POST without the session's CSRF token is refused (403): an error, which lacks statusMessage here.
        lambda base: post(base, GWS_SEND, GWS_MESSAGE, headers={"Authorization": GWS_AUTH}),
        '"statusMessage" is a required property',
    ),
}


@pytest.mark.parametrize("name", list(BROKEN_CASES))
def test_broken_upstreams_are_reported(name: str, proxy_log: pytest.LogCaptureFixture) -> None:
    broken = next(item for item in BROKEN if item.name == name)
    call, expected = BROKEN_CASES[name]
    with serving(broken.build()) as upstream, serving(create_proxy(upstream)) as base_url:
        response = call(base_url)
    header = violations(response)
    assert expected in header and " | response: " in header, header
    assert any(" response: " in line and expected in line for line in logged(proxy_log))


def test_strict_turns_a_broken_answer_into_a_vendor_shaped_502() -> None:
    builds = {item.name: item.build for item in BROKEN}
    with serving(builds["wrong-type"]()) as upstream, serving(create_proxy(upstream, strict=True)) as base_url:
        superoffice = _send(base_url)
    assert superoffice.status_code == 502
    error = superoffice.json()
    assert error["Error"] is True and error["ErrorType"] and "[0].Size" in error["ErrorMessage"]
    assert "[0].Size" in violations(superoffice)
    gws_call = BROKEN_CASES["gws-no-status-message"][0]
    with serving(builds["gws-no-status-message"]()) as upstream, serving(create_proxy(upstream, strict=True)) as url:
        gws = gws_call(url)
    assert gws.status_code == 502
    assert set(gws.json()) == {"statusCode", "statusMessage"} and gws.json()["statusCode"] == 4
    assert "statusMessage" in gws.json()["statusMessage"]


# -- an upstream that cannot answer -----------------------------------------------------------------------


def test_an_unreachable_upstream_is_a_vendor_shaped_502(caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with serving(create_proxy(dead, timeout=2)) as base_url:
        superoffice = _send(base_url)
        gws = post(base_url, GWS_SEND, GWS_MESSAGE, headers={"Authorization": GWS_AUTH})
    assert superoffice.status_code == 502
    assert superoffice.json()["ErrorMessage"].startswith(f"The upstream server {dead} could not be reached")
    assert gws.status_code == 502 and set(gws.json()) == {"statusCode", "statusMessage"}
    assert violations(superoffice) == violations(gws) == "0"  # the requests themselves were fine
    assert "Traceback" not in superoffice.text + gws.text + caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def _silent(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await asyncio.sleep(3)
    elif scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


def test_a_silent_upstream_is_a_vendor_shaped_504() -> None:
    with serving(_silent) as upstream, serving(create_proxy(upstream, timeout=0.3)) as base_url:
        response = _send(base_url)
    assert response.status_code == 504 and "did not answer in time" in response.json()["ErrorMessage"]


# -- secrets ------------------------------------------------------------------------------------------------


def test_credentials_reach_neither_the_header_nor_the_log(proxy: str, proxy_log: pytest.LogCaptureFixture) -> None:
    token = "8A:Cust12345.s3cr3t-b34r3r-t0k3n"
    mail = {**MINIMAL["Emails"][0], "Priority": f"Bearer {token}"}  # a client that mixed up its variables
    body = {"OutgoingConnectionInfo": {"Password": 4711_0815, "UserName": "kari"}, "Emails": [mail]}
    headers = {
        "Authorization": f"Bearer {token}",
        "Cookie": "XSRF-TOKEN=c00k1e-xsrf-value; JSESSIONID=c00k1e-session-id",
        "X-XSRF-TOKEN": "c00k1e-xsrf-value",
    }
    responses = [
        post(proxy, SEND, body, headers=headers),
        post(proxy, SEND, {"Emails": [{**mail, "Priority": SO_AUTH["Authorization"]}]}, headers=SO_AUTH),
        post(proxy, "/api/v1/Agents/EMail/SendFax", body, headers=SO_AUTH),
    ]
    reported = " ".join(violations(response) for response in responses) + "\n" + proxy_log.text
    assert "Emails[0].Priority" in reported and "OutgoingConnectionInfo.Password" in reported
    for secret in (token, "c00k1e-xsrf-value", "c00k1e-session-id", "47110815", SO_AUTH["Authorization"]):
        assert secret not in reported
    assert SO_PASSWORD not in reported and SO_AUTH["Authorization"].split()[1] not in reported


def test_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--upstream", "http://127.0.0.1:8080"])
    assert (args.host, args.port, args.strict, args.timeout) == ("127.0.0.1", 8081, False, 30.0)
    assert main(parser.parse_args(["--upstream", "ftp://127.0.0.1", "--strict"])) == 2
    assert "must be an http:// or https:// URL" in capsys.readouterr().err
