"""Genesys GWS e-mail Send, through the in-process app."""

from __future__ import annotations

import email
from email import policy
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.app import runtime_of
from tests.conftest import AUTH, GWS_SEND, basic, gws_login, mock_settings

SAMPLE: dict[str, Any] = {
    "operationName": "Send",
    "queueName": "Forwarde-mails",
    "email": {
        "body": "Feelslikegood.",
        "to": ["qwerty@gplus-w2k3-gf80", "bruce.one@witcher.xyz"],
        "cc": ["alan.key@bestbuy.com"],
        "bcc": ["brad.johnson@bestbuy.com"],
        "from": "htcc@gplus-w2k3-gf80",
        "subject": "HelloEmail",
    },
}


def test_send_answers_status_zero_with_a_reference_id_per_user() -> None:
    app = create_app(mock_settings(seed=9))
    with app.test_client() as client:
        session = gws_login(client)
        first = client.post(GWS_SEND, json=SAMPLE, headers=session).json()
        second = client.post(GWS_SEND, json=SAMPLE, headers=session).json()
        other_session = gws_login(client, basic("agent2", "pw"))
        other = client.post(GWS_SEND, json=SAMPLE, headers=other_session).json()
    assert first == {"statusCode": 0, "referenceId": 1}
    assert second == {"statusCode": 0, "referenceId": 2}
    assert other == {"statusCode": 0, "referenceId": 1}
    submission = runtime_of(app).mail.accepted[-1]
    assert submission.reference_id == 1 and submission.user == "agent2"
    parsed = email.message_from_bytes(submission.stored_bytes(), policy=policy.default)
    assert parsed["Subject"] == "HelloEmail"
    assert parsed["From"] == "htcc@gplus-w2k3-gf80"
    assert parsed.get_content_type() == "text/html"
    assert submission.recipients == [
        "qwerty@gplus-w2k3-gf80",
        "bruce.one@witcher.xyz",
        "alan.key@bestbuy.com",
        "brad.johnson@bestbuy.com",
    ]


def without(path: str) -> dict[str, Any]:
    body = {**SAMPLE, "email": dict(SAMPLE["email"])}
    head, _, leaf = path.rpartition(".")
    target = body["email"] if head == "email" else body
    del target[leaf]
    return body


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        (without("queueName"), 1, "queueName"),
        (without("operationName"), 1, "operationName"),
        (without("email"), 1, "email"),
        (without("email.to"), 1, "email.to"),
        (without("email.from"), 1, "email.from"),
        ({**SAMPLE, "email": {**SAMPLE["email"], "to": []}}, 1, "email.to"),
        ({**SAMPLE, "queueName": ""}, 1, "queueName"),
        ({**SAMPLE, "operationName": "Reply"}, 2, "operationName"),
        ({**SAMPLE, "email": {**SAMPLE["email"], "to": ["not an address"]}}, 2, "email.to[0]"),
        ({**SAMPLE, "saveLAR": "yes"}, 2, "saveLAR"),
    ],
)
def test_invalid_send_gets_the_documented_status_code(
    client: TestClient, body: dict[str, Any], code: int, text: str
) -> None:
    response = client.post(GWS_SEND, json=body, headers=gws_login(client))
    assert response.status_code == 400
    payload = response.json()
    assert set(payload) == {"statusCode", "statusMessage"}
    assert payload["statusCode"] == code
    assert text in payload["statusMessage"]


def test_interaction_id_must_look_like_one(client: TestClient) -> None:
    response = client.post("/api/v2/me/emails/short", json=SAMPLE, headers=gws_login(client))
    assert response.status_code == 400
    assert response.json()["statusCode"] == 2


def test_an_unsupported_content_type_is_named_as_gws_names_it(client: TestClient) -> None:
    response = client.post(GWS_SEND, content=b"x", headers={**gws_login(client), "Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json() == {
        "statusCode": 2,
        "statusMessage": "Content type 'text/plain' is not supported; send application/json",
    }


def test_gws_errors_never_use_the_superoffice_shape(client: TestClient) -> None:
    client.cookies.clear()
    anonymous = client.post(GWS_SEND, json=SAMPLE)
    session = gws_login(client)
    for response in (
        anonymous,
        client.post(GWS_SEND, content=b"{", headers={**session, "Content-Type": "application/json"}),
        client.post(GWS_SEND, content=b"x", headers={**session, "Content-Type": "text/plain"}),
        client.get(GWS_SEND, headers=AUTH),
        client.post("/api/v2/me/nothing-here", json=SAMPLE, headers=session),
        client.post(GWS_SEND, json=SAMPLE, headers=AUTH),  # no CSRF token
    ):
        assert set(response.json()) == {"statusCode", "statusMessage"}, response.text
        assert response.json()["statusCode"] > 0
