"""Per-request control: Prefer and its query twins, latency and chaos, each with its observable effect."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.app import runtime_of
from mockserver.contract import spec
from mockserver.controls import Latency, parse_chaos, parse_prefer
from tests.conftest import AUTH, GWS_SEND, RELAY, SAVE, SEND, gws_login, mock_settings

BODY = {"Emails": [{"Subject": "Hei", "To": [{"Address": "kari@fjordtech.no"}]}]}
GWS_BODY = {"operationName": "Send", "queueName": "q", "email": {"to": ["a@b.no"], "from": "c@d.no"}}


def test_prefer_parsing_follows_rfc_7240() -> None:
    assert parse_prefer(['code=404, example="docs sample"; x=1', "seed=7", "code=500"]) == {
        "code": "404",
        "example": "docs sample",
        "seed": "7",
    }


@pytest.mark.parametrize(
    ("text", "kind", "a", "b"),
    [
        ("250", "fixed", 250, 0),
        ("100-400", "uniform", 100, 400),
        ("lognormal:200:0.5", "lognormal", 200, 0.5),
        ("NsApiSlow", "uniform", 5000, 5500),
    ],
)
def test_latency_specs(text: str, kind: str, a: float, b: float) -> None:
    assert Latency.parse(text) == Latency(kind, a, b)


@pytest.mark.parametrize("text", ["fast", "-5", "400-100", "lognormal:0:1", "999999999"])
def test_bad_latency_specs(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        Latency.parse(text)


@pytest.mark.parametrize(
    ("headers", "query"), [({"Prefer": "code=500"}, ""), ({}, "?__code=500"), ({"Prefer": "code=500"}, "?__code=401")]
)
def test_code_gives_that_status_with_a_body_of_its_schema(
    client: TestClient, headers: dict[str, str], query: str
) -> None:
    response = client.post(SEND + query, json=BODY, headers={**AUTH, **headers})
    assert response.status_code == 500
    payload = response.json()
    assert payload["Error"] is True and payload["ErrorType"] == "SoException"
    assert response.headers["Preference-Applied"] == "code=500"


def test_code_works_for_each_documented_status_and_vendor(client: TestClient) -> None:
    session = gws_login(client)
    for operation_id, path, body in (
        ("v1EMailAgent_SendEMails", SEND, BODY),
        ("v1EMailAgent_RelayMessage", RELAY, {"Rfc822": "x", "Recipients": ["a@b.no"]}),
        ("gwsEmail_Send", GWS_SEND, GWS_BODY),
    ):
        for status in spec.responses(operation_id):
            response = client.post(path, json=body, headers={**session, "Prefer": f"code={status}"})
            assert response.status_code == int(status), (operation_id, status, response.text)
            if int(status) >= 400:
                keys = set(response.json())
                assert keys in (
                    {"statusCode", "statusMessage"},
                    {"Message"},
                    {"Message", "MessageDetail"},
                    {"Error", "ErrorType", "ErrorMessage", "ErrorSource"},
                ), keys


def test_a_forced_error_sends_nothing() -> None:
    app = create_app(mock_settings(seed=1))
    with app.test_client() as client:
        client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "code=500"})
        client.post(SEND + "?__code=200", json=BODY, headers=AUTH)
    assert len(runtime_of(app).mail.accepted) == 1


def test_undocumented_code_and_unknown_example_are_clear_400s(client: TestClient) -> None:
    response = client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "code=418"})
    assert response.status_code == 400
    assert "418 is not a documented status" in response.json()["MessageDetail"]
    response = client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "example=nope"})
    assert response.status_code == 400
    assert "examples: docsSample" in response.json()["MessageDetail"]
    response = client.post(SEND + "?__seed=abc", json=BODY, headers=AUTH)
    assert response.status_code == 400


def test_example_and_dynamic_false_return_the_contracts_example(client: TestClient) -> None:
    expected = spec.examples("v1EMailAgent_SendEMails", 200)["docsSample"]
    for headers, query in (
        ({"Prefer": "example=docsSample"}, ""),
        ({}, "?__example=docsSample"),
        ({"Prefer": "dynamic=false"}, ""),
    ):
        response = client.post(SEND + query, json=BODY, headers={**AUTH, **headers})
        assert response.status_code == 200
        assert response.json() == expected
    error = client.post(SAVE, json={"Email": {}}, headers={**AUTH, "Prefer": "code=500, example=default"})
    assert error.json() == spec.examples("v1EMailAgent_SaveToMailServer", 500)["default"]


def test_dynamic_false_is_reported_applied_only_where_an_example_was_used(client: TestClient) -> None:
    canned = client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "dynamic=false"})
    assert canned.headers["Preference-Applied"] == "dynamic=false"
    generated = client.get("/api/v2/me", headers={**AUTH, "Prefer": "dynamic=false, delay=0"})
    assert generated.status_code == 200
    assert generated.headers["Preference-Applied"] == "delay=0"  # GET /api/v2/me has no example to answer with


def test_examples_come_in_xml_too(client: TestClient) -> None:
    response = client.post(
        SEND, json=BODY, headers={**AUTH, "Prefer": "example=docsSample", "Accept": "application/xml"}
    )
    assert response.text.startswith("<ArrayOfEMailEntity")
    assert "<ContactName>Hegmann Inc and Sons</ContactName>" in response.text


def test_seed_reproduces_a_response_from_its_reported_seed(client: TestClient) -> None:
    first = client.post(SEND, json=BODY, headers=AUTH)
    seed = first.headers["X-Mock-Seed"]
    other_body = {"Emails": [{"Subject": "Hei", "To": [{"Address": "kari@fjordtech.no"}]}], "extra": 1}
    replay = client.post(SEND, json=other_body, headers={**AUTH, "Prefer": f"seed={seed}"})
    assert replay.headers["X-Mock-Seed"] == seed
    assert replay.json()[0]["MessageID"] == first.json()[0]["MessageID"]
    twin = client.post(SEND + f"?__seed={seed}", json=other_body, headers=AUTH)
    assert twin.content == replay.content


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the server asked for, without waiting for them."""
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr("mockserver.call.sleep", record)
    return delays


def test_delay_preferences_ask_for_the_right_waits(client: TestClient, slept: list[float]) -> None:
    client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "delay=250"})
    client.post(SEND + "?__delay=100-400", json=BODY, headers=AUTH)
    client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "delay=nsapislow"})
    assert slept[0] == pytest.approx(0.25)
    assert 0.1 <= slept[1] <= 0.4
    assert 5.0 <= slept[2] <= 5.5  # just past the vendor's NsApiSlow threshold


def test_global_latency_applies_to_every_call_and_is_seeded(slept: list[float]) -> None:
    with create_app(mock_settings(seed=3, latency="lognormal:200:0.5")).test_client() as client:
        for _ in range(2):
            client.post(SEND, json=BODY, headers=AUTH)
        client.post(GWS_SEND, json=GWS_BODY, headers=gws_login(client))
    assert slept[0] == slept[1] > 0  # same request, same seed: the same draw
    assert len(slept) == 4  # the GWS login is delayed too


def test_a_real_delay_really_delays(client: TestClient) -> None:
    started = time.perf_counter()
    response = client.post(SEND, json=BODY, headers={**AUTH, "Prefer": "delay=150"})
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_chaos_injects_documented_errors_deterministically() -> None:
    settings = mock_settings(seed=11, chaos="v1EMailAgent_SendEMails=500:0.5,gwsEmail_Send=403:1")
    outcomes: list[int] = []
    with create_app(settings).test_client() as client:
        for n in range(40):
            outcomes.append(client.post(SEND, json={"Emails": [{"Subject": str(n)}]}, headers=AUTH).status_code)
        repeat = [
            client.post(SEND, json={"Emails": [{"Subject": str(n)}]}, headers=AUTH).status_code for n in range(40)
        ]
        gws = client.post(GWS_SEND, json=GWS_BODY, headers=gws_login(client))
        relay = client.post(RELAY, json={"Rfc822": "x", "Recipients": ["a@b.no"]}, headers=AUTH)
    assert set(outcomes) == {200, 500}
    assert 8 <= outcomes.count(500) <= 32
    assert repeat == outcomes
    assert gws.status_code == 403 and gws.json()["statusCode"] == 3
    assert relay.status_code == 204


def test_a_star_rule_only_hits_operations_that_document_its_status() -> None:
    with create_app(mock_settings(seed=11, chaos="*=404:1")).test_client() as client:
        send = client.post(SEND, json=BODY, headers=AUTH)
        gws = client.post(GWS_SEND, json=GWS_BODY, headers=gws_login(client))
    assert send.status_code == 200  # SendEMails documents no 404
    assert gws.status_code == 404 and set(gws.json()) == {"statusCode", "statusMessage"}


@pytest.mark.parametrize(
    ("path", "accept", "code", "expected"),
    [
        (SEND, "application/json-patch+json", 500, "application/json"),  # a request type, not an error type
        (SEND, "text/xml", 500, "text/xml"),
        (SEND, None, 400, "application/json"),
        (RELAY, "application/xml", 500, "application/xml"),  # 204 has no media type; its errors do
    ],
)
def test_a_forced_error_comes_in_a_media_type_its_status_documents(
    client: TestClient, path: str, accept: str | None, code: int, expected: str
) -> None:
    body = {"Rfc822": "x", "Recipients": ["a@b.no"]} if path == RELAY else BODY
    headers = {**AUTH, "Prefer": f"code={code}", **({"Accept": accept} if accept else {})}
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == code
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type == expected
    operation = "v1EMailAgent_RelayMessage" if path == RELAY else "v1EMailAgent_SendEMails"
    assert media_type in spec.responses(operation)[str(code)]["content"]


@pytest.mark.parametrize(
    ("chaos", "message"),
    [
        ("gwsNotifications_Post=500:0.1", "Bayeux protocol replies"),
        ("SendEMails=500:0.1", "unknown operation"),
        ("v1EMailAgent_SendEMails=418:0.1", "not documented"),
        ("*=500", "OPERATION=STATUS:PROBABILITY"),
    ],
)
def test_bad_chaos_rules_are_refused_at_start(chaos: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_app(mock_settings(chaos=chaos))


def test_chaos_parsing() -> None:
    [rule] = parse_chaos("*=503:0.25")
    assert (rule.operation, rule.status, rule.probability) == ("*", 503, 0.25)
