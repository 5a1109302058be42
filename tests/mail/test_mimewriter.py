"""The direct MIME writer against its reference, the stdlib `email` package's build of the same draft.

The writer's bytes are parsed with `BytesParser(policy=policy.default)` and compared with the message the
stdlib builds from the same draft (`mime.reference_message`): the same headers, structure, parameters, bodies
and attachments. Not compared: boundaries (random in the stdlib), header order and folding, and the stdlib's
redundant MIME-Version inside body parts (RFC 2045 §4 asks for it in the message header only).

The comparison is with the reference *as built*, not with its bytes read back: Python 3.11's generator has
known RFC 2047 bugs there (it puts the space between two encoded words outside them, where a §6.2 reader drops
it, gh-92081; it folds a long header straight after the colon, which reads back as a leading space), and its
address parser keeps the whitespace between adjacent encoded words that §6.2 drops (gh-128110), so display
names are read here as §6.2 says. Where the draft's text itself looks like an encoded word, the stdlib
decodes it as if the client had encoded it; the writer writes the text the client sent, and the test holds it
to the draft instead.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import re
import sys
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.formats import base64text
from mockserver.mail import mime, mimewriter
from mockserver.mail.mime import Draft, draft_from_entity, message_bytes, reference_message

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bodies import mail, norwegian_mail

WHEN = datetime(2025, 5, 13, 8, 24, 31, tzinfo=UTC)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()


def parse(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc"})
ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc"})


def _spaces(text: str) -> str:
    return re.sub(" +", " ", text).strip(" ")  # a phrase's runs of spaces read as one


def display_names(header: Any) -> list[tuple[str, str, str]]:
    """(display name, user, domain) of each mailbox, the display name read as RFC 2047 §6.2 says: without
    the whitespace between two adjacent encoded words."""
    mailboxes = _find(header._parse_tree, "mailbox", "invalid-mailbox")
    if len(mailboxes) != len(header.addresses):  # the parser made something else of an address without a domain
        return [(_spaces(a.display_name), a.username, a.domain) for a in header.addresses]
    found = []
    for address, mailbox in zip(header.addresses, mailboxes, strict=True):
        pieces: list[tuple[str, str]] = []
        _flatten(next(iter(_find(mailbox, "display-name")), []), pieces)
        kept = [
            text
            for i, (kind, text) in enumerate(pieces)
            if not (kind == "ws" and 0 < i < len(pieces) - 1 and pieces[i - 1][0] == pieces[i + 1][0] == "ew")
        ]
        found.append((_spaces("".join(kept)), address.username, address.domain))
    return found


def _find(token: Any, *kinds: str) -> list[Any]:
    if getattr(token, "token_type", None) in kinds:
        return [token]
    children = [t for t in token if hasattr(t, "token_type")] if isinstance(token, list) else []
    return [found for child in children for found in _find(child, *kinds)]


def _flatten(token: Any, pieces: list[tuple[str, str]]) -> None:
    kind = getattr(token, "token_type", None)
    if kind == "encoded-word":
        pieces.append(("ew", str(token)))
    elif kind in ("cfws", "fws"):
        pieces.append(("ws", re.sub("[\r\n\t]+", " ", str(token))))
    elif kind == "bare-quoted-string":
        pieces.append(("text", "".join(str(t) for t in token)))
    elif isinstance(token, list):
        for child in token:
            _flatten(child, pieces)
    else:
        pieces.append(("text", str(token)))


def header_values(msg: Message) -> list[tuple[str, Any]]:
    """The message's own headers as a reader decodes them: addresses as (display name, user, domain)."""
    found: list[tuple[str, Any]] = []
    for name, value in msg.items():
        key = name.lower()
        if key.startswith("content-") or key == "mime-version":
            continue
        if key in ADDRESS_HEADERS:
            found.append((key, [(_utf8(n), _utf8(u), _utf8(d)) for n, u, d in display_names(value)]))
        else:
            found.append((key, _utf8(str(value))))
    return sorted(found, key=lambda item: item[0])


def _utf8(text: str) -> str:
    """Raw UTF-8 in an SMTPUTF8 message's headers, which the bytes parser surrogate-escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def intended(draft: Draft) -> list[tuple[str, Any]]:
    """What the draft says its headers are."""
    want: list[tuple[str, Any]] = []
    for name, found in draft.address_headers():
        if found:
            want.append((name.lower(), [(_spaces(a.display_name), a.username, a.domain) for a in found]))
    want += [("subject", draft.subject), ("date", format_datetime(draft.date)), ("message-id", draft.message_id)]
    if draft.in_reply_to:
        want += [("in-reply-to", draft.in_reply_to), ("references", draft.in_reply_to)]
    if draft.priority:
        want += [("x-priority", mime._X_PRIORITY[draft.priority]), ("importance", mime._IMPORTANCE[draft.priority])]
    want += [(name.lower(), value) for name, value in draft.custom]
    return sorted(want, key=lambda item: item[0])


def view(part: Message, top: bool = True, built: bool = False) -> dict[str, Any]:
    """What a reader of the message sees of its MIME structure, recursively; boundaries left out.

    A `built` message holds its text payloads with the line ends its generator turns into CRLF; each of its
    bodies is read the way it is written (the part alone, through the generator and the parser)."""
    seen: dict[str, Any] = {
        "headers": [
            (name.lower(), str(value))
            for name, value in part.items()
            if name.lower().startswith("content-") and name.lower() not in ("content-type", "content-id")
        ],
        "cid": part.get("Content-ID"),
        "mime-version": part.get("MIME-Version") if top else None,
        "type": part.get_content_type(),
        "params": [(k, v) for k, v in part.get_params() or [] if k != "boundary"],
    }
    if part.is_multipart():
        parts = part.get_payload()
        assert isinstance(parts, list)
        seen["parts"] = [view(p, top=False, built=built) for p in parts]
    else:
        seen["payload"] = (_as_written(part) if built else part).get_payload(decode=True)
        seen["filename"] = part.get_filename()
        seen["disposition"] = part.get_content_disposition()
    return seen


def _as_written(part: Message) -> EmailMessage:
    """A built leaf as the generator writes and the parser reads it (its content headers only: the others are
    no part of the body, and some of them the generator cannot fold)."""
    clone = copy.copy(part)
    clone._headers = [(k, v) for k, v in part._headers if k.lower() in ("content-type", "content-transfer-encoding")]
    return parse(clone.as_bytes(policy=policy.SMTP))


def defects(part: Message) -> list[str]:
    return sorted(type(d).__name__ for p in part.walk() for d in p.defects)


def _cids(seen: dict[str, Any]) -> list[str | None]:
    return [seen["cid"], *(cid for part in seen.get("parts", ()) for cid in _cids(part))]


def _drop_cids(seen: dict[str, Any]) -> None:
    seen["cid"] = None
    for part in seen.get("parts", ()):
        _drop_cids(part)


def assert_same_as_reference(draft: Draft) -> mime.Written:
    written = mimewriter.write(draft)
    fast = parse(written.stored)
    want = intended(draft)
    assert header_values(fast) == want or "=?" in repr(want)
    summary = (written.subject, written.from_header, written.to_header)
    assert summary == draft.summary()
    for line in written.stored.split(b"\r\n"):
        assert b"\n" not in line and b"\r" not in line
    assert written.stored.split(b"\r\n\r\n")[0].isascii() or draft.needs_utf8  # 8bit bodies need not be
    sent = parse(written.transmitted())
    assert "Bcc" not in sent
    assert header_values(sent) == [h for h in header_values(fast) if h[0] != "bcc"]
    assert view(sent) == view(fast)
    try:
        reference = reference_message(draft)
    except Exception:
        return written
    # Structure, content headers, parameters, bodies and attachments: exactly the reference's.
    fast_view, ref_view = view(fast), view(reference, built=True)
    cids = [part.cid for part in (*draft.related, *draft.attached)]
    if any("=?" in (cid or "") for cid in cids):
        assert sorted(filter(None, _cids(fast_view))) == sorted(filter(None, cids))
        _drop_cids(fast_view)
        _drop_cids(ref_view)
    assert fast_view == ref_view
    # Message headers: the reference's, but where the draft's text looks like an encoded word.
    for (name, got), (_, expected), (_, wanted) in zip(
        header_values(fast), header_values(reference), want, strict=True
    ):
        assert got == expected or ("=?" in repr(wanted) and got == wanted), name
    if "=?" not in repr(summary):
        assert summary == tuple(mime.safe_header(reference, name) for name in ("Subject", "From", "To"))
    try:
        reference_defects = defects(parse(message_bytes(reference)))
    except Exception:
        reference_defects = None
    if reference_defects is not None:
        assert set(defects(fast)) <= set(reference_defects)
    return written


def build(entity: dict[str, Any], message_id: str = "<m-1@nordlys.no>") -> Draft:
    return draft_from_entity(entity, message_id=message_id, date=WHEN)


# -- examples ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(7))
def test_ordinary_norwegian_mail_takes_the_fast_path_and_matches_the_reference(index: int) -> None:
    draft = build(norwegian_mail(index))
    written = mimewriter._write(draft)  # the fast path itself, never the fallback
    assert written.stored == mimewriter.write(draft).stored
    assert_same_as_reference(draft)
    assert written.stored.isascii()
    assert b"=?utf-8?" in written.stored


@pytest.mark.parametrize("index", range(3))
def test_the_bench_mail_takes_the_fast_path(index: int) -> None:
    draft = build(mail(index))
    mimewriter._write(draft)
    assert_same_as_reference(draft)


def test_every_shape_the_mock_builds() -> None:
    pdf = base64.b64encode(b"%PDF-1.4 " * 40).decode()
    shapes = [
        {"PlainBody": "Hei"},
        {"HTMLBody": "<p>Hei</p>"},
        {"PlainBody": "Hei", "HTMLBody": "<p>Hei</p>"},
        {"PlainBody": "Hei", "HTMLBody": '<img src="cid:logo">', "Attachments": [_inline()]},
        {"HTMLBody": '<img src="cid:logo">', "Attachments": [_inline()]},
        {"PlainBody": "Hei", "Attachments": [_file(pdf)]},
        {"HTMLBody": "<p/>", "Attachments": [_file(pdf), _inline(), _file("")]},
        {"PlainBody": "Hei", "HTMLBody": "<p/>", "Attachments": [_inline(), _file(pdf), _inline("b")]},
        {"PlainBody": "Hei", "Attachments": [_inline()]},  # inline without HTML: an ordinary attachment
        {},
    ]
    for shape in shapes:
        draft = build({"Subject": "Rapport", "To": [{"Address": "kari@fjordtech.no"}], **shape})
        mimewriter._write(draft)
        assert_same_as_reference(draft)


def _inline(cid: str = "logo") -> dict[str, Any]:
    return {"Filename": f"{cid}.png", "Type": "image/png", "Disposition": "inline", "Id": cid, "Stream": PNG}


def _file(stream: str) -> dict[str, Any]:
    return {"Filename": "Årsrapport – 2025 (endelig).pdf", "Type": "application/pdf", "Stream": stream}


def test_a_bcc_header_is_kept_in_the_stored_copy_and_left_out_of_the_transmitted_one() -> None:
    draft = build({"To": [{"Address": "a@b.no"}], "Bcc": [{"Address": "hemmelig@fjordtech.no", "Name": "Ø"}]})
    written = assert_same_as_reference(draft)
    assert parse(written.stored)["Bcc"].addresses[0].username == "hemmelig"
    assert b"hemmelig" not in written.transmitted()
    assert len(written.transmitted()) < len(written.stored)


def test_the_same_draft_writes_the_same_bytes() -> None:
    entity = {"PlainBody": "a", "HTMLBody": "<p>a</p>", "Attachments": [_file(PNG)]}
    assert mimewriter.write(build(entity)).stored == mimewriter.write(build(entity)).stored
    assert mimewriter.write(build(entity)).stored != mimewriter.write(build(entity, "<other@x.no>")).stored


def test_a_draft_of_plain_addresses_is_written_as_one_of_mailboxes() -> None:
    """Drafts made from requests hold `mime.Mailbox`es (what the writer asks of an address, worked out once); a
    draft made of plain `Address`es, as a caller of `Draft` may make one, is written to the same bytes."""
    draft = build({"From": {"Address": "åse@fjordtech.no", "Name": "Åse Ødegård"}, "To": [{"Address": "kari@x.no"}]})
    assert all(isinstance(a, mime.Mailbox) for _, found in draft.address_headers() for a in found)

    def plain(found: tuple[Address, ...]) -> tuple[Address, ...]:
        return tuple(Address(a.display_name, a.username, a.domain) for a in found)

    bare = dataclasses.replace(draft, senders=plain(draft.senders), to=plain(draft.to))
    assert not any(isinstance(a, mime.Mailbox) for a in (*bare.senders, *bare.to))
    assert mimewriter.write(bare) == mimewriter.write(draft)
    assert bare.summary() == draft.summary() and bare.needs_utf8 == draft.needs_utf8


def test_one_instant_in_two_zones_gives_two_date_headers() -> None:
    """Aware datetimes of one instant compare equal; the Date header names the zone's own wall time."""
    utc = datetime(2025, 5, 13, 8, 24, 31, 5, tzinfo=UTC)
    oslo = utc.astimezone(timezone(timedelta(hours=2)))
    dates = [
        parse(mimewriter.write(draft_from_entity({}, message_id="<a@b.no>", date=d)).stored)["Date"]
        for d in (utc, oslo)
    ]
    assert dates == ["Tue, 13 May 2025 08:24:31 +0000", "Tue, 13 May 2025 10:24:31 +0200"]


def test_a_boundary_never_appears_in_a_part() -> None:
    draft = build({"PlainBody": "Hei", "HTMLBody": "<p/>"})
    boundary = mimewriter._Boundaries(draft.message_id).around([])
    # A body that contains the boundary the message id would give first.
    draft = build({"PlainBody": f"--{boundary}\n--{boundary}--", "HTMLBody": "<p/>"})
    written = assert_same_as_reference(draft)
    assert f'boundary="{boundary}"'.encode() not in written.stored


def test_long_and_wide_text_is_folded_and_encoded_within_the_line_limits() -> None:
    long_subject = "Møte " * 40 + "x" * 120 + " 会議の議題について確認をお願いします" * 6
    draft = build(
        {
            "Subject": long_subject,
            "From": {"Address": "a@b.no", "Name": "Åse " * 30},
            "To": [{"Address": f"p{i}@b.no", "Name": f"Person nummer {i} – Ødegård"} for i in range(12)],
            "CustomHeaderList": [{"Name": "X-" + "Lang" * 20, "Values": ["verdi æøå " * 20]}],
            "Attachments": [_file(PNG) | {"Filename": "æ" * 100 + ".pdf"}, _file(PNG) | {"Filename": "a b" * 60}],
        }
    )
    written = assert_same_as_reference(draft)
    assert parse(written.stored)["Subject"] == long_subject.strip()
    assert parse(written.stored)["From"].addresses[0].display_name.split() == ["Åse"] * 30


def test_an_address_that_needs_smtputf8_makes_a_utf8_header_block() -> None:
    draft = build({"Subject": "Møte", "To": [{"Address": "jøran@fjord.no", "Name": "Jøran"}]})
    assert draft.needs_utf8
    written = mimewriter._write(draft)  # no encoded words: RFC 6532 headers are UTF-8 themselves
    assert "To: Jøran <jøran@fjord.no>".encode() in written.stored and b"=?utf-8?" not in written.stored
    assert_same_as_reference(draft)


# -- base64 -----------------------------------------------------------------------------------------------------


@given(st.binary(max_size=400), st.sampled_from(["", " ", "\r\n", "\n\t "]), st.integers(0, 80))
def test_the_stream_rewrapped_equals_the_stdlibs_encoding_of_its_bytes(data: bytes, space: str, every: int) -> None:
    text = base64.b64encode(data).decode()
    if every:
        text = space.join(text[i : i + every] for i in range(0, len(text), every))
    canonical = base64text.base64_text(text)
    assert canonical is not None
    assert mime.decode_stream(text) == data
    assert mimewriter.wrap_base64(canonical) == base64.encodebytes(data).replace(b"\n", b"\r\n")


# -- arbitrary drafts -------------------------------------------------------------------------------------------

# Non-ASCII everywhere, address syntax, encoded-word look-alikes, control characters and line ends.
texts = st.one_of(
    st.none(),
    st.text(max_size=120),
    st.text(alphabet="abc æøå–会 =?*;:<>@,.\"'\\()[]\r\n\t\x00_", max_size=120),
    st.sampled_from(["", " ", "=?utf-8?q?x?=", "a  b", "Møte  på", "Re: Møte", "x" * 200, "Ø" * 90]),
)
names = st.one_of(texts, st.sampled_from(["Berg, Anna", 'A "Q" B', "Åse Ødegård", "a\\b", "Kari  Nilsen"]))
local = st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True)
domain = st.from_regex(r"[a-z0-9-]{1,12}\.(no|com|example)", fullmatch=True)
addresses = st.fixed_dictionaries(
    {
        "Address": st.one_of(st.builds(lambda lp, d: f"{lp}@{d}", local, domain), texts),
        "Name": names,
    }
)
attachments = st.fixed_dictionaries(
    {
        "Filename": texts,
        "Description": texts,
        "Type": st.sampled_from(["image/png", "application/pdf", "text/plain", "nonsense", None, "a/" + "b" * 90]),
        "Stream": st.one_of(
            st.just(PNG), st.just(""), st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())
        ),
        "Id": texts,
        "Disposition": st.sampled_from(["inline", "attachment", "Inline; x", None]),
    }
)
bodies = st.one_of(
    texts,
    st.text(alphabet="abc æøå\r\n=.", max_size=2000),
    st.builds(lambda n, w: ("x" * w + "\n") * n, st.integers(0, 30), st.integers(0, 200)),
)
entities = st.fixed_dictionaries(
    {
        "From": st.one_of(st.none(), addresses),
        "To": st.lists(addresses, max_size=6),
        "Cc": st.lists(addresses, max_size=3),
        "Bcc": st.lists(addresses, max_size=2),
        "Subject": texts,
        "PlainBody": bodies,
        "HTMLBody": bodies,
        "Priority": st.sampled_from(["Highest", "High", "Normal", "Low", "Lowest", None, "x"]),
        "InReplyTo": st.one_of(st.none(), st.fixed_dictionaries({"MessageId": texts})),
        "CustomHeaderList": st.lists(
            st.fixed_dictionaries(
                {
                    "Name": st.sampled_from(["X-Campaign", "X-A", "Subject", "Bad Name", "X-" + "n" * 80]),
                    "Values": st.lists(texts, max_size=3),
                }
            ),
            max_size=3,
        ),
        "Attachments": st.lists(attachments, max_size=5),
    }
)
message_ids = st.one_of(
    st.just("<m-1@nordlys.no>"),
    # What SaveToMailServer keeps of a client's MessageID; generated ones are `<uuid@domain>`.
    st.from_regex(mime.MSG_ID, fullmatch=True),
)
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(tzinfo=timezone(timedelta(hours=2)))
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entity=entities, message_id=message_ids, when=moments)
def test_any_draft_is_written_as_the_reference_builds_it(
    entity: dict[str, Any], message_id: str, when: datetime
) -> None:
    assert_same_as_reference(draft_from_entity(entity, message_id=message_id, date=when))
