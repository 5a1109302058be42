"""The bench's work floor (bench/work_floor.py) does the work SendEMails's and Genesys Send's contracts ask for, or
its rate would bound nothing: every mail of the request stored and committed, parsed back by the stdlib to the
same headers and bodies as the mail the mock itself writes for the same request, `Size` its length, the answer
of the same shape."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from mockserver import create_app
from mockserver.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bodies import load_bodies
from inprocess import _Exchange, asgi_scope
from work_floor import least_work_handlers


def _post(app: Any, path: str, body: bytes) -> tuple[int, Any]:
    exchange = _Exchange(body)
    asyncio.run(app(asgi_scope(path, body), exchange.receive, exchange.send))
    return exchange.status, orjson.loads(b"".join(exchange.chunks))


def _stored(path: Path) -> list[bytes]:
    conn = sqlite3.connect(path)
    try:
        return [bytes(row[0]) for row in conn.execute("SELECT raw FROM mails ORDER BY id")]
    finally:
        conn.close()


def _read(raw: bytes) -> dict[str, Any]:
    """What a reader takes from a message: its headers (Date, Message-ID and the mock's own extras aside), its
    text bodies with their line ends made alike."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects
    bodies = {}
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            bodies[part.get_content_subtype()] = part.get_content().replace("\r\n", "\n")
    return {
        "subject": str(parsed["Subject"]),
        "from": [(a.display_name, a.addr_spec) for a in parsed["From"].addresses],
        "to": [(a.display_name, a.addr_spec) for a in parsed["To"].addresses],
        "cc": [(a.display_name, a.addr_spec) for a in parsed["Cc"].addresses] if parsed["Cc"] else [],
        "bcc": parsed["Bcc"],
        "x-kampanje": [str(value) for value in parsed.get_all("X-Kampanje", [])],
        "multipart": parsed.get_content_type(),
        "bodies": bodies,
    }


@pytest.mark.parametrize("scenario", ["send7", "send7nb"])
def test_the_work_floor_stores_the_mail_the_mock_stores(scenario: str, tmp_path: Path) -> None:
    chosen = load_bodies(tmp_path / "bodies")[scenario]
    body = chosen.file.read_bytes()
    mails = orjson.loads(body)["Emails"]

    floor_app = create_app(Settings(delivery="none", store=str(tmp_path / "floor.sqlite3"), gws_csrf=False))
    with least_work_handlers():  # Connexion resolves the handlers at the app's first request
        status, floor_answer = _post(floor_app, chosen.path, body)
    assert status == 200
    mock_app = create_app(Settings(delivery="none", store=str(tmp_path / "mock.sqlite3"), gws_csrf=False))
    status, mock_answer = _post(mock_app, chosen.path, body)
    assert status == 200

    floor_raw, mock_raw = _stored(tmp_path / "floor.sqlite3"), _stored(tmp_path / "mock.sqlite3")
    assert len(floor_raw) == len(mock_raw) == len(mails)
    for raw, answer, mail in zip(floor_raw, floor_answer, mails, strict=True):
        assert answer["Size"] == len(raw)
        assert BytesParser(policy=policy.default).parsebytes(raw)["Message-ID"] == answer["MessageID"]
        assert answer["Subject"] == mail["Subject"]
    # Both write the same mail, as a reader takes it.
    assert [_read(raw) for raw in floor_raw] == [_read(raw) for raw in mock_raw]
    # The answer has every property the mock's has, in the vendor's order.
    assert [list(item) for item in floor_answer] == [list(item) for item in mock_answer]
    assert [list(item["To"][0]) for item in floor_answer] == [list(item["To"][0]) for item in mock_answer]


def test_the_work_floor_sends_the_genesys_mail_the_mock_sends(tmp_path: Path) -> None:
    chosen = load_bodies(tmp_path / "bodies")["gws"]
    body = chosen.file.read_bytes()

    floor_app = create_app(Settings(delivery="none", store=str(tmp_path / "floor.sqlite3"), gws_csrf=False))
    with least_work_handlers():
        floor_answers = [_post(floor_app, chosen.path, body) for _ in range(2)]
    mock_app = create_app(Settings(delivery="none", store=str(tmp_path / "mock.sqlite3"), gws_csrf=False))
    mock_answers = [_post(mock_app, chosen.path, body) for _ in range(2)]

    # The user's requests numbered 1, 2 as the mock numbers them, in an answer of the same shape.
    assert floor_answers == mock_answers == [(200, {"statusCode": 0, "referenceId": n}) for n in (1, 2)]
    floor_raw, mock_raw = _stored(tmp_path / "floor.sqlite3"), _stored(tmp_path / "mock.sqlite3")
    assert len(floor_raw) == len(mock_raw) == 2
    assert [_read(raw) for raw in floor_raw] == [_read(raw) for raw in mock_raw]
    conn = sqlite3.connect(tmp_path / "floor.sqlite3")
    try:
        assert [row[0] for row in conn.execute("SELECT reference_id FROM mails ORDER BY id")] == [1, 2]
    finally:
        conn.close()
