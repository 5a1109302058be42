"""EMailEntity → RFC 5322 with the stdlib email package; hostile header values stay harmless."""

from __future__ import annotations

import base64
import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.mail import mime, mimewriter
from mockserver.mail.mime import address, draft_from_entity, entity_to_message, header_text, parse_rfc822, safe_header

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()
WHEN = datetime(2025, 5, 13, 8, 24, 31, tzinfo=UTC)


def write(entity: dict[str, Any], message_id: str = "<id-1@nordlys.no>") -> bytes:
    """The message as the server writes it (the direct writer; tests/mail/test_mimewriter.py holds it to the stdlib)."""
    return mimewriter.write(draft_from_entity(entity, message_id=message_id, date=WHEN)).stored


def build(**entity: Any) -> EmailMessage:
    return email.message_from_bytes(write(entity), policy=policy.default)  # type: ignore[return-value]


def test_plain_and_html_become_an_alternative_with_attachments_and_inline_parts() -> None:
    parsed = build(
        From={"Address": "anna@nordlys.no", "Name": "Anna Berg"},
        To=[{"Address": "kari@fjordtech.no", "Name": "Kari Nilsen"}],
        Subject="Rapport",
        PlainBody="Se vedlegg.",
        HTMLBody='<p>Se vedlegg.</p><img src="cid:logo">',
        Attachments=[
            {"Filename": "logo.png", "Type": "image/png", "Disposition": "inline", "Id": "logo", "Stream": PNG},
            {"Filename": "rapport.pdf", "Type": "application/pdf", "Stream": base64.b64encode(b"%PDF").decode()},
        ],
    )
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, pdf = parsed.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.iter_parts()
    assert plain.get_content_type() == "text/plain"
    html, logo = related.iter_parts()
    assert related.get_content_type() == "multipart/related"
    assert html.get_content_type() == "text/html"
    assert logo["Content-ID"] == "<logo>"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_content() == base64.b64decode(PNG)
    assert pdf.get_filename() == "rapport.pdf" and pdf.get_content() == b"%PDF"
    assert parsed["From"].addresses[0].display_name == "Anna Berg"
    assert parsed["Message-ID"] == "<id-1@nordlys.no>"


def test_headers_priority_reply_and_custom() -> None:
    parsed = build(
        Subject="Re: Hei",
        Priority="Highest",
        InReplyTo={"MessageId": "<parent@x.no>"},
        CustomHeaderList=[
            {"Name": "X-Campaign", "Values": ["q3", "nordics"]},
            {"Name": "Subject", "Values": ["hijack"]},
            {"Name": "Bad Name", "Values": ["x"]},
            {"Name": None, "Values": ["x"]},
        ],
    )
    assert parsed["X-Priority"] == "1 (Highest)" and parsed["Importance"] == "high"
    assert parsed["In-Reply-To"] == "<parent@x.no>" == parsed["References"]
    assert parsed.get_all("X-Campaign") == ["q3", "nordics"]
    assert parsed.get_all("Subject") == ["Re: Hei"]
    assert parsed.get_all("Bad Name") is None


def test_non_ascii_headers_are_rfc2047_encoded() -> None:
    raw = write({"Subject": "Møte på fredag", "From": {"Address": "ase@fjørd.no", "Name": "Åse Ødegård"}})
    assert raw.isascii()
    assert b"=?utf-8?" in raw
    assert b"From: =?utf-8?" in raw
    assert "fjørd.no".encode("idna") in raw
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Møte på fredag"
    assert parsed["From"].addresses[0].display_name == "Åse Ødegård"


def test_a_non_ascii_mailbox_makes_an_smtputf8_message() -> None:
    entity = {"Subject": "Hei", "To": [{"Address": "jøran@fjord.no"}]}
    assert draft_from_entity(entity, message_id="<m@x.no>", date=WHEN).needs_utf8
    assert "jøran@fjord.no".encode() in write(entity)
    assert entity_to_message(entity, message_id="<m@x.no>", date=WHEN).policy.utf8 is True  # the reference too


@given(st.text(alphabet=st.sampled_from("ab\r\n:\x00 X-Evil"), min_size=1, max_size=40))
def test_cr_lf_in_any_value_never_creates_a_header(value: str) -> None:
    parsed = build(
        Subject=value,
        From={"Address": f"a{value}@x.no", "Name": value},
        To=[{"Address": "b@x.no", "Name": value}],
        CustomHeaderList=[{"Name": "X-Note", "Values": [value]}],
        Attachments=[{"Filename": value, "Id": value, "Type": value, "Stream": ""}],
    )
    assert parsed.get_all("X-Evil") is None
    assert len(parsed.get_all("Subject")) == 1
    assert header_text(value).count("\n") == 0


def test_address_edge_cases() -> None:
    assert address("", "") is None
    assert address(None, None) is None
    odd = address("Kari", "iure")
    assert odd is not None and odd.username == "iure" and odd.domain == ""


def test_lenient_rfc822_parsing_of_a_one_word_message() -> None:
    parsed = parse_rfc822("est")
    assert parsed.get_content().strip() == "est" or parsed.keys() == []
    assert safe_header(parsed, "Message-ID") is None
    full = parse_rfc822("From: a@b.no\r\nMessage-ID: <x@y>\r\n\r\nbody")
    assert safe_header(full, "Message-ID") == "<x@y>"


# Address syntax characters are where the email package's parser is fragile; mix them in on purpose.
any_text = st.text(max_size=30) | st.text(alphabet='<>"()[],;:@\\. \tabé=?', max_size=20)
addresses = st.fixed_dictionaries({"Address": st.one_of(st.none(), any_text), "Name": st.one_of(st.none(), any_text)})


@given(
    subject=any_text,
    sender=addresses,
    to=st.lists(addresses, max_size=3),
    headers=st.lists(st.fixed_dictionaries({"Name": any_text, "Values": st.lists(any_text, max_size=2)}), max_size=2),
    attachments=st.lists(
        st.fixed_dictionaries({"Filename": any_text, "Type": any_text, "Id": any_text, "Disposition": any_text}),
        max_size=2,
    ),
    reply=any_text,
)
def test_any_text_anywhere_still_builds_a_message(
    subject: str, sender: Any, to: Any, headers: Any, attachments: Any, reply: str
) -> None:
    raw = write(
        {
            "Subject": subject,
            "From": sender,
            "To": to,
            "CustomHeaderList": headers,
            "Attachments": attachments,
            "InReplyTo": {"MessageId": reply},
            "PlainBody": subject,
            "HTMLBody": subject,
        },
        message_id="<m@x.no>",
    )
    reparsed = email.message_from_bytes(raw, policy=policy.default)
    assert reparsed["Message-ID"] == "<m@x.no>"


def test_inline_images_of_an_html_only_mail_with_attachments_go_into_related() -> None:
    """An HTML-only mail with a plain attachment listed before its inline image (this was a 500)."""
    parsed = build(
        To=[{"Address": "kari@fjordtech.no"}],
        HTMLBody='<p>Logo: <img src="cid:logo"></p>',
        Attachments=[
            {"Filename": "rapport.pdf", "Type": "application/pdf", "Stream": PNG},
            {"Filename": "logo.png", "Type": "image/png", "Stream": PNG, "Id": "logo", "Disposition": "inline"},
        ],
    )
    assert parsed.get_content_type() == "multipart/mixed"
    related, pdf = parsed.iter_parts()
    assert related.get_content_type() == "multipart/related"
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/png"]
    assert pdf.get_filename() == "rapport.pdf"


_ATOM = st.text(alphabet="abcXYZ019!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=6)
_SPEC = st.builds("{}@{}".format, _ATOM, _ATOM)
_PLAIN_MAILBOX = st.one_of(
    _SPEC, st.builds("{} <{}>".format, st.lists(_ATOM, min_size=1, max_size=3).map(" ".join), _SPEC)
)
# Header values: the plain forms `read_headers` takes as written, and anything else (folding, encoded words,
# quoting, comments, groups, non-ASCII, control characters, stray syntax).
_VALUE = st.one_of(
    st.lists(_PLAIN_MAILBOX, min_size=1, max_size=3).map(", ".join),
    st.builds("<{}>".format, _SPEC),
    st.lists(_ATOM, min_size=1, max_size=4).map(" ".join),
    st.text(alphabet='ab Øé=?<>@,;:."()[]\\\t\r\n\x00', max_size=24),
    st.sampled_from(["=?utf-8?q?M=C3=B8te?=", '"Berg, Anna" <a@b.no>', "a@b.no (Anna)", "G: a@b.no;", " x", "x  y"]),
)


@given(st.lists(st.tuples(st.sampled_from(["Subject", "From", "To", "Message-ID", "FROM", "X-Other"]), _VALUE)))
def test_relayed_headers_read_as_policy_default_reads_them(headers: list[tuple[str, str]]) -> None:
    """The fast read of a relayed message's headers gives what `safe_header` gives on the policy.default parse."""
    raw = (
        "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8", "surrogateescape") + b"\r\nBody\r\n"
    )
    names = ("Message-ID", "Subject", "From", "To")
    reference = mime.parse_rfc822_headers(raw)
    assert mime.read_headers(raw, names) == {name: safe_header(reference, name) for name in names}


# Lines a header block may hold, and what ends or breaks one: unix-from lines, continuations, a missing name,
# a name with a space, blank lines, every kind of line end (and the ones the feed parser does not cut at).
_HEADER_PIECE = st.one_of(
    st.sampled_from(
        [
            *("From ", "From x: ", "From: ", "Subject:", ":", " ", "\t", "a b:", "X-A:"),
            *("\r\n", "\r", "\n", "\x0b", "\x0c", "\x1c", "\x85"),
        ]
    ),
    st.text(alphabet="Fa: \t\r\n=?\x00\x7fé", max_size=8),
)


@settings(max_examples=400)  # cheap examples; an equivalence wants many
@given(st.one_of(st.lists(_HEADER_PIECE, max_size=24).map("".join).map(lambda t: t.encode("utf-8")), st.binary()))
def test_header_items_are_split_as_the_compat32_parser_splits_them(data: bytes) -> None:
    reference = BytesParser(policy=policy.compat32).parsebytes(data, headersonly=True).raw_items()
    assert mime.raw_header_items(data) == list(reference)


@pytest.mark.parametrize(
    ("data", "items"),
    [
        # A lone CR ends a line too (the one-pass read of LF-ended blocks must not take these).
        (b"Subject: a\rTo: b\r\n\r\nbody", [("Subject", "a"), ("To", "b")]),
        (b"Subject: a\r b\nTo: c\n\nx", [("Subject", "a\r b"), ("To", "c")]),
        (b"X: 1\r\nSubject: a\r\r\nTo: b\r\n", [("X", "1"), ("Subject", "a")]),
        # LF and CRLF blocks, folded, with lines that are no field, and a last line with no end.
        (b"From x\nA:  1\n\t2\n:z\n 3\nB:", [("A", "1\n\t2"), ("B", "")]),
        (b"A: 1\r\n \r\nB:2\r\nFrom y: z\r\n c\r\n\r\nD: 4", [("A", "1\r\n "), ("B", "2")]),
    ],
)
def test_header_items_at_every_kind_of_line_end(data: bytes, items: list[tuple[str, str]]) -> None:
    reference = BytesParser(policy=policy.compat32).parsebytes(data, headersonly=True).raw_items()
    assert mime.raw_header_items(data) == list(reference) == items


def test_header_items_keep_folding_and_skip_what_is_no_field() -> None:
    data = (
        b"From someone Mon\r\n Stray\r\nSubject: one\r\n two\r\n:no name\r\nFrom misplaced: x\r\n"
        b"To:  a@b.no\r\n\r\nX: body"
    )
    assert mime.raw_header_items(data) == [("Subject", "one\r\n two"), ("To", "a@b.no")]


def test_relayed_headers_in_plain_forms_are_taken_as_written() -> None:
    raw = (
        b"From: Anna Berg <anna.berg@nordlys.no>\r\nSubject: Kvartalsrapport Q3\r\nMessage-ID: <q3@nordlys.no>\r\n\r\n"
    )
    assert mime.read_headers(raw, ("From", "Subject", "Message-ID", "To")) == {
        "From": "Anna Berg <anna.berg@nordlys.no>",
        "Subject": "Kvartalsrapport Q3",
        "Message-ID": "<q3@nordlys.no>",
        "To": None,
    }
    assert mime.first_address("Anna Berg <anna.berg@nordlys.no>, kari@fjordtech.no") == "anna.berg@nordlys.no"
