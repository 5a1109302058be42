"""The one door every accepted mail passes through: the outbox row first, then delivery, then its outcome."""

from __future__ import annotations

import asyncio
import copy
import email
import json
import socket
from collections.abc import Iterator, Sequence
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from mockserver.mail import delivery, ingest, mime
from mockserver.mail.delivery import Endpoint, Plan
from mockserver.mail.ingest import Mailroom, Notice, Outcome, Submission, without_secrets
from mockserver.mail.outbox import FAILED, NOT_SENT, QUEUED, SENT, Filters, Outbox
from mockserver.mail.sink import Sink
from mockserver.tools.testing import free_port
from tests.conftest import mock_settings

# -- without_secrets --------------------------------------------------------------------------------------------


def test_every_password_is_dropped_at_any_depth_whatever_its_case() -> None:
    request = {
        "Password": "top",
        "Emails": [{"Subject": "Hei", "Attachments": [{"password": "in-a-list"}]}],
        "OutgoingConnectionInfo": {"ServerName": "smtp.nordlys.no", "UserName": "anna", "PASSWORD": "deep"},
        "Nested": [[{"Inner": {"pAsSwOrD": "deeper", "Port": 587}}]],
    }
    cleaned = without_secrets(request)
    assert cleaned == {
        "Password": None,
        "Emails": [{"Subject": "Hei", "Attachments": [{"password": None}]}],
        "OutgoingConnectionInfo": {"ServerName": "smtp.nordlys.no", "UserName": "anna", "PASSWORD": None},
        "Nested": [[{"Inner": {"pAsSwOrD": None, "Port": 587}}]],
    }
    for secret in ("top", "in-a-list", "deep", "deeper"):
        assert secret not in repr(cleaned)


def test_without_secrets_leaves_its_input_alone() -> None:
    request: dict[str, Any] = {"Info": {"Password": "hemmelig", "Hosts": [{"Password": "x"}]}, "Keep": [1, "a"]}
    before = copy.deepcopy(request)
    cleaned = without_secrets(request)
    assert request == before
    assert cleaned["Info"] is not request["Info"] and cleaned["Info"]["Hosts"] is not request["Info"]["Hosts"]
    assert cleaned["Keep"] == [1, "a"] and cleaned["Keep"] is not request["Keep"]


@pytest.mark.parametrize("value", [None, 3, "Password", b"raw", 1.5, True])
def test_scalars_pass_through(value: Any) -> None:
    assert without_secrets(value) == value


# -- Submission -------------------------------------------------------------------------------------------------


def message(bcc: str | None = "hemmelig@fjordtech.no") -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "Anna Berg <anna.berg@nordlys.no>"
    msg["To"] = "Kari Nilsen <kari.nilsen@fjordtech.no>"
    if bcc:
        msg["Bcc"] = bcc
    msg["Subject"] = "Kvartalsrapport"
    msg["Message-ID"] = "<q3@nordlys.no>"
    msg.set_content("Hei Kari, rapporten ligger vedlagt.\n")
    return msg


def submission(msg: EmailMessage | None = None, raw: bytes | None = None, **overrides: Any) -> Submission:
    """A submission of `msg` as the stdlib writes it, or of a client's own text `raw` (RelayMessage)."""
    if raw is not None:
        head = mime.parse_rfc822_headers(raw)
        written = mime.Written(raw, *(mime.safe_header(head, h) for h in ("Subject", "From", "To")))
    else:
        written = mime.Written.of_message(msg if msg is not None else message())
    values: dict[str, Any] = {
        "operation": "v1EMailAgent_SendEMails",
        "message_id": "<q3@nordlys.no>",
        "envelope_from": "anna.berg@nordlys.no",
        "recipients": ["kari.nilsen@fjordtech.no", "hemmelig@fjordtech.no"],
        "mail": written,
    }
    values.update(overrides)
    return Submission(**values)


def test_the_stored_message_is_what_the_outbox_keeps() -> None:
    sub = submission()
    assert sub.stored_bytes() is sub.mail.stored
    assert b"Subject: Kvartalsrapport" in sub.stored_bytes()
    assert sub.size() == len(sub.stored_bytes())


def test_transmitted_bytes_drop_bcc_which_the_stored_bytes_keep() -> None:
    sub = submission()
    stored = email.message_from_bytes(sub.stored_bytes(), policy=policy.default)
    sent = email.message_from_bytes(sub.transmitted_bytes(), policy=policy.default)
    assert stored["Bcc"] == "hemmelig@fjordtech.no"
    assert "Bcc" not in sent and b"hemmelig" not in sub.transmitted_bytes()
    for header in ("From", "To", "Subject", "Message-ID"):
        assert sent[header] == stored[header]
    assert sent.get_content() == stored.get_content()
    # Only the Bcc header goes: the rest is byte for byte the stored message.
    start, end = sub.mail.bcc or (0, 0)
    assert sub.stored_bytes()[start:end] == b"Bcc: hemmelig@fjordtech.no\r\n"
    assert sub.transmitted_bytes() == sub.stored_bytes()[:start] + sub.stored_bytes()[end:]


def test_without_bcc_the_transmitted_bytes_are_the_stored_bytes() -> None:
    sub = submission(message(bcc=None))
    assert sub.transmitted_bytes() is sub.stored_bytes()


def test_a_relayed_text_travels_exactly_as_given() -> None:
    raw = b"From: a@b.no\r\nBcc: c@d.no\r\nSubject:   odd  spacing\r\n\r\nbody\r\n"
    sub = submission(raw=raw)
    assert sub.stored_bytes() is raw and sub.transmitted_bytes() is raw and sub.size() == len(raw)


# -- accept -----------------------------------------------------------------------------------------------------


@pytest.fixture
def mailroom() -> Mailroom:
    return Mailroom(Outbox(":memory:"), mock_settings(seed=4).delivery_options())


@pytest.fixture
def sink() -> Iterator[tuple[int, Outbox]]:
    """The real embedded SMTP sink on a free loopback port, recording into its own outbox."""
    port = free_port()
    received = Outbox(":memory:")
    server = Sink("127.0.0.1", port, received)
    assert server.start()
    try:
        yield port, received
    finally:
        server.stop()


def sink_rows(outbox: Outbox) -> list[dict[str, Any]]:
    with outbox.locked() as conn:
        rows = conn.execute("SELECT mail_from, rcpt_tos, raw FROM sink ORDER BY id").fetchall()
    return [{**dict(row), "rcpt_tos": json.loads(row["rcpt_tos"])} for row in rows]


def row(mailroom: Mailroom, row_id: int) -> dict[str, Any]:
    found = mailroom.outbox.get("", row_id)
    assert found is not None
    return found.values


def test_a_journal_only_mail_is_recorded_not_sent_without_its_passwords(mailroom: Mailroom) -> None:
    request: dict[str, Any] = {
        "Emails": [{"Subject": "Kvartalsrapport"}],
        "OutgoingConnectionInfo": {"Password": "hemmelig"},
    }
    sub = submission(request=request)
    outcome = asyncio.run(ingest.accept(mailroom, sub, Plan(note="delivery mode none: journaled only")))
    assert outcome == Outcome(outcome.row_id, NOT_SENT)
    kept = row(mailroom, outcome.row_id)
    assert kept["status"] == NOT_SENT and kept["note"] == "delivery mode none: journaled only"
    assert kept["raw"] == sub.stored_bytes() and kept["size"] == sub.size()
    assert kept["subject"] == "Kvartalsrapport" and kept["to_header"] == "Kari Nilsen <kari.nilsen@fjordtech.no>"
    assert json.loads(kept["recipients"]) == ["kari.nilsen@fjordtech.no", "hemmelig@fjordtech.no"]
    assert "hemmelig" not in kept["request"] and json.loads(kept["request"])["OutgoingConnectionInfo"] == {
        "Password": None
    }
    assert mailroom.accepted[-1] is sub and sub.request["OutgoingConnectionInfo"]["Password"] is None
    assert request["OutgoingConnectionInfo"]["Password"] == "hemmelig"  # the caller's dict is not touched


def test_a_relayed_text_is_journaled_with_headers_read_from_it(mailroom: Mailroom) -> None:
    raw = b"From: Anna <anna@nordlys.no>\r\nTo: kari@fjordtech.no\r\nSubject: Relayed\r\n\r\nbody\r\n"
    sub = submission(raw=raw, operation="v1EMailAgent_RelayMessage")
    outcome = asyncio.run(ingest.accept(mailroom, sub, Plan(note="journaled")))
    kept = row(mailroom, outcome.row_id)
    assert (kept["subject"], kept["from_header"], kept["to_header"]) == (
        "Relayed",
        "Anna <anna@nordlys.no>",
        "kari@fjordtech.no",
    )
    assert kept["raw"] == raw


def test_a_refused_plan_is_recorded_as_failed_and_raised(mailroom: Mailroom) -> None:
    with pytest.raises(delivery.DeliveryFailed) as raised:
        asyncio.run(ingest.accept(mailroom, submission(), Plan(refused="smtp.gmail.com is not on the allowlist")))
    assert raised.value.refused is True and raised.value.reason == "smtp.gmail.com is not on the allowlist"
    [kept] = [r.values for r in mailroom.outbox.find(Filters())]
    assert kept["status"] == FAILED and kept["error"] == "smtp.gmail.com is not on the allowlist"
    assert mailroom.accepted[-1].message_id == "<q3@nordlys.no>"  # accepted, then refused: not lost


def test_delivery_sends_the_message_without_bcc_and_keeps_bcc_in_the_journal(
    mailroom: Mailroom, sink: tuple[int, Outbox]
) -> None:
    port, received = sink
    sub = submission()
    plan = Plan(smtp=Endpoint("smtp", "127.0.0.1", port))
    outcome = asyncio.run(ingest.accept(mailroom, sub, plan))
    assert outcome.status == SENT
    kept = row(mailroom, outcome.row_id)
    assert kept["status"] == SENT and kept["smtp_target"] == f"smtp://127.0.0.1:{port}" and kept["error"] is None
    assert b"Bcc: hemmelig@fjordtech.no" in kept["raw"]
    [arrived] = sink_rows(received)
    assert arrived["mail_from"] == "anna.berg@nordlys.no"
    assert arrived["rcpt_tos"] == ["kari.nilsen@fjordtech.no", "hemmelig@fjordtech.no"]  # Bcc still gets it
    assert b"hemmelig" not in arrived["raw"] and b"Subject: Kvartalsrapport" in arrived["raw"]


def test_recipients_an_smtp_server_cannot_take_are_noted_and_the_rest_delivered(
    mailroom: Mailroom, sink: tuple[int, Outbox]
) -> None:
    port, received = sink
    sub = submission(recipients=["kari.nilsen@fjordtech.no", "not an address"])
    outcome = asyncio.run(ingest.accept(mailroom, sub, Plan(smtp=Endpoint("smtp", "127.0.0.1", port))))
    kept = row(mailroom, outcome.row_id)
    assert kept["status"] == SENT and kept["note"] == "not deliverable (invalid address): not an address"
    assert sink_rows(received)[0]["rcpt_tos"] == ["kari.nilsen@fjordtech.no"]


def test_with_no_deliverable_recipient_nothing_goes_over_smtp(mailroom: Mailroom, sink: tuple[int, Outbox]) -> None:
    port, received = sink
    sub = submission(recipients=["nobody"])
    outcome = asyncio.run(ingest.accept(mailroom, sub, Plan(smtp=Endpoint("smtp", "127.0.0.1", port))))
    note = row(mailroom, outcome.row_id)["note"]
    assert "not deliverable (invalid address): nobody" in note and "nothing sent over SMTP" in note
    assert sink_rows(received) == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_failed_delivery_is_kept_as_failed_with_the_reason(mailroom: Mailroom) -> None:
    port = closed_port()
    with pytest.raises(delivery.DeliveryFailed) as raised:
        asyncio.run(ingest.accept(mailroom, submission(), Plan(smtp=Endpoint("smtp", "127.0.0.1", port))))
    assert raised.value.refused is False
    [kept] = [r.values for r in mailroom.outbox.find(Filters())]
    assert kept["status"] == FAILED and kept["error"] == raised.value.reason and str(port) in kept["error"]
    assert kept["smtp_target"] == f"smtp://127.0.0.1:{port}"


# -- in the background, with listeners ---------------------------------------------------------------------------


def gws_submission() -> Submission:
    return submission(operation="gwsEmail_Send", user="agent", reference_id=3, notice=Notice("http://x"))


def listen(mailroom: Mailroom) -> list[tuple[Submission, Outcome]]:
    heard: list[tuple[Submission, Outcome]] = []

    async def listener(reports: Sequence[tuple[Submission, Outcome]]) -> None:
        heard.extend(reports)

    mailroom.listeners.append(listener)
    return heard


def test_background_delivery_answers_queued_and_tells_the_listeners_the_outcome(
    mailroom: Mailroom, sink: tuple[int, Outbox]
) -> None:
    port, received = sink
    heard = listen(mailroom)
    sub = gws_submission()

    async def scenario() -> Outcome:
        endpoint = Endpoint("smtp", "127.0.0.1", port)
        outcome = await ingest.accept(mailroom, sub, Plan(smtp=endpoint), background=True)
        assert mailroom.courier(endpoint).queue.qsize() == 1  # waiting for a session to the server
        assert row(mailroom, outcome.row_id)["status"] == QUEUED
        await ingest.settle(mailroom)
        return outcome

    queued = asyncio.run(scenario())
    assert queued.status == QUEUED and not mailroom.tasks
    [(who, outcome)] = heard
    assert who is sub and outcome.status == SENT and outcome.row_id == queued.row_id
    assert row(mailroom, queued.row_id)["status"] == SENT and len(sink_rows(received)) == 1


@pytest.mark.parametrize(
    ("plan", "status"),
    [(Plan(note="journaled"), NOT_SENT), (Plan(refused="No SMTP route for GWS: set --smtp-relay"), FAILED)],
)
def test_in_the_background_even_a_refusal_is_reported_not_raised(mailroom: Mailroom, plan: Plan, status: str) -> None:
    heard = listen(mailroom)

    async def scenario() -> Outcome:
        outcome = await ingest.accept(mailroom, gws_submission(), plan, background=True)
        await ingest.settle(mailroom)
        return outcome

    outcome = asyncio.run(scenario())
    assert outcome.status == status and [o for _, o in heard] == [outcome]
    assert outcome.error == plan.refused


def test_a_background_failure_reaches_the_listeners_with_its_reason(mailroom: Mailroom) -> None:
    heard = listen(mailroom)
    port = closed_port()

    async def scenario() -> None:
        await ingest.accept(mailroom, gws_submission(), Plan(smtp=Endpoint("smtp", "127.0.0.1", port)), background=True)
        await ingest.settle(mailroom)

    asyncio.run(scenario())
    [(_, outcome)] = heard
    assert outcome.status == FAILED and str(port) in (outcome.error or "")
    assert row(mailroom, outcome.row_id)["status"] == FAILED


@given(
    scheme=st.sampled_from(["http", "https"]),
    server=st.one_of(
        st.none(), st.tuples(st.sampled_from(["127.0.0.1", "mock.local"]), st.sampled_from([80, 443, 4010]))
    ),
    host=st.one_of(st.none(), st.sampled_from([b"mock.local:4010", b"MOCK", b"[::1]:8080", b"x y"])),
    root_path=st.sampled_from(["", "/mock", "/mock/"]),
    app_root_path=st.one_of(st.none(), st.just("/outer")),
)
def test_a_notices_origin_is_the_base_url_of_the_request_it_was_read_from(
    scheme: str, server: tuple[str, int] | None, host: bytes | None, root_path: str, app_root_path: str | None
) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "root_path": root_path,
        "path": root_path + "/api/v2/me/emails/0071023821aec011",
        "query_string": b"x=1",
        "headers": [(b"content-type", b"application/json")] + ([(b"host", host)] if host is not None else []),
        "body-like": object(),  # not kept: a notice holds only what the origin is read from
    }
    if app_root_path is not None:
        scope["app_root_path"] = app_root_path
    notice = Notice.of_request(scope, 5)
    assert "body-like" not in notice.source and notice.delay_ms == 5
    assert notice.origin == str(Request(scope).base_url).rstrip("/")


def test_the_outcomes_of_one_moment_reach_each_listener_together_in_order(mailroom: Mailroom) -> None:
    """A request's mails (and the requests answered in the same turn of the event loop) are told in one call of
    each listener, in the order accepted, by one task; a later turn's in another call."""
    calls: list[list[int]] = []

    async def listener(reports: Sequence[tuple[Submission, Outcome]]) -> None:
        calls.append([outcome.row_id for _, outcome in reports])

    mailroom.listeners.append(listener)

    async def scenario() -> list[list[Outcome]]:
        first = await ingest.accept_all(mailroom, [gws_submission() for _ in range(3)], Plan(note="j"), background=True)
        assert len(mailroom.tasks) == 1  # one task for the three, not yet run
        await ingest.settle(mailroom)
        later = await ingest.accept_all(mailroom, [gws_submission()], Plan(note="j"), background=True)
        await ingest.settle(mailroom)
        return [first, later]

    first, later = asyncio.run(scenario())
    assert calls == [[o.row_id for o in first], [later[0].row_id]]
    assert calls[0] == sorted(calls[0]) and len(calls[0]) == 3


def test_a_failing_listener_does_not_keep_the_others_from_hearing(
    mailroom: Mailroom, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(reports: Sequence[tuple[Submission, Outcome]]) -> None:
        raise RuntimeError("listener bug")

    mailroom.listeners.insert(0, broken)
    heard = listen(mailroom)

    async def scenario() -> None:
        await ingest.accept(mailroom, gws_submission(), Plan(note="journaled"), background=True)
        await ingest.settle(mailroom)

    asyncio.run(scenario())
    assert len(heard) == 1
    assert any("delivery listener failed" in r.getMessage() for r in caplog.records)


def test_spawned_work_is_referenced_until_it_is_done() -> None:
    mailroom = Mailroom(Outbox(":memory:"), mock_settings().delivery_options())
    done: list[str] = []

    async def work(gate: asyncio.Event) -> None:
        await gate.wait()
        done.append("yes")

    async def scenario() -> None:
        gate = asyncio.Event()
        mailroom.spawn(work(gate))
        assert len(mailroom.tasks) == 1
        await asyncio.sleep(0)
        assert len(mailroom.tasks) == 1 and not done
        gate.set()
        await asyncio.gather(*mailroom.tasks)
        await asyncio.sleep(0)  # done callbacks run on the next turn

    asyncio.run(scenario())
    assert done == ["yes"] and mailroom.tasks == set()
