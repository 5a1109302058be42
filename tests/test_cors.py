"""CORS: any origin by default, the vendor and control headers allowed and exposed; restrictable."""

from __future__ import annotations

from starlette.testclient import TestClient

from mockserver import create_app
from tests.conftest import AUTH, SEND, mock_settings

ORIGIN = "http://localhost:5173"


def test_preflight_is_answered_with_the_vendor_and_control_headers(client: TestClient) -> None:
    response = client.options(
        SEND,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, so-language, so-timezone, prefer, "
            "x-xsrf-token",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "so-language", "so-timezone", "so-apptoken", "prefer", "x-xsrf-token"):
        assert header in allowed


def test_responses_and_errors_expose_the_mock_headers(client: TestClient) -> None:
    ok = client.post(SEND, json={"Emails": []}, headers={**AUTH, "Origin": ORIGIN})
    denied = client.post(SEND, json={"Emails": []}, headers={"Origin": ORIGIN})
    for response in (ok, denied):
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        exposed = response.headers["Access-Control-Expose-Headers"]
        assert "X-Mock-Seed" in exposed and "WWW-Authenticate" in exposed and "X-CSRF-TOKEN" in exposed
    assert denied.status_code == 401


def test_origins_can_be_restricted() -> None:
    with create_app(mock_settings(seed=1, cors_origins=("https://app.example",))).test_client() as client:
        allowed = client.post(SEND, json={"Emails": []}, headers={**AUTH, "Origin": "https://app.example"})
        other = client.post(SEND, json={"Emails": []}, headers={**AUTH, "Origin": ORIGIN})
        preflight = client.options(SEND, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Access-Control-Allow-Origin" not in other.headers
    assert preflight.status_code == 400
