"""Credentials as the vendors take them: Basic, SOTicket, Bearer, X-XSRF-TOKEN; GWS Basic."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from tests.conftest import AUTH, GWS_SEND, SEND, basic, gws_login, mock_settings

BODY = {"Emails": []}
GWS_BODY = {"operationName": "Send", "queueName": "q", "email": {"to": ["a@b.no"], "from": "c@d.no"}}


@pytest.fixture(scope="module")
def strict() -> Iterator[TestClient]:
    settings = mock_settings(seed=3, users=("tje0:Tje0",), tickets=("7T:abc123",), tokens=("8A:Cust12345.tok",))
    with create_app(settings).test_client() as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": basic("anyone", "anything")},
        {"Authorization": "SOTicket 7T:MAA3AGYAOQA1AA=="},
        {"Authorization": "SoTicket 7T:x"},
        {"Authorization": "SOTICKET 7T:x"},
        {"Authorization": "Bearer 8A:Cust12345.eyJhbGciOi"},
        {"Authorization": "Bearer 7A:Cust1.x"},
        {"X-XSRF-TOKEN": "tok-1", "Cookie": "XSRF-TOKEN=tok-1; ASP.NET_SessionId=s"},
    ],
)
def test_well_formed_credentials_are_accepted_by_default(client: TestClient, headers: dict[str, str]) -> None:
    assert client.post(SEND, json=BODY, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Basic"},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": basic("", "pw")},
        {"Authorization": "SOTicket not-a-ticket"},
        {"Authorization": "Bearer opaque-token-without-prefix"},
        {"Authorization": "Negotiate abc"},
        {"Authorization": "garbage"},
        {"X-XSRF-TOKEN": "tok-1"},
        {"X-XSRF-TOKEN": "tok-1", "Cookie": "XSRF-TOKEN=other"},
        {"X-XSRF-TOKEN": "", "Cookie": "XSRF-TOKEN="},
        {"X-XSRF-TOKEN": "t", "Cookie": 'broken="cookie'},
    ],
)
def test_missing_or_malformed_credentials_get_a_superoffice_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(SEND, json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.json()["Message"] == "Authorization has been denied for this request."
    assert "Basic" not in response.headers["WWW-Authenticate"]  # no browser login pop-up for XHR clients


def test_restricted_server_accepts_only_listed_credentials(strict: TestClient) -> None:
    assert strict.post(SEND, json=BODY, headers={"Authorization": basic("tje0", "Tje0")}).status_code == 200
    assert strict.post(SEND, json=BODY, headers={"Authorization": basic("tje0", "wrong")}).status_code == 401
    assert strict.post(SEND, json=BODY, headers={"Authorization": "SOTicket 7T:abc123"}).status_code == 200
    assert strict.post(SEND, json=BODY, headers={"Authorization": "SOTicket 7T:abc124"}).status_code == 401
    assert strict.post(SEND, json=BODY, headers={"Authorization": "Bearer 8A:Cust12345.tok"}).status_code == 200
    assert strict.post(SEND, json=BODY, headers={"Authorization": "Bearer 8A:Cust12345.other"}).status_code == 401
    assert strict.get("/api/v2/me", headers={"Authorization": basic("x", "y")}).status_code == 401
    strict.cookies.clear()
    session = gws_login(strict, basic("tje0", "Tje0"))
    assert strict.post(GWS_SEND, json=GWS_BODY, headers=session).status_code == 200


def test_gws_401_has_the_gws_shape(client: TestClient) -> None:
    client.cookies.clear()
    response = client.get("/api/v2/me")
    assert response.status_code == 401
    assert response.json() == {"statusCode": 20, "statusMessage": response.json()["statusMessage"]}
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    without_csrf = mock_settings(gws_csrf=False)
    with create_app(without_csrf).test_client() as plain:
        response = plain.post(GWS_SEND, json=GWS_BODY)
        assert response.status_code == 401
        assert response.json()["statusCode"] == 20
        assert plain.post(GWS_SEND, json=GWS_BODY, headers=AUTH).status_code == 200  # Basic alone will do


def test_credentials_never_reach_the_log(strict: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    strict.post(SEND, json=BODY, headers={"Authorization": basic("tje0", "s3cr3t-pw")})
    strict.post(SEND, json=BODY, headers={"Authorization": "SOTicket 7T:t1ck3t-secret"})
    strict.post(SEND, json=BODY, headers={"Authorization": "Bearer 8A:b3arer-secret"})
    logged = caplog.text
    for secret in ("s3cr3t-pw", "t1ck3t-secret", "b3arer-secret", "Tje0"):
        assert secret not in logged


def test_settings_repr_hides_credentials() -> None:
    text = repr(mock_settings(users=("tje0:Tje0",), tickets=("7T:abc",), tokens=("8A:x",)))
    assert "Tje0" not in text and "7T:abc" not in text and "8A:x" not in text


def test_auth_is_checked_before_the_body(client: TestClient) -> None:
    response = client.post(SEND, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


@pytest.mark.parametrize("time_zone", ["NO", "Mars/Olympus"])
def test_wrong_credentials_are_refused_before_parameters_and_a_form_body_are_bound(
    strict: TestClient, time_zone: str
) -> None:
    # As in ASP.NET Web API, authentication runs before model binding: the request of issue 14's seed-7 report
    # (form body, `$select`, SO-Language, SO-TimeZone) gets the 401, whatever is wrong with the rest of it.
    for body in ("Email.Subject=x&Email.To[0].Address=kari%40fjordtech.no", "Email[=%%%zz&&==", "\xff\xfe=1"):
        response = strict.post(
            "/api/v1/Agents/EMail/SaveToMailServer",
            params={"$select": "Subject,To/Address"},
            content=body.encode("latin-1"),
            headers={
                "Authorization": basic("tje0", "wrong"),
                "Content-Type": "application/x-www-form-urlencoded",
                "SO-Language": "x*",
                "SO-TimeZone": time_zone,
            },
        )
        assert response.status_code == 401, (body, response.text)


def test_app_token_can_be_made_mandatory_with_a_ticket() -> None:
    with create_app(mock_settings(seed=1, require_app_token=True)).test_client() as client:
        without = client.post(SEND, json=BODY, headers={"Authorization": "SOTicket 7T:abc"})
        ticket = {"Authorization": "SOTicket 7T:abc", "SO-AppToken": "f2398a3a"}
        with_token = client.post(SEND, json=BODY, headers=ticket)
        basic_only = client.post(SEND, json=BODY, headers=AUTH)
    assert without.status_code == 401
    assert with_token.status_code == 200
    assert basic_only.status_code == 200  # onsite Basic auth needs no app token


def test_online_restricted_answers_403_in_the_service_exception_shape() -> None:
    with create_app(mock_settings(seed=1, online_restricted=True)).test_client() as client:
        response = client.post(SEND, json=BODY, headers=AUTH)
    assert response.status_code == 403
    payload = response.json()
    assert payload["Error"] is True
    assert payload["ErrorType"] == "SoAccessDeniedException"
    assert "not available in Online" in payload["ErrorMessage"]
