"""One API call: the seed (which the view does not change), the controls, the namespace, and how it answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from defusedxml import ElementTree
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mockserver import call as calls
from mockserver import controls, create_app
from mockserver.app import runtime_of
from mockserver.formats.dotnet import DotNetDateTime
from mockserver.formats.projection import parse_select
from mockserver.mail.outbox import Filters
from mockserver.runtime import Runtime
from tests.conftest import AUTH, GWS_SEND, RELAY, SEND, mock_settings

RUNTIME = Runtime(mock_settings(seed=11))
BODY: dict[str, Any] = {
    "Emails": [{"From": {"Address": "anna@nordlys.no"}, "To": [{"Address": "kari@fjordtech.no"}], "Subject": "Hei"}]
}


def make_call(headers: list[tuple[bytes, bytes]] | None = None, **overrides: Any) -> calls.Call:
    values: dict[str, Any] = {
        "runtime": RUNTIME,
        "scope": {"type": "http", "headers": headers or []},
        "operation_id": "v1EMailAgent_SendEMails",
        "body": None,
        "seed": 77,
        "gen": RUNTIME.gen(77),
        "media_type": "application/json",
        "select": None,
        "user": None,
    }
    values.update(overrides)
    return calls.Call(**values)


# -- seed_query -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "view",
    [
        "$select=Subject,To/Address",
        "__code=500",
        "__example=docsSample",
        "__seed=5",
        "__dynamic=false",
        "__delay=100-200",
        "__notification=error",
        "__notification-delay=2000",
    ],
)
def test_seed_query_ignores_the_view_and_the_mocks_controls(view: str) -> None:
    assert calls.seed_query(f"b=2&{view}&a=1") == calls.seed_query("a=1&b=2") == b"a=1&b=2"
    assert calls.seed_query(view) == b""


def test_seed_query_keeps_what_changes_the_data_in_a_stable_order() -> None:
    assert calls.seed_query("z=1&a=&a=0") == b"a=&a=0&z=1"  # blank values count; repeated names sorted by value
    assert calls.seed_query("__unknown=1") == b"__unknown=1"  # not a control of the mock
    assert calls.seed_query("select=Subject") == b"select=Subject"  # only `$select` is the view
    assert calls.seed_query("x=%C3%A6") == calls.seed_query("x=æ")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with create_app(mock_settings(seed=11)).test_client() as own:
        yield own


def send(client: TestClient, query: str = "", **headers: str) -> Any:
    response = client.post(SEND + query, json=BODY, headers={**AUTH, **headers})
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize(
    "query", ["?$select=MessageID,Sent", "?__delay=0", "?__dynamic=true", "?__code=200", "?__notification=success"]
)
def test_the_same_data_comes_back_whatever_the_view_or_controls(client: TestClient, query: str) -> None:
    plain = send(client)
    viewed = send(client, query)
    assert viewed.headers["X-Mock-Seed"] == plain.headers["X-Mock-Seed"]
    assert viewed.json()[0]["MessageID"] == plain.json()[0]["MessageID"]
    assert viewed.json()[0]["Sent"] == plain.json()[0]["Sent"]


def test_a_query_parameter_that_is_not_a_control_changes_the_seed(client: TestClient) -> None:
    assert send(client, "?tag=1").headers["X-Mock-Seed"] != send(client).headers["X-Mock-Seed"]


def test_select_changes_only_the_view(client: TestClient) -> None:
    [out] = send(client, "?$select=MessageID").json()
    assert out["MessageID"] and out["Subject"] is None and out["To"] is None


def test_an_explicit_seed_is_used_and_echoed(client: TestClient) -> None:
    first = send(client, Prefer="seed=42")
    again = send(client, "?__seed=42")
    assert first.headers["X-Mock-Seed"] == again.headers["X-Mock-Seed"] == "42"
    assert first.headers["Preference-Applied"] == "seed=42"
    assert first.json()[0]["MessageID"] == again.json()[0]["MessageID"]


# -- controls and negotiation before anything is accepted -----------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Accept": "image/png"}, 406),
        ({"Prefer": "code=500"}, 500),
        ({"Prefer": "code=403"}, 403),
        ({"Prefer": "code=418"}, 400),
        ({"Prefer": "example=nope"}, 400),
        ({"Prefer": "seed=-1"}, 400),
    ],
)
def test_no_mail_is_accepted_for_a_client_that_cannot_read_the_answer_or_asked_for_a_failure(
    client: TestClient, headers: dict[str, str], status: int
) -> None:
    namespace = "refused-" + "-".join(f"{k}={v}" for k, v in headers.items())
    response = client.post(SEND, json=BODY, headers={**AUTH, **headers, "X-Mock-Namespace": namespace})
    assert response.status_code == status, response.text
    runtime = runtime_of(client.app)
    assert runtime.mail.outbox.count(Filters(namespace=namespace)) == 0
    assert not [s for s in runtime.mail.accepted if s.namespace == namespace]
    control = client.post(SEND, json=BODY, headers={**AUTH, "X-Mock-Namespace": namespace})
    assert control.status_code == 200 and runtime.mail.outbox.count(Filters(namespace=namespace)) == 1


def test_an_undocumented_status_names_the_documented_ones(client: TestClient) -> None:
    response = client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "code=418"})
    assert response.json()["MessageDetail"] == (
        "Prefer: code=418 is not a documented status of v1EMailAgent_SendEMails "
        "(documented: 200, 400, 401, 403, 406, 415, 500)"
    )


def test_an_unknown_example_names_the_known_ones(client: TestClient) -> None:
    response = client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "example=nope"})
    assert response.json()["MessageDetail"] == (
        "Prefer: example=nope is not an example of v1EMailAgent_SendEMails 200 (examples: docsSample)"
    )


def test_a_canned_error_is_in_the_vendors_shape_and_says_what_was_applied(client: TestClient) -> None:
    response = client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "code=500", "Accept": "text/xml"})
    assert response.status_code == 500 and response.headers["Preference-Applied"] == "code=500"
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert ElementTree.fromstring(response.content).tag == "SoError"
    assert int(response.headers["X-Mock-Seed"]) >= 0


def test_a_canned_error_of_an_operation_without_a_success_body_is_still_negotiated(client: TestClient) -> None:
    rfc822 = "From: a@nordlys.no\r\nTo: b@fjordtech.no\r\nSubject: x\r\n\r\nbody\r\n"
    relay = {"Rfc822": rfc822, "Recipients": ["b@fjordtech.no"]}
    response = client.post(RELAY, json=relay, headers={**AUTH, "Prefer": "code=500", "Accept": "application/xml"})
    assert response.status_code == 500 and response.headers["content-type"] == "application/xml; charset=utf-8"
    response = client.post(RELAY, json=relay, headers={**AUTH, "Prefer": "code=500"})
    assert response.status_code == 500 and response.json()["ErrorType"]


def test_dynamic_false_is_not_reported_applied_where_there_is_no_example(client: TestClient) -> None:
    me = client.get("/api/v2/me", headers={**AUTH, "Prefer": "dynamic=false"})
    assert me.status_code == 200 and "Preference-Applied" not in me.headers
    sent = client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "dynamic=false"})
    assert sent.headers["Preference-Applied"] == "dynamic=false"


# -- the Call itself --------------------------------------------------------------------------------------------


def test_namespace_is_trimmed_and_bounded() -> None:
    assert make_call().namespace == ""
    assert make_call([(b"x-mock-namespace", b"  suite-a  ")]).namespace == "suite-a"
    assert make_call([(b"x-mock-namespace", b"n" * 300)]).namespace == "n" * 200


def test_namespace_reaches_the_outbox(client: TestClient) -> None:
    send(client, **{"X-Mock-Namespace": " " + "k" * 250})
    runtime = runtime_of(client.app)
    assert runtime.mail.outbox.count(Filters(namespace="k" * 200)) == 1


def test_parse_datetime_keeps_what_it_cannot_read() -> None:
    call = make_call()
    assert call.parse_datetime(None) is None and call.parse_datetime(20250513) is None
    assert call.parse_datetime("yesterday") == "yesterday"
    parsed = call.parse_datetime("2025-05-13T10:24:31.1234567+02:00")
    assert isinstance(parsed, DotNetDateTime) and parsed.tick == 7
    assert parsed.value == datetime(2025, 5, 13, 8, 24, 31, 123456, tzinfo=UTC)


def test_parse_datetime_reads_a_time_without_offset_in_the_requests_zone() -> None:
    oslo = make_call().parse_datetime("2025-01-15T12:00:00")
    utc = make_call(zone=UTC).parse_datetime("2025-01-15T12:00:00")
    assert isinstance(oslo, DotNetDateTime) and isinstance(utc, DotNetDateTime)
    assert utc.value - oslo.value == timedelta(hours=1)


def test_respond_renders_dates_in_the_calls_zone_and_style() -> None:
    moment = DotNetDateTime(datetime(2025, 5, 13, 8, 24, 31, 123456, tzinfo=UTC), 7)
    oslo = orjson.loads(make_call().respond({"Sent": moment}).body)
    assert oslo == {"Sent": "2025-05-13T10:24:31.1234567+02:00"}
    utc = make_call(zone=UTC, offset_colon=False).respond({"Sent": moment})
    assert orjson.loads(utc.body) == {"Sent": "2025-05-13T08:24:31.1234567+0000"}
    bare = make_call(zone=UTC, include_offset=False).respond({"Sent": moment})
    assert orjson.loads(bare.body) == {"Sent": "2025-05-13T08:24:31.1234567"}


def test_respond_applies_select_and_echoes_the_seed_and_the_controls() -> None:
    applied = controls.Controls(seed=77, applied=("seed=77",))
    response = make_call(select=parse_select("subject"), controls=applied).respond({"Subject": "Hei", "Size": 3})
    assert orjson.loads(response.body) == {"Subject": "Hei", "Size": None}
    assert response.headers["X-Mock-Seed"] == "77" and response.headers["Preference-Applied"] == "seed=77"
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_respond_with_204_has_no_body() -> None:
    response = make_call(media_type=None).respond({"ignored": True}, status=204)
    assert response.status_code == 204 and response.body == b"" and response.headers["X-Mock-Seed"] == "77"
    assert "content-type" not in response.headers


def test_respond_in_xml_uses_the_operations_schema() -> None:
    response = make_call(media_type="text/xml").respond([{"Subject": "Hei"}])
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    root = ElementTree.fromstring(response.body)
    assert root.tag == "ArrayOfEMailEntity" and root.find("EMailEntity/Subject").text == "Hei"  # type: ignore[union-attr]


def test_render_leaf_refuses_what_is_not_a_date() -> None:
    with pytest.raises(TypeError, match="cannot serialise object"):
        make_call().render_leaf(object())


def test_moment_is_the_frozen_time_in_the_responses_zone() -> None:
    assert make_call().moment.isoformat() == "2025-05-13T10:24:31+02:00"
    assert make_call(zone=UTC).moment.isoformat() == "2025-05-13T08:24:31+00:00"


# -- long answers -------------------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@dataclass(frozen=True)
class _Long:
    """A string longer than a piece, drawn as its short spelling (a 64 kB example has an unreadable repr)."""

    spelling: str

    def text(self) -> str:
        return self.spelling * (calls.PiecewiseResponse.PIECE // len(self.spelling) + 1)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _TEXT | st.builds(_Long, _TEXT.filter(bool)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=8,
)


def _expanded(data: Any) -> Any:
    if isinstance(data, _Long):
        return data.text()
    if isinstance(data, dict):
        return {key: _expanded(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_expanded(value) for value in data]
    return data


def _sent(response: Any) -> bytes:
    sent: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            sent.append(message["body"])

    asyncio.run(response({"type": "http"}, receive, send))
    return b"".join(sent)


@settings(max_examples=60, deadline=None)
@given(_JSON)
def test_a_long_answer_is_sent_in_pieces_as_the_bytes_orjson_writes(drawn: Any) -> None:
    """Long strings are left out of the serialised answer and escaped piece by piece while it is sent; what
    the client gets must be exactly the one-shot serialisation, with a Content-Length that says so."""
    data = _expanded(drawn)
    expected = orjson.dumps(data)
    response = make_call(large=True).respond(data)
    body = _sent(response) if isinstance(response, calls.PiecewiseResponse) else response.body
    assert body == expected
    assert int(response.headers["content-length"]) == len(expected)


def test_a_long_string_is_not_copied_into_the_answer() -> None:
    stream = "QUJD" * 50_000  # an echoed attachment's base64
    response = make_call(large=True).respond([{"Attachments": [{"Stream": stream}, {"Stream": stream + "RA=="}]}])
    assert isinstance(response, calls.PiecewiseResponse)
    assert [p for p in response.pieces if isinstance(p, str)] == [stream, stream + "RA=="]
    assert all(len(p) < 200 for p in response.pieces if isinstance(p, bytes))
    assert orjson.loads(_sent(response)) == [{"Attachments": [{"Stream": stream}, {"Stream": stream + "RA=="}]}]


def test_a_small_request_answers_in_one_piece_even_when_long() -> None:
    # Only a request long enough to carry a long string can have one echoed: the others skip the search.
    response = make_call().respond({"Items": ["x" * 100] * 1000})
    assert isinstance(response, calls.PiecewiseResponse) and response.pieces == [
        orjson.dumps({"Items": ["x" * 100] * 1000})
    ]


def test_only_a_request_with_a_long_run_between_quotes_may_hold_a_long_string() -> None:
    piece = calls.PiecewiseResponse.PIECE
    assert calls.may_hold_long_string(orjson.dumps({"Stream": "A" * (piece + 1)}))
    assert not calls.may_hold_long_string(orjson.dumps({"Stream": "A" * piece}))  # as long as a piece: not longer
    assert calls.may_hold_long_string(orjson.dumps([{"Subject": "x" * 10}] * 100 + [{"Stream": "QUJD" * piece}]))
    # A megabyte of short strings, whatever their lengths up to a piece: nothing to look for.
    assert not calls.may_hold_long_string(orjson.dumps([{"Subject": "Hei " * n} for n in range(0, 16000, 400)]))
    assert not calls.may_hold_long_string(orjson.dumps(["x" * (piece - 2)] * 20))
    assert not calls.may_hold_long_string(b"")


@pytest.mark.parametrize(
    ("path", "headers", "body", "user"),
    [
        (RELAY, AUTH, {"Rfc822": "Subject: x\r\n\r\nb", "Recipients": ["a@b.no"]}, "tje0"),
        (SEND, {"Authorization": "SOTicket 7T:abc"}, {"Emails": []}, "ticket:7T"),
        (
            GWS_SEND,
            AUTH,
            {"operationName": "Send", "queueName": "q", "email": {"to": ["a@b.no"], "from": "c@d"}},
            "tje0",
        ),
    ],
)
def test_the_call_names_the_operation_and_the_caller_as_connexions_context_does(
    monkeypatch: pytest.MonkeyPatch, path: str, headers: dict[str, str], body: Any, user: str
) -> None:
    """`begin` reads the operation id and the caller from the scope; Connexion's context proxies agree."""
    from connexion import context as cx

    from mockserver.genesys.handlers import emails
    from mockserver.superoffice import handlers

    seen: list[tuple[str, str | None, str, str | None]] = []

    async def spied(offered: Any) -> calls.Call:
        call = await calls.begin(offered)
        seen.append((call.operation_id, call.user, cx.operation.operation_id, cx.context.get("user")))
        return call

    monkeypatch.setattr(handlers, "begin", spied)
    monkeypatch.setattr(emails, "begin", spied)
    with create_app(mock_settings(gws_csrf=False)).test_client() as client:
        assert client.post(path, json=body, headers=headers).status_code < 300
    [(operation_id, caller, expected_id, expected_caller)] = seen
    assert (operation_id, caller) == (expected_id, expected_caller)
    assert caller == user
