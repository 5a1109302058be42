"""The CometD notification that reports a GWS Send's outcome (EmailStateChangeMessage on /v2/me/emails)."""

from __future__ import annotations

import asyncio
import string
import time
from typing import Any

import orjson
import pytest

from mockserver.genesys import notify
from mockserver.genesys.state import Genesys
from mockserver.mail import mime
from mockserver.mail.ingest import Notice, Outcome, Submission
from mockserver.mail.outbox import FAILED, NOT_SENT, SENT
from mockserver.runtime import Runtime
from tests.conftest import mock_settings

INTERACTION = "0071023821aec011"
EMAIL: dict[str, Any] = {
    "body": "<p>Feels like good.</p>",
    "to": ["qwerty@gplus-w2k3-gf80", "bruce.one@witcher.xyz"],
    "cc": ["alan.key@bestbuy.com"],
    "bcc": ["brad.johnson@bestbuy.com"],
    "from": "htcc@gplus-w2k3-gf80",
    "subject": "HelloEmail",
}


def submission(email: dict[str, Any] | None = None, **overrides: Any) -> Submission:
    values: dict[str, Any] = {
        "operation": notify.SEND_OPERATION,
        "message_id": "<m@gplus>",
        "envelope_from": "htcc@gplus-w2k3-gf80",
        "recipients": ["qwerty@gplus-w2k3-gf80"],
        "mail": mime.Written(b"Subject: HelloEmail\r\n\r\nFeelslikegood.\r\n", "HelloEmail", None, None),
        "request": {
            "id": INTERACTION,
            "operationName": "Send",
            "queueName": "q",
            "email": EMAIL if email is None else email,
        },
        "user": "agent",
        "reference_id": 26,
        "notice": Notice("http://gws.example:8090"),
    }
    values.update(overrides)
    return Submission(**values)


# -- ucs_id -----------------------------------------------------------------------------------------------------


def test_ucs_ids_look_like_universal_contact_server_ids() -> None:
    found = notify.ucs_id(1, "qwerty@gplus-w2k3-gf80")
    assert len(found) == 16 and found.startswith("0000")
    assert set(found) <= set(string.digits + string.ascii_letters)


def test_ucs_ids_are_stable_per_key_within_a_run() -> None:
    assert notify.ucs_id(1, "a@x") == notify.ucs_id(1, "a@x")
    assert notify.ucs_id(1, "a@x") != notify.ucs_id(1, "b@x")
    assert notify.ucs_id(1, "a@x") != notify.ucs_id(2, "a@x")
    assert len({notify.ucs_id(1, f"user{n}@x") for n in range(500)}) == 500


# -- state_change -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [SENT, NOT_SENT])
def test_a_sent_mail_is_a_status_change_to_sent_with_no_capabilities_left(status: str) -> None:
    data = notify.state_change(submission(), Outcome(1, status), run_seed=5)
    assert list(data) == ["referenceId", "notificationType", "messageType", "email"]
    assert data["referenceId"] == 26
    assert data["notificationType"] == "StatusChange" and data["messageType"] == "EmailStateChangeMessage"
    email = data["email"]
    assert list(email) == [
        "body",
        "userData",
        "from",
        "uri",
        "capabilities",
        "to",
        "cc",
        "bcc",
        "state",
        "mime",
        "id",
        "emailType",
        "subject",
    ]
    assert email["id"] == INTERACTION and email["state"] == "Sent" and email["capabilities"] == []
    assert email["uri"] == f"http://gws.example:8090/api/v2/email/{INTERACTION}"
    assert email["to"] == EMAIL["to"] and email["cc"] == EMAIL["cc"] and email["bcc"] == EMAIL["bcc"]
    assert email["from"] == EMAIL["from"] and email["subject"] == "HelloEmail" and email["body"] == EMAIL["body"]
    assert email["mime"] == "text/html" and email["emailType"] == "Outbound"
    assert email["userData"] == {
        "ContactId": notify.ucs_id(5, "qwerty@gplus-w2k3-gf80"),
        "FromAddress": "qwerty@gplus-w2k3-gf80",
        "Mailbox": "htcc@gplus-w2k3-gf80",
        "Subject": "HelloEmail",
        "_AttachmentsSize": 0,
    }


def test_a_failed_mail_is_an_error_and_stays_a_draft_the_agent_can_send_again() -> None:
    outcome = Outcome(1, FAILED, error="smtp://127.0.0.1:25: ConnectionRefusedError")
    data = notify.state_change(submission(), outcome, run_seed=5)
    assert list(data) == ["referenceId", "notificationType", "messageType", "email", "errorMessage"]
    assert data["notificationType"] == "Error" and data["referenceId"] == 26
    assert data["errorMessage"] == "smtp://127.0.0.1:25: ConnectionRefusedError"
    assert data["email"]["state"] == "Composing"
    assert data["email"]["capabilities"] == notify.COMPOSING_CAPABILITIES and "Send" in notify.COMPOSING_CAPABILITIES
    data["email"]["capabilities"].clear()
    assert "Send" in notify.COMPOSING_CAPABILITIES  # each notification has its own list


def test_an_error_without_a_reason_still_says_what_happened() -> None:
    data = notify.state_change(submission(), Outcome(1, FAILED), run_seed=5)
    assert data["errorMessage"] == "The e-mail could not be sent."


def test_only_what_the_request_had_is_reported() -> None:
    email = {"to": ["kari@fjordtech.no"], "from": "ops@nordlys.no", "bodyAsPlainText": "Hei", "mime": "text/plain"}
    data = notify.state_change(submission(email), Outcome(1, SENT), run_seed=5)["email"]
    assert "cc" not in data and "bcc" not in data and "subject" not in data and "body" not in data
    assert data["bodyAsPlainText"] == "Hei" and data["mime"] == "text/plain"
    assert data["userData"]["Subject"] == ""
    empty_lists = {**email, "cc": [], "bcc": None}
    assert "cc" not in notify.state_change(submission(empty_lists), Outcome(1, SENT), run_seed=5)["email"]


def test_without_recipients_the_contact_is_the_interaction() -> None:
    data = notify.state_change(submission({"from": "ops@nordlys.no"}), Outcome(1, SENT), run_seed=5)["email"]
    assert data["to"] == [] and data["userData"]["FromAddress"] == ""
    assert data["userData"]["ContactId"] == notify.ucs_id(5, INTERACTION)


def test_without_a_notice_the_uri_is_relative() -> None:
    data = notify.state_change(submission(notice=None), Outcome(1, SENT), run_seed=5)
    assert data["email"]["uri"] == f"/api/v2/email/{INTERACTION}"


# -- the listener, with the real CometD engine -----------------------------------------------------------------


def subscribe(genesys: Genesys, user: str) -> str:
    async def scenario() -> str:
        handshake = {
            "id": "1",
            "channel": "/meta/handshake",
            "version": "1.0",
            "supportedConnectionTypes": ["long-polling"],
        }
        [reply] = await genesys.bayeux.handle([handshake], user)
        client_id = str(reply["clientId"])
        [sub] = await genesys.bayeux.handle(
            [{"id": "2", "channel": "/meta/subscribe", "subscription": "/v2/me/emails", "clientId": client_id}], user
        )
        assert sub["successful"] is True
        return client_id

    return asyncio.run(scenario())


def events(genesys: Genesys, user: str, client_id: str) -> list[dict[str, Any]]:
    connect = {
        "id": "3",
        "channel": "/meta/connect",
        "connectionType": "long-polling",
        "clientId": client_id,
        "advice": {"timeout": 0},  # answered at once
    }
    replies = asyncio.run(genesys.bayeux.handle([connect], user))
    assert replies[-1]["channel"] == "/meta/connect" and replies[-1]["successful"] is True
    return [r for r in replies if "data" in r]


def report(genesys: Genesys, sub: Submission, outcome: Outcome) -> None:
    """What ingest does with a background outcome: hand it to the GWS listener the wiring registers."""

    async def run() -> None:
        await notify.listener_for(genesys)([(sub, outcome)])

    asyncio.run(run())


def test_the_listener_publishes_the_outcome_to_the_sending_user_only() -> None:
    genesys = Genesys(Runtime(mock_settings(seed=5)))
    mine, theirs = subscribe(genesys, "agent"), subscribe(genesys, "other")
    report(genesys, submission(), Outcome(1, SENT))
    [event] = events(genesys, "agent", mine)
    assert event["channel"] == notify.EMAILS_CHANNEL
    assert event["data"] == notify.state_change(submission(), Outcome(1, SENT), genesys.run_seed)
    assert events(genesys, "other", theirs) == []


@pytest.mark.parametrize(
    "overrides",
    [{"operation": "v1EMailAgent_SendEMails"}, {"notice": None}, {"user": None}],
)
def test_the_listener_ignores_what_is_not_a_gws_send_to_report(overrides: dict[str, Any]) -> None:
    genesys = Genesys(Runtime(mock_settings(seed=5)))
    client_id = subscribe(genesys, "agent")
    report(genesys, submission(**overrides), Outcome(1, SENT))
    assert events(genesys, "agent", client_id) == []


def test_the_listener_waits_the_requested_delay() -> None:
    genesys = Genesys(Runtime(mock_settings(seed=5)))
    client_id = subscribe(genesys, "agent")
    started = time.monotonic()
    report(genesys, submission(notice=Notice("", 300)), Outcome(1, FAILED))
    assert time.monotonic() - started >= 0.3
    [event] = events(genesys, "agent", client_id)
    assert event["data"]["notificationType"] == "Error"


def test_outcomes_told_together_are_each_published_after_their_own_delay() -> None:
    """One call of the listener with a notice due at once and one due in 1 s: the first is queued for the client
    at once, the second only after its delay."""
    genesys = Genesys(Runtime(mock_settings(seed=5)))
    client_id = subscribe(genesys, "agent")
    later = submission(notice=Notice("", 1000), reference_id=1)
    now = submission(notice=Notice("", 0), reference_id=2)

    def queued() -> list[int]:
        with genesys.bayeux.db.locked() as conn:
            rows = conn.execute("SELECT message FROM bayeux_queue ORDER BY id").fetchall()
        return [orjson.loads(message)["data"]["referenceId"] for (message,) in rows]

    async def scenario() -> tuple[list[int], float]:
        started = time.monotonic()
        told = asyncio.create_task(notify.listener_for(genesys)([(later, Outcome(1, SENT)), (now, Outcome(2, SENT))]))
        while not queued() and time.monotonic() - started < 0.9:  # bounded: the first is due at once
            await asyncio.sleep(0.01)
        early = queued()
        await told
        return early, time.monotonic() - started

    queued_early, took = asyncio.run(scenario())
    assert queued_early == [2]
    assert took >= 1.0
    assert [e["data"]["referenceId"] for e in events(genesys, "agent", client_id)] == [2, 1]
