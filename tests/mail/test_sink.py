"""The embedded SMTP sink: a real SMTP server that keeps whatever it is sent, started once per process."""

from __future__ import annotations

import asyncio
import json
import smtplib
import socket
from collections.abc import Iterator
from typing import Any

import aiosmtplib
import pytest

from mockserver import create_app
from mockserver.mail.outbox import Outbox
from mockserver.mail.sink import Sink, is_listening
from mockserver.tools.testing import free_port
from tests.conftest import AUTH, SEND, mock_settings
from tests.support import delivered

HOST = "127.0.0.1"
MESSAGE = (
    b"From: Anna Berg <anna.berg@nordlys.no>\r\n"
    b"To: kari.nilsen@fjordtech.no\r\n"
    b"Message-ID: <q3@nordlys.no>\r\n"
    b"Subject: Kvartalsrapport\r\n"
    b"\r\n"
    b".a line that starts with a dot\r\n"
    b"Hei Kari\r\n"
)


@pytest.fixture
def sink() -> Iterator[tuple[int, Outbox]]:
    port = free_port()
    outbox = Outbox(":memory:")
    server = Sink(HOST, port, outbox)
    assert server.start() is True
    try:
        yield port, outbox
    finally:
        server.stop()


def answers_smtp(port: int) -> bool:
    """A whole SMTP exchange (greeting, NOOP, QUIT): unlike a bare connect, it leaves no half-open connection
    behind for the sink to find when it stops."""
    with smtplib.SMTP(HOST, port, timeout=5) as client:
        return client.noop()[0] == 250


def stored(outbox: Outbox) -> list[dict[str, Any]]:
    with outbox.locked() as conn:
        rows = conn.execute("SELECT mail_from, rcpt_tos, message_id, raw FROM sink ORDER BY id").fetchall()
    return [{**dict(row), "rcpt_tos": json.loads(row["rcpt_tos"])} for row in rows]


def test_the_sink_keeps_exactly_what_it_was_sent(sink: tuple[int, Outbox]) -> None:
    port, outbox = sink
    with smtplib.SMTP(HOST, port, timeout=5) as client:
        refused = client.sendmail("anna.berg@nordlys.no", ["kari.nilsen@fjordtech.no", "lars@fjordtech.no"], MESSAGE)
    assert refused == {}
    [row] = stored(outbox)
    assert row == {
        "mail_from": "anna.berg@nordlys.no",
        "rcpt_tos": ["kari.nilsen@fjordtech.no", "lars@fjordtech.no"],
        "message_id": "<q3@nordlys.no>",
        "raw": MESSAGE,  # dot-stuffing undone, nothing else touched
    }
    [summary] = outbox.received()
    assert summary["size"] == len(MESSAGE) and summary["rcpt_tos"] == row["rcpt_tos"]


def test_any_credentials_are_accepted_without_tls(sink: tuple[int, Outbox]) -> None:
    port, outbox = sink
    with smtplib.SMTP(HOST, port, timeout=5) as client:
        client.ehlo()
        assert client.has_extn("auth")
        code, _ = client.login("whoever", "whatever")
        assert code == 235
        client.sendmail("anna.berg@nordlys.no", ["kari.nilsen@fjordtech.no"], MESSAGE)
    assert len(stored(outbox)) == 1


def test_smtputf8_addresses_and_8bit_text_are_kept(sink: tuple[int, Outbox]) -> None:
    port, outbox = sink
    raw = "From: ærlig@nordlys.no\r\nTo: øyvind@fjordtech.no\r\nSubject: Blåbær\r\n\r\nHei på deg\r\n".encode()

    async def send() -> None:
        client = aiosmtplib.SMTP(hostname=HOST, port=port, timeout=5)
        await client.connect()
        await client.sendmail("ærlig@nordlys.no", ["øyvind@fjordtech.no"], raw, mail_options=["SMTPUTF8"])
        await client.quit()

    asyncio.run(send())
    [row] = stored(outbox)
    assert row["mail_from"] == "ærlig@nordlys.no" and row["rcpt_tos"] == ["øyvind@fjordtech.no"]
    assert row["raw"] == raw and row["message_id"] is None  # no Message-ID header: none recorded


def test_every_message_of_a_session_is_recorded_in_order(sink: tuple[int, Outbox]) -> None:
    port, outbox = sink
    with smtplib.SMTP(HOST, port, timeout=5) as client:
        for n in range(3):
            client.sendmail("a@nordlys.no", [f"r{n}@fjordtech.no"], MESSAGE.replace(b"<q3@", f"<m{n}@".encode()))
    assert [r["message_id"] for r in stored(outbox)] == ["<m0@nordlys.no>", "<m1@nordlys.no>", "<m2@nordlys.no>"]
    assert [r["id"] for r in outbox.received()] == [3, 2, 1]  # newest first


def test_a_process_starts_one_sink_per_address_and_stops_it_with_its_last_user() -> None:
    port = free_port()
    first, second = Sink(HOST, port, Outbox(":memory:")), Sink(HOST, port, Outbox(":memory:"))
    assert first.start() is True
    try:
        assert second.start() is True  # shares the running one
        first.stop()
        assert answers_smtp(port)
    finally:
        second.stop()
    assert not is_listening(HOST, port)
    second.stop()  # stopping again is harmless


def test_a_port_another_server_holds_is_left_to_it() -> None:
    with socket.socket() as other:
        other.bind((HOST, 0))
        other.listen()
        port = other.getsockname()[1]
        sink = Sink(HOST, port, Outbox(":memory:"))
        assert sink.start() is False
        sink.stop()  # not ours: nothing to stop
        assert is_listening(HOST, port)


def test_is_listening() -> None:
    with socket.socket() as server:
        server.bind((HOST, 0))
        server.listen()
        port = server.getsockname()[1]
        assert is_listening(HOST, port)
    assert not is_listening(HOST, port)


def test_the_app_runs_the_sink_for_its_lifetime_and_its_mail_arrives_there() -> None:
    port = free_port()
    body = {"Emails": [{"From": {"Address": "a@nordlys.no"}, "To": [{"Address": "b@fjordtech.no"}], "Subject": "S"}]}
    with create_app(mock_settings(seed=1, delivery="sink", sink_port=port)).test_client() as client:
        assert answers_smtp(port)
        [sent] = client.post(SEND, json=body, headers=AUTH).json()
        delivered(client, sent["MessageID"])
        [arrived] = client.get("/_mock/sink").json()["items"]
        assert arrived["message_id"] == sent["MessageID"] and arrived["rcpt_tos"] == ["b@fjordtech.no"]
    assert not is_listening(HOST, port)


def test_two_apps_on_one_sink_port_share_it() -> None:
    port = free_port()
    settings = mock_settings(seed=1, delivery="sink", sink_port=port)
    with create_app(settings).test_client() as second:
        with create_app(settings).test_client():
            assert answers_smtp(port)
        assert answers_smtp(port)  # the other app still uses it
        assert second.get("/_mock/sink").status_code == 200
    assert not is_listening(HOST, port)


def test_the_sink_offers_pipelining_and_takes_a_pipelined_mail(sink: tuple[int, Outbox]) -> None:
    """The mock's deliveries send a mail's MAIL, RCPTs and DATA in one write when the sink says PIPELINING."""
    port, outbox = sink
    with socket.create_connection((HOST, port), timeout=5) as raw, raw.makefile("rb") as replies:
        assert replies.readline().startswith(b"220")
        raw.sendall(b"EHLO test\r\n")
        features = []
        while (line := replies.readline()).startswith(b"250-"):
            features.append(line[4:].strip())
        assert b"PIPELINING" in features
        raw.sendall(
            b"MAIL FROM:<anna@nordlys.no>\r\nRCPT TO:<kari@fjordtech.no>\r\nRCPT TO:<lars@fjordtech.no>\r\nDATA\r\n"
        )
        assert [replies.readline()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
        raw.sendall(b"Subject: Pipelined\r\n\r\nHei\r\n.\r\n")
        assert replies.readline().startswith(b"250")
    [kept] = outbox.received()
    assert kept["rcpt_tos"] == ["kari@fjordtech.no", "lars@fjordtech.no"]
