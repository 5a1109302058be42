"""The control API: outbox list and filters, namespaces, detail, raw, attachments, wait-for, reset."""

from __future__ import annotations

import base64
import email
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.tools.testing import running_mock
from tests.conftest import AUTH, GWS_SEND, RELAY, SEND, gws_login, mock_settings


@pytest.fixture
def client() -> Any:
    with create_app(mock_settings(seed=4, validate_responses=True)).test_client() as client:
        yield client


def send(client: TestClient, subject: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    headers = {**AUTH, **({"X-Mock-Namespace": namespace} if namespace else {})}
    mail = {
        "From": {"Address": "anna@nordlys.no"},
        "To": [{"Address": "kari@fjordtech.no"}],
        "Subject": subject,
        **extra,
    }
    response = client.post(SEND, json={"Emails": [mail]}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()[0]
    return result


def test_every_door_files_into_the_outbox(client: TestClient) -> None:
    send(client, "via SendEMails")
    client.post(RELAY, json={"Rfc822": "Subject: via relay\r\n\r\nx", "Recipients": ["a@b.no"]}, headers=AUTH)
    client.post("/api/v1/Agents/EMail/SaveToMailServer", json={"Email": {"Subject": "via save"}}, headers=AUTH)
    gws = {
        "operationName": "Send",
        "queueName": "q",
        "email": {"to": ["a@b.no"], "from": "c@d.no", "subject": "via gws"},
    }
    client.post(GWS_SEND, json=gws, headers=gws_login(client))
    listed = client.get("/_mock/outbox").json()
    assert listed["count"] == 4
    assert {i["operation"] for i in listed["items"]} == {
        "v1EMailAgent_SendEMails",
        "v1EMailAgent_RelayMessage",
        "v1EMailAgent_SaveToMailServer",
        "gwsEmail_Send",
    }
    assert [i["subject"] for i in listed["items"]] == ["via gws", "via save", "via relay", "via SendEMails"]
    assert all(i["status"] == "not-sent" and "delivery mode none" in i["note"] for i in listed["items"])


def test_filters(client: TestClient) -> None:
    send(client, "Kvartalsrapport")
    send(client, "Faktura", To=[{"Address": "lars@fjordtech.no"}])
    assert [i["subject"] for i in client.get("/_mock/outbox?subject=kvartal").json()["items"]] == ["Kvartalsrapport"]
    assert [i["subject"] for i in client.get("/_mock/outbox?to=LARS").json()["items"]] == ["Faktura"]
    assert client.get("/_mock/outbox?from=nordlys").json()["count"] == 2
    assert client.get("/_mock/outbox?operation=v1EMailAgent_RelayMessage").json()["count"] == 0
    assert client.get("/_mock/outbox?status=not-sent&limit=1").json() == {
        "count": 2,
        "items": [client.get("/_mock/outbox?limit=1").json()["items"][0]],
    }
    assert client.get("/_mock/outbox?status=bogus").status_code == 400


def test_namespaces_keep_parallel_tests_apart(client: TestClient) -> None:
    send(client, "mine", namespace="test-a")
    send(client, "theirs", namespace="test-b")
    mine = client.get("/_mock/outbox", headers={"X-Mock-Namespace": "test-a"}).json()
    assert [i["subject"] for i in mine["items"]] == ["mine"]
    assert client.get("/_mock/outbox").json()["count"] == 0
    other_id = client.get("/_mock/outbox", headers={"X-Mock-Namespace": "test-b"}).json()["items"][0]["id"]
    assert client.get(f"/_mock/outbox/{other_id}", headers={"X-Mock-Namespace": "test-a"}).status_code == 404
    assert client.delete("/_mock/outbox", headers={"X-Mock-Namespace": "test-a"}).json() == {"deleted": 1}
    assert client.get("/_mock/outbox", headers={"X-Mock-Namespace": "test-b"}).json()["count"] == 1


def test_namespace_as_query_parameter_for_plain_urls(client: TestClient) -> None:
    namespace = "team a/inbox"  # a space and a slash: the page must encode it, and so must the cid: links
    pdf = b"%PDF-1.4 " + bytes(range(256))
    send(
        client,
        "mine",
        namespace=namespace,
        HTMLBody='<p>Hei</p><img src="cid:logo">',
        Attachments=[
            {"Filename": "logo.png", "Type": "image/png", "Id": "logo", "Disposition": "inline", "Stream": "AAAA"},
            {"Filename": "rapport.pdf", "Type": "application/pdf", "Stream": base64.b64encode(pdf).decode()},
        ],
    )
    send(client, "theirs", namespace="test-b")
    mine = {"namespace": namespace}
    listed = client.get("/_mock/outbox", params=mine).json()
    assert [i["subject"] for i in listed["items"]] == ["mine"]
    mail_id = listed["items"][0]["id"]
    assert client.get("/_mock/outbox").json()["count"] == 0
    assert client.get("/_mock/outbox", params={"namespace": ""}).json()["count"] == 0

    # The header wins over the query parameter, a blank header too (it names the default namespace).
    both = client.get("/_mock/outbox", params=mine, headers={"X-Mock-Namespace": "test-b"}).json()
    assert [i["subject"] for i in both["items"]] == ["theirs"]
    assert client.get("/_mock/outbox", params=mine, headers={"X-Mock-Namespace": ""}).json()["count"] == 0
    assert (
        client.get(f"/_mock/outbox/{mail_id}", params=mine, headers={"X-Mock-Namespace": "test-b"}).status_code == 404
    )

    # Every route of one mail answers in its namespace and 404s in any other.
    attachments = client.get(f"/_mock/outbox/{mail_id}", params=mine).json()["attachments"]
    pdf_index = next(a["index"] for a in attachments if a["filename"] == "rapport.pdf")
    routes = ["", "/raw", "/html", f"/attachments/{pdf_index}"]
    for route in routes:
        assert client.get(f"/_mock/outbox/{mail_id}{route}", params=mine).status_code == 200, route
        assert client.get(f"/_mock/outbox/{mail_id}{route}", params={"namespace": "test-b"}).status_code == 404
        wrong = client.get(f"/_mock/outbox/{mail_id}{route}")
        assert wrong.status_code == 404, route
        assert wrong.headers["content-type"] == "application/problem+json"
    assert client.get(f"/_mock/outbox/{mail_id}/attachments/{pdf_index}", params=mine).content == pdf
    raw = client.get(f"/_mock/outbox/{mail_id}/raw", params=mine).content
    assert email.message_from_bytes(raw, policy=policy.default)["Subject"] == "mine"
    # The frame's inline images are plain URLs too: they carry the namespace of the page that asked.
    logo_index = next(a["index"] for a in attachments if a["filename"] == "logo.png")
    html = client.get(f"/_mock/outbox/{mail_id}/html", params=mine).text
    assert f'src="/_mock/outbox/{mail_id}/attachments/{logo_index}?namespace=team%20a%2Finbox"' in html

    found = client.get("/_mock/outbox/wait", params={**mine, "subject": "mine", "timeout": 0})
    assert found.status_code == 200 and found.json()["id"] == mail_id
    assert client.get("/_mock/outbox/wait", params={"subject": "mine", "timeout": 0}).status_code == 404
    assert client.delete(f"/_mock/outbox/{mail_id}").status_code == 404
    assert client.delete(f"/_mock/outbox/{mail_id}", params=mine).status_code == 204
    send(client, "again", namespace=namespace)
    assert client.delete("/_mock/outbox", params=mine).json() == {"deleted": 1}
    assert client.get("/_mock/outbox", headers={"X-Mock-Namespace": "test-b"}).json()["count"] == 1


def test_since_compares_instants_whatever_the_offset(client: TestClient) -> None:
    send(client, "Kvartalsrapport")
    created_at = client.get("/_mock/outbox").json()["items"][0]["created_at"]
    created = datetime.fromisoformat(created_at)
    oslo = timezone(timedelta(hours=1))

    def count(since: str) -> int:
        response = client.get("/_mock/outbox", params={"since": since})
        assert response.status_code == 200, response.text
        return int(response.json()["count"])

    def waited(since: str) -> int:
        return client.get("/_mock/outbox/wait", params={"since": since, "timeout": 0.2}).status_code

    five_minutes_ago = (created - timedelta(minutes=5)).astimezone(oslo).isoformat()
    in_five_minutes = (created + timedelta(minutes=5)).astimezone(oslo).isoformat()
    assert five_minutes_ago.endswith("+01:00")
    assert count(five_minutes_ago) == 1
    assert count(in_five_minutes) == 0
    assert waited(five_minutes_ago) == 200
    assert waited(in_five_minutes) == 404
    # The very instant of created_at, however it is written: `Z`, another offset, no offset (UTC), lower case.
    exactly_z = created_at.replace("+00:00", "Z")
    for same in (created_at, exactly_z, created.astimezone(oslo).isoformat(), created_at[:-6], exactly_z.lower()):
        assert count(same) == 1, same
        assert waited(same) == 200, same
    assert count((created + timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")) == 0
    assert count((created - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")) == 1
    # A `+` typed unencoded into a URL arrives as a space; it still means the offset.
    unencoded = client.get("/_mock/outbox?since=" + five_minutes_ago)
    assert unencoded.json()["count"] == 1
    assert client.get("/_mock/outbox?since=" + in_five_minutes).json()["count"] == 0
    # Extremes stay answers, not errors.
    assert count("0001-01-01T00:00:00+01:00") == 1
    assert count("9999-12-31T23:59:59-01:00") == 0
    assert count(datetime.now(UTC).isoformat()) == 0


@pytest.mark.parametrize("since", ["yesterday", "2025-13-01T00:00:00Z", "2025-11-03T09:30:00+25:00", "12:00", "0"])
def test_an_invalid_since_is_a_400_problem(client: TestClient, since: str) -> None:
    send(client, "Kvartalsrapport")
    for path in ("/_mock/outbox", "/_mock/outbox/wait"):
        started = time.monotonic()
        response = client.get(path, params={"since": since, "timeout": 5})
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 400 and problem["title"] == "Bad Request"
        assert "since" in problem["detail"] and since in problem["detail"]
        assert time.monotonic() - started < 2  # refused at once, not after waiting


def test_detail_raw_html_and_attachments(client: TestClient) -> None:
    pdf = b"%PDF-1.4 " + bytes(range(256))
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    out = send(
        client,
        "Med vedlegg",
        PlainBody="Se vedlegg.",
        HTMLBody='<p>Se <b>vedlegg</b></p><img src="cid:logo"><img src="http://127.0.0.1:9/track.png">',
        Attachments=[
            {"Filename": "rapport.pdf", "Type": "application/pdf", "Stream": base64.b64encode(pdf).decode()},
            {
                "Filename": "logo.png",
                "Type": "image/png",
                "Id": "logo",
                "Disposition": "inline",
                "Stream": base64.b64encode(png).decode(),
            },
        ],
        OutgoingConnectionInfo=None,
    )
    mail_id = client.get("/_mock/outbox").json()["items"][0]["id"]
    detail = client.get(f"/_mock/outbox/{mail_id}").json()
    assert detail["message_id"] == out["MessageID"]
    assert detail["text"].strip() == "Se vedlegg."
    assert "<b>vedlegg</b>" in detail["html"]
    assert {h["name"] for h in detail["headers"]} >= {"From", "To", "Subject", "Message-ID", "Date", "MIME-Version"}
    assert [(a["filename"], a["size"]) for a in detail["attachments"]] == [
        ("logo.png", len(png)),
        ("rapport.pdf", len(pdf)),
    ]
    assert detail["request"]["Email"]["Subject"] == "Med vedlegg"
    raw = client.get(f"/_mock/outbox/{mail_id}/raw")
    assert raw.headers["content-type"] == "message/rfc822"
    assert email.message_from_bytes(raw.content, policy=policy.default)["Message-ID"] == out["MessageID"]
    for attachment in detail["attachments"]:
        got = client.get(f"/_mock/outbox/{mail_id}/attachments/{attachment['index']}")
        assert got.content == (pdf if attachment["filename"] == "rapport.pdf" else png)
        assert got.headers["content-disposition"] == f'attachment; filename="{attachment["filename"]}"'
    page = client.get(f"/_mock/outbox/{mail_id}/html")
    assert "script-src" not in page.headers["content-security-policy"]
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert f'src="/_mock/outbox/{mail_id}/attachments/0"' in page.text  # cid: points at the attachment
    assert client.get(f"/_mock/outbox/{mail_id}/attachments/9").status_code == 404
    assert client.delete(f"/_mock/outbox/{mail_id}").status_code == 204
    assert client.get(f"/_mock/outbox/{mail_id}").status_code == 404


def test_wait_for_returns_a_mail_that_arrives_later() -> None:
    with running_mock(mock_settings(seed=5)) as mock, httpx.Client(base_url=mock.base_url, timeout=20) as client:
        before = client.get("/_mock/outbox").json()["count"]

        def later() -> None:
            time.sleep(0.3)
            client.post(
                SEND, json={"Emails": [{"To": [{"Address": "kari@x.no"}], "Subject": "Velkommen"}]}, headers=AUTH
            )

        sender = threading.Thread(target=later)
        started = time.monotonic()
        sender.start()
        found = client.get("/_mock/outbox/wait", params={"to": "kari@x.no", "subject": "velkommen", "timeout": 10})
        waited = time.monotonic() - started
        sender.join()
        assert before == 0
        assert found.status_code == 200
        assert found.json()["subject"] == "Velkommen"
        assert waited >= 0.3
        gone = client.get("/_mock/outbox/wait", params={"subject": "never", "timeout": 0.3})
        assert gone.status_code == 404
        assert gone.headers["content-type"] == "application/problem+json"


def test_inbox_page_is_served(client: TestClient) -> None:
    page = client.get("/_mock/inbox")
    assert page.status_code == 200
    assert "<title>mockserver inbox</title>" in page.text
