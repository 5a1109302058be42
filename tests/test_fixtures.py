"""Every sample request printed on the vendor pages (kept under fixtures/) is answered with a valid 2xx."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import AUTH, gws_login
from tests.support import HttpRequest, sample_requests


@pytest.mark.parametrize("sample", sample_requests(), ids=lambda s: s.name)
def test_vendor_sample_request_gets_a_valid_2xx(client: TestClient, sample: HttpRequest) -> None:
    headers = dict(sample.headers)
    # The Genesys page prints the body only; GWS needs a session (Basic login, CSRF token) and a JSON content type.
    if sample.path.startswith("/api/v2/"):
        headers = {**gws_login(client), **headers}
    headers.setdefault("Authorization", AUTH["Authorization"])
    headers.setdefault("Content-Type", "application/json")
    response = client.request(sample.method, sample.path, content=sample.body, headers=headers)
    # The session app validates its own responses against the contract; a violation would be a 500 here.
    assert 200 <= response.status_code < 300, response.text
    assert response.headers["X-Mock-Seed"].isdigit()
    if response.status_code == 204:
        assert response.content == b""
    else:
        assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_samples_cover_all_four_operations() -> None:
    assert {s.operation_id for s in sample_requests()} == {
        "v1EMailAgent_SendEMails",
        "v1EMailAgent_SaveToMailServer",
        "v1EMailAgent_RelayMessage",
        "gwsEmail_Send",
    }


def test_send_emails_sample_with_empty_recipients_comes_back_unresolved(client: TestClient) -> None:
    sample = next(s for s in sample_requests() if s.name == "v1EMailAgent_SendEMails.docs-sample")
    response = client.post(sample.path, content=sample.body, headers=sample.headers)
    [email] = response.json()
    # The sample sends `{}` recipients: nothing to resolve, so no person is invented for them.
    assert len(email["To"]) == 2
    assert all(r["Address"] is None and r["PersonId"] == 0 for r in email["To"])
    assert email["Subject"] == "ratione"
    assert email["IsSent"] is True
    assert email["MessageID"] != "in"
