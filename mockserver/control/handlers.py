"""The mock's control API (openapi/mock-control.yaml): the outbox, wait-for, the inbox page."""

from __future__ import annotations

import html
import re
from datetime import datetime
from email.message import EmailMessage, Message
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from connexion import context as cx
from connexion.exceptions import ProblemException
from starlette.datastructures import Headers
from starlette.responses import Response

from mockserver.contract.bodies import RUNTIME_KEY
from mockserver.mail import mime
from mockserver.mail.outbox import Filters, Row, parse_instant
from mockserver.runtime import Runtime

JSON = "application/json"
# The HTML of a mail may not run scripts or load anything from elsewhere; its own attachments (cid:) are
# rewritten to this server's attachment URLs.
MAIL_HTML_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; font-src data:"
PAGE_POLICY = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-src 'self'"
MAX_WAIT_SECONDS = 60.0


def _runtime() -> Runtime:
    runtime: Runtime = cx.scope[RUNTIME_KEY]
    return runtime


def _namespace() -> str:
    """The `X-Mock-Namespace` header, else the `namespace` query parameter; a header wins even when blank.

    The query parameter is for plain URLs (links, iframes, downloads), which cannot carry a header.
    """
    header = Headers(scope=cx.scope).get("x-mock-namespace")
    chosen = header if header is not None else _query().get("namespace", "")
    return chosen.strip()[:200]


def _query() -> dict[str, str]:
    return dict(parse_qsl(cx.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON)


def _not_found(detail: str) -> ProblemException:
    return ProblemException(status=404, title="Not Found", detail=detail)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError:
        raise ProblemException(
            status=400,
            title="Bad Request",
            detail=f"Query parameter 'since': {text!r} is not an ISO 8601 date-time (e.g. 2025-11-03T09:30:00+01:00)",
        ) from None


def _filters(query: dict[str, str]) -> Filters:
    after = query.get("after_id")
    return Filters(
        namespace=_namespace(),
        to=query.get("to") or None,
        sender=query.get("from") or None,
        subject=query.get("subject") or None,
        operation=query.get("operation") or None,
        status=query.get("status") or None,
        since=_since(query.get("since")),
        after_id=int(after) if after and after.isdigit() else None,
        message_id=query.get("message_id") or None,
    )


async def list_outbox() -> Response:
    query = _query()
    filters = _filters(query)
    limit = int(query.get("limit") or 50)
    outbox = _runtime().mail.outbox
    items = [row.summary() for row in outbox.find(filters, limit)]
    return _json({"count": outbox.count(filters), "items": items})


async def reset_outbox() -> Response:
    return _json({"deleted": _runtime().mail.outbox.delete(_namespace())})


async def wait_for_mail() -> Response:
    query = _query()
    timeout = min(float(query.get("timeout") or 10), MAX_WAIT_SECONDS)
    found = await _runtime().mail.outbox.wait_for(_filters(query), timeout)
    if found is None:
        raise _not_found(f"No matching mail arrived within {timeout:g} s")
    return _json(found.summary())


def _row(mail_id: int) -> Row:
    found = _runtime().mail.outbox.get(_namespace(), mail_id)
    if found is None:
        raise _not_found(f"No mail {mail_id} in this namespace")
    return found


def _attachments(message: EmailMessage) -> list[Message]:
    """Every leaf part that is not the plain or HTML body, in message order (the index is its address)."""
    bodies = {id(part) for part in (message.get_body(("plain",)), message.get_body(("html",))) if part is not None}
    return [part for part in message.walk() if not part.is_multipart() and id(part) not in bodies]


def _body(message: EmailMessage, kind: str) -> str | None:
    try:
        part = message.get_body(preferencelist=(kind,))
        return str(part.get_content()) if part is not None else None
    except (KeyError, LookupError, ValueError, AttributeError):
        return None


async def get_mail(id: int) -> Response:  # noqa: A002 - the contract names the path parameter `id`
    row = _row(id)
    message = mime.parse_rfc822_bytes(row.values["raw"])
    headers = [
        {"name": name, "value": mime.header_text(_safe_value(message, name, value))}
        for name, value in message.raw_items()
    ]
    attachments = [
        {
            "index": index,
            "filename": part.get_filename(),
            "content_type": part.get_content_type(),
            "size": len(part.get_payload(decode=True) or b""),
            "content_id": part.get("Content-ID"),
            "disposition": part.get_content_disposition(),
        }
        for index, part in enumerate(_attachments(message))
    ]
    detail = {
        **row.summary(),
        "headers": headers,
        "text": _body(message, "plain"),
        "html": _body(message, "html"),
        "attachments": attachments,
        "request": orjson.loads(row.values["request"]),
    }
    return _json(detail)


def _safe_value(message: EmailMessage, name: str, raw: str) -> str:
    try:
        return str(message.policy.header_fetch_parse(name, raw))
    except Exception:  # an unparseable header is shown as it was written
        return str(raw)


async def delete_mail(id: int) -> Response:  # noqa: A002
    if not _runtime().mail.outbox.delete(_namespace(), id):
        raise _not_found(f"No mail {id} in this namespace")
    return Response(status_code=204)


async def get_raw_mail(id: int) -> Response:  # noqa: A002
    row = _row(id)
    return Response(
        row.values["raw"],
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="mail-{id}.eml"'},
    )


async def get_mail_html(id: int) -> Response:  # noqa: A002
    row = _row(id)
    message = mime.parse_rfc822_bytes(row.values["raw"])
    body = _body(message, "html")
    if body is None:
        text = _body(message, "plain") or ""
        body = f"<pre style='white-space:pre-wrap;font:13px monospace'>{html.escape(text)}</pre>"
    else:
        # A frame's image requests carry no namespace header, so the namespace goes into the URL.
        namespace = _namespace()
        in_namespace = f"?namespace={quote(namespace, safe='')}" if namespace else ""
        cids = {}
        for index, part in enumerate(_attachments(message)):
            content_id = str(part.get("Content-ID") or "").strip("<> ")
            if content_id:
                cids[content_id] = f"/_mock/outbox/{id}/attachments/{index}{in_namespace}"
        body = re.sub(
            r"cid:([^\"'\s)>]+)", lambda match: cids.get(match.group(1), "about:blank"), body, flags=re.IGNORECASE
        )
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": MAIL_HTML_POLICY, "X-Content-Type-Options": "nosniff"},
    )


async def get_attachment(id: int, index: int) -> Response:  # noqa: A002
    row = _row(id)
    parts = _attachments(mime.parse_rfc822_bytes(row.values["raw"]))
    if not 0 <= index < len(parts):
        raise _not_found(f"Mail {id} has no attachment {index}")
    part = parts[index]
    filename = part.get_filename() or f"attachment-{index}"
    safe_name = re.sub(r"[^\w.\- ]", "_", filename)[:200] or f"attachment-{index}"
    return Response(
        part.get_payload(decode=True) or b"",
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{safe_name}"',
            "X-Content-Type-Options": "nosniff",
            "X-Attachment-Content-Type": part.get_content_type(),
        },
    )


async def list_sink() -> Response:
    limit = int(_query().get("limit") or 50)
    return _json({"items": _runtime().mail.outbox.received(limit)})


async def inbox_page() -> Response:
    page = resources.files("mockserver").joinpath("static/inbox.html").read_text(encoding="utf-8")
    return Response(page, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": PAGE_POLICY})
