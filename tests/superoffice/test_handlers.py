"""SuperOffice EMail agent handlers, through the in-process app."""

from __future__ import annotations

import base64
import email
from email import policy
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.app import runtime_of
from tests.conftest import AUTH, RELAY, SAVE, SEND, mock_settings

PDF = base64.b64encode(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n").decode()


def mail(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "From": {"Address": "anna.berg@nordlys.no"},
        "To": [{"Address": "kari.nilsen@fjordtech.no"}, {"Address": "lars.holm@fjordtech.no", "Name": "Lars H."}],
        "Cc": [{"Address": "ops@fjordtech.no"}],
        "Subject": "Kvartalsrapport",
        "PlainBody": "Hei Kari, rapporten ligger vedlagt.",
        "HTMLBody": "<p>Hei Kari, rapporten ligger vedlagt.</p>",
        "Priority": "High",
        "Attachments": [{"Filename": "rapport.pdf", "Type": "application/pdf", "Stream": PDF}],
        "CustomHeaderList": [{"Name": "X-Campaign", "Values": ["q3"]}],
    }
    base.update(overrides)
    return base


def send(client: TestClient, body: dict[str, Any], query: str = "", **headers: str) -> Any:
    response = client.post(SEND + query, json=body, headers={**AUTH, **headers})
    assert response.status_code == 200, response.text
    return response


def test_send_returns_each_mail_in_request_order_updated_as_sent(client: TestClient) -> None:
    subjects = [f"Mail {n}" for n in range(5)]
    body = {"Emails": [mail(Subject=s) for s in subjects]}
    result = send(client, body).json()
    assert [m["Subject"] for m in result] == subjects
    ids = [m["MessageID"] for m in result]
    assert len(set(ids)) == 5
    for item in result:
        assert item["IsSent"] is True
        assert item["Flags"] == "Seen"
        assert item["MessageID"].startswith("<") and item["MessageID"].endswith("@nordlys.no>")
        assert item["ServerId"] > 0 and item["EmailItemId"] > 0
        assert item["Sent"].endswith("+02:00")  # frozen clock in May, Europe/Oslo
        assert len(item["Sent"].split(".")[1]) == len("0000000+02:00")


def test_sent_items_folder_is_reported_when_a_copy_is_requested(client: TestClient) -> None:
    body = {
        "Emails": [mail()],
        "SentItemsConnectionInfo": {"ServerName": "imap.nordlys.no", "Folder": "Sendte elementer"},
    }
    assert send(client, body).json()[0]["FolderName"] == "Sendte elementer"
    body = {"Emails": [mail(FolderName="Inbox")], "SentItemsConnectionInfo": {"ServerName": "imap.nordlys.no"}}
    assert send(client, body).json()[0]["FolderName"] == "Sent"
    body = {"Emails": [mail(FolderName="Kladd")]}
    assert send(client, body).json()[0]["FolderName"] == "Kladd"


def test_what_the_client_sent_comes_back_unchanged(client: TestClient) -> None:
    sent = mail()
    [out] = send(client, {"Emails": [sent]}).json()
    for key in ("Subject", "PlainBody", "HTMLBody", "Priority"):
        assert out[key] == sent[key]
    assert [r["Address"] for r in out["To"]] == [r["Address"] for r in sent["To"]]
    assert out["To"][1]["Name"] == "Lars H."  # a name the client gave is not replaced
    assert out["Attachments"][0]["Stream"] == PDF
    assert out["Attachments"][0]["Filename"] == "rapport.pdf"
    assert out["Attachments"][0]["Size"] == len(base64.b64decode(PDF))
    assert out["CustomHeaderList"][0]["Name"] == "X-Campaign"
    assert out["CustomHeaderList"][0]["Values"] == ["q3"]


def test_an_attachment_is_described_by_the_client_or_by_its_file_name(client: TestClient) -> None:
    described = {"Filename": "a.pdf", "Description": "Kvartalsrapport", "Stream": PDF}
    [out] = send(client, {"Emails": [mail(Attachments=[described, {"Filename": "b.pdf", "Stream": PDF}, {}])]}).json()
    assert [a["Description"] for a in out["Attachments"]] == ["Kvartalsrapport", "b.pdf", None]


def test_recipients_are_enriched_consistently(client: TestClient) -> None:
    first = send(client, {"Emails": [mail()]}).json()[0]["To"][0]
    again = send(client, {"Emails": [mail(Subject="another")]}).json()[0]["Cc"]
    as_cc = send(client, {"Emails": [mail(Cc=[{"Address": "KARI.NILSEN@fjordtech.no"}])]}).json()[0]["Cc"][0]
    assert first["PersonName"] == "Kari Nilsen" == first["Name"]
    assert first["ContactName"].startswith("Fjordtech")
    assert first["PersonId"] > 0 and first["ContactId"] > 0
    for key in ("ContactId", "ContactName", "PersonId", "PersonName", "EmailId"):
        assert as_cc[key] == first[key], key
    assert again[0]["Address"] == "ops@fjordtech.no"
    assert again[0]["ContactId"] == first["ContactId"]  # same company domain, same contact


def test_size_is_the_size_of_the_mime_message_and_ids_match() -> None:
    app = create_app(mock_settings(seed=5))
    with app.test_client() as own:
        [out] = send(own, {"Emails": [mail()]}).json()
    submission = runtime_of(app).mail.accepted[-1]
    raw = submission.stored_bytes()
    assert out["Size"] == len(raw)
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"] == out["MessageID"] == submission.message_id
    assert parsed["Subject"] == "Kvartalsrapport"
    assert parsed["X-Priority"].startswith("2")
    assert parsed["To"].addresses[0].display_name == "Kari Nilsen"
    assert submission.recipients == ["kari.nilsen@fjordtech.no", "lars.holm@fjordtech.no", "ops@fjordtech.no"]
    assert submission.envelope_from == "anna.berg@nordlys.no"


def test_passwords_in_connection_infos_are_not_kept() -> None:
    app = create_app(mock_settings(seed=5))
    with app.test_client() as own:
        body = {
            "Emails": [mail()],
            "OutgoingConnectionInfo": {"ServerName": "smtp.nordlys.no", "UserName": "anna", "Password": "hemmelig"},
            "SentItemsConnectionInfo": {"ServerName": "imap.nordlys.no", "Password": "hemmelig", "Folder": "Sent"},
        }
        response = send(own, body)
    assert "hemmelig" not in response.text
    kept = runtime_of(app).mail.accepted[-1]
    assert "hemmelig" not in repr(kept.request)


def test_an_empty_or_missing_mail_list_sends_nothing(client: TestClient) -> None:
    assert send(client, {"Emails": []}).json() == []
    assert send(client, {}).json() == []
    assert send(client, {"Emails": None}).json() == []


def test_select_nulls_out_unselected_properties_on_every_element(client: TestClient) -> None:
    result = send(client, {"Emails": [mail(), mail(Subject="b")]}, query="?$select=subject,to/address,MessageID").json()
    for item in result:
        assert item["Subject"] and item["MessageID"]
        assert item["PlainBody"] is None and item["Size"] is None and item["IsSent"] is None
        assert all(r["Address"] and r["PersonName"] is None for r in item["To"])
        assert set(item) >= {"Cc", "From", "Attachments"}  # nulled, not removed


def test_save_to_mail_server_assigns_ids_and_folder(client: TestClient) -> None:
    draft = mail(IsSent=False, MessageID="not-a-message-id")
    response = client.post(SAVE, json={"Email": draft}, headers=AUTH)
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["FolderName"] == "Drafts"
    assert saved["Flags"] == "Seen, Draft"
    assert saved["ServerId"] > 0 and saved["EmailItemId"] > 0
    assert saved["MessageID"] != "not-a-message-id" and saved["MessageID"].endswith("@nordlys.no>")
    kept = client.post(
        SAVE, json={"Email": mail(IsSent=True, MessageID="<abc@x.no>", FolderName="Arkiv")}, headers=AUTH
    )
    assert kept.json()["MessageID"] == "<abc@x.no>"
    assert kept.json()["FolderName"] == "Arkiv"


def test_a_large_attachment_is_echoed_exactly_in_a_pieced_answer(client: TestClient) -> None:
    """The answer leaves the echoed `Stream`s out of its serialised bytes and escapes them as it sends
    (`Call._json_pieces`): two of them, one wrapped in CRLF lines that JSON must escape, come back as sent."""
    blob = bytes(range(256)) * 600
    wrapped = base64.encodebytes(blob).decode().replace("\n", "\r\n")
    plain = base64.b64encode(blob[::-1]).decode()
    files = [{"Filename": "a.bin", "Stream": wrapped}, {"Filename": "b.bin", "Stream": plain}]
    for path, body in ((SEND, {"Emails": [mail(Attachments=files)]}), (SAVE, {"Email": mail(Attachments=files)})):
        response = client.post(path, json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        assert int(response.headers["content-length"]) == len(response.content)
        answer = response.json()
        out = answer[0] if isinstance(answer, list) else answer
        assert [a["Stream"] for a in out["Attachments"]] == [wrapped, plain]
        assert [a["Size"] for a in out["Attachments"]] == [len(blob), len(blob)]


@pytest.mark.parametrize("given", ["<møte@x.no>", '<a"b,c(d)@x.no>', "<a@b@c>", "<.a@b>"])
def test_save_to_mail_server_replaces_a_message_id_no_reader_would_take_back(client: TestClient, given: str) -> None:
    """A non-ASCII one was a 500 (the stdlib cannot write it); the others read back as something else."""
    response = client.post(SAVE, json={"Email": mail(IsSent=True, MessageID=given)}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["MessageID"] != given and response.json()["MessageID"].endswith("@nordlys.no>")


def test_save_to_mail_server_with_nothing_to_save_answers_null(client: TestClient) -> None:
    for body in ({"Email": None}, {}):
        response = client.post(SAVE, json=body, headers=AUTH)
        assert response.status_code == 200
        assert response.content == b"null"


def test_relay_message_accepts_the_vendor_sample_and_keeps_the_text() -> None:
    app = create_app(mock_settings(seed=5))
    rfc822 = "From: a@nordlys.no\r\nTo: b@fjordtech.no\r\nSubject: Hei\r\nMessage-ID: <m1@nordlys.no>\r\n\r\nHei!\r\n"
    with app.test_client() as own:
        response = own.post(
            RELAY, json={"Rfc822": rfc822, "From": "a@nordlys.no", "Recipients": ["b@fjordtech.no"]}, headers=AUTH
        )
        word = own.post(RELAY, json={"Rfc822": "est", "From": "reprehenderit", "Recipients": ["odio"]}, headers=AUTH)
    assert response.status_code == 204 and response.content == b""
    assert word.status_code == 204
    first, second = list(runtime_of(app).mail.accepted)[-2:]
    assert first.stored_bytes() == rfc822.encode() == first.transmitted_bytes()
    assert first.message_id == "<m1@nordlys.no>"
    assert first.recipients == ["b@fjordtech.no"]
    assert second.stored_bytes() == b"est" and second.envelope_from == "reprehenderit"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"Rfc822": "", "Recipients": ["a@b.no"]}, "Rfc822"),
        ({"Rfc822": "   \r\n ", "Recipients": ["a@b.no"]}, "Rfc822"),
        ({"Rfc822": "x", "Recipients": []}, "Recipients"),
        ({"Rfc822": "x"}, "Recipients"),
        ({"Recipients": ["a@b.no"]}, "Rfc822"),
        ({"Rfc822": "x", "Recipients": [""]}, "Recipients"),
    ],
)
def test_relay_message_without_message_or_recipients_is_a_400(
    client: TestClient, body: dict[str, Any], detail: str
) -> None:
    response = client.post(RELAY, json=body, headers=AUTH)
    assert response.status_code == 400
    payload = response.json()
    assert payload["Message"] == "The request is invalid."
    assert detail in payload["MessageDetail"]
