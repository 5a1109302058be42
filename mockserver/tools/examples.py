"""Docs payloads: sample requests and responses for each vendor operation, made by the mock itself.

`mockserver examples` writes, for every request example the contract gives an operation (its named
`requestBody` examples), the exchange as the vendors' reference pages print it: the request line, the
headers they show (`Authorization`, `Accept`, `Accept-Language`, `Content-Type`), the body, then
`HTTP/1.1 200 OK`, the response headers and body. The requests are sent in-process through the real app
(`create_app`, delivery `none`, a seed, the app checking its own responses against the contract), so the
answers come from the mock's own code path and are valid against the contract by construction.

Formats (`--format`, repeatable; default `http` when printing, all four with `--out`):

* `json`: `json/<operationId>.<example>.json`, `{"request": {method, path, headers, body}, "response":
  {status, headers, body}}` plus the operation, example name and summary;
* `xml`: `xml/<operationId>.<example>.http`, the same exchange sent and answered in `application/xml`
  (SuperOffice only: GWS speaks JSON alone);
* `http`: `http/<operationId>.<example>.http`, the raw exchange text as on the vendor pages;
* `markdown`: `markdown/<operationId>.md`, a reference page per operation, and `README.md`, an index.

What is shown, and why:

* The credential is the SuperOffice pages' own sample, `Basic dGplMDpUamUw` (tje0:Tje0), never a secret.
* Bodies are pretty-printed (JSON with two-space indents as on the vendor pages, XML indented); a request
  body is sent exactly as shown. Response bodies are the app's, re-indented; their content is unchanged.
* Only headers a reader acts on are shown: `Content-Type`, and the session headers of the GWS login.
  Transport headers (`Content-Length`, `Host`, `Vary`) and the mock's `X-Mock-Seed` are left out.
* Genesys: a real GWS wants a session and, with CSRF protection (the default), a CSRF token; that is what
  a reader's client will have to do, so the GWS samples run with CSRF on and show the flow: `GET
  /api/v2/me` with Basic credentials answers the `JSESSIONID` cookie and `X-CSRF-TOKEN`; `Send` carries
  both (the cookie alone authenticates it). The mock draws session ids and CSRF tokens from the system's
  random source even with a seed, so the pages show stand-ins derived from the seed instead. The CometD
  notification that follows the `Send` (channel `/v2/me/emails`) is captured too, through a real handshake,
  subscribe and connect that carry the cookie and the CSRF token like any POST, and shown with it.
* Every sample runs in a fresh app, so one sample never depends on which others were generated (GWS
  `referenceId` is always 1). With the same seed the output is byte-identical; the mock's clock is frozen.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import indent, tostring

import defusedxml.ElementTree as SafeTree
import httpx
from starlette.types import ASGIApp, Message

from mockserver.contract import spec
from mockserver.contract.problems import BAYEUX_PATH
from mockserver.contract.xmlcodec import XmlCodec
from mockserver.genesys.notify import EMAILS_CHANNEL
from mockserver.genesys.sessions import CSRF_TOKEN, SESSION_COOKIE
from mockserver.settings import Settings

FORMATS = ("json", "xml", "http", "markdown")
DEFAULT_SEED = 0
# The SuperOffice reference pages' sample credential (tje0:Tje0).
SAMPLE_AUTHORIZATION = "Basic dGplMDpUamUw"
BASE_URL = "http://localhost:8080"
REGENERATE = "python -m mockserver examples --out fixtures/examples"

SUPEROFFICE_TAG = "EMail_Agent"
GWS_TAG = "GWS_Email"
VENDOR_TAGS = (SUPEROFFICE_TAG, GWS_TAG)

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"
GWS_JSON_TYPE = "application/json"
# The RelayMessage page sends `Accept-Language: *`; operations that document the header use its example.
ANY_LANGUAGE = "*"
GWS_LOGIN_PATH = "/api/v2/me"
# Response headers shown, in this order and spelling; everything else is transport or mock detail.
SHOWN_RESPONSE_HEADERS = ("Content-Type", "Set-Cookie", "X-CSRF-HEADER", "X-CSRF-TOKEN", "WWW-Authenticate")

Headers = tuple[tuple[str, str], ...]
XML = XmlCodec(spec.resolve)


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as shown (bodies are text, "" when there is none)."""

    method: str
    path: str
    request_headers: Headers
    request_body: str
    status: int
    response_headers: Headers
    response_body: str


@dataclass(frozen=True)
class Sample:
    operation_id: str
    example: str
    summary: str
    media: str  # "json" or "xml"
    exchange: Exchange
    session: Exchange | None = None  # the GWS login before it
    notification: Any = None  # the CometD event data after a GWS Send


@dataclass(frozen=True)
class Plan:
    operation_id: str
    example: str
    summary: str
    value: Any
    media: str


# Choosing what to document


def _path_of(operation_id: str) -> str:
    for path, item in spec.load()["paths"].items():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return str(path)
    raise KeyError(operation_id)


def documented_operations() -> list[str]:
    """The vendor operations (SuperOffice EMail agent and GWS e-mail), in contract order."""
    return [op_id for op_id, op in spec.operations().items() if set(op.get("tags") or ()) & set(VENDOR_TAGS)]


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts), re.IGNORECASE)


def _matches(name: str, operation_id: str) -> bool:
    wanted = name.strip().split()[-1] if name.strip() else ""  # `POST /api/...` names the path
    wanted = wanted.split("?", 1)[0]
    if wanted.casefold() == operation_id.casefold():
        return True
    template = _path_of(operation_id)
    if _template_regex(template).fullmatch("/" + wanted.lstrip("/")):
        return True
    last = template.rsplit("/", 1)[-1]
    return not last.startswith("{") and wanted.casefold() == last.casefold()


def select_operations(names: Sequence[str] | None) -> list[str]:
    """The operations named (operationId, path or the path's last segment), in contract order; all when none.
    ValueError for a name that matches none."""
    known = documented_operations()
    if not names:
        return known
    chosen: set[str] = set()
    for name in names:
        found = {op_id for op_id in known if _matches(name, op_id)}
        if not found:
            raise ValueError(f"unknown operation {name!r}; known: {', '.join(known)} (or their paths)")
        chosen |= found
    return [op_id for op_id in known if op_id in chosen]


def _tags(operation_id: str) -> set[str]:
    return set(spec.operations()[operation_id].get("tags") or ())


def _is_gws(operation_id: str) -> bool:
    return GWS_TAG in _tags(operation_id)


def request_examples(operation_id: str) -> dict[str, tuple[str, Any]]:
    """Named request examples of an operation: name → (summary, value), in contract order."""
    body = spec.operations()[operation_id].get("requestBody") or {}
    media = (body.get("content") or {}).get("application/json") or {}
    found: dict[str, tuple[str, Any]] = {}
    for name, example in (media.get("examples") or {}).items():
        resolved = spec.resolve(example)
        found[name] = (str(resolved.get("summary") or name), resolved.get("value"))
    if "example" in media:
        found.setdefault("default", ("Example", media["example"]))
    return found


def _plans(operation_ids: Sequence[str], formats: Sequence[str]) -> list[Plan]:
    medias = [m for m in ("json", "xml") if m in formats or (m == "json" and {"http", "markdown"} & set(formats))]
    plans = []
    for op_id in operation_ids:
        for media in medias:
            if media == "xml" and _is_gws(op_id):
                continue  # GWS answers application/json only
            for name, (summary, value) in request_examples(op_id).items():
                plans.append(Plan(op_id, name, summary, value, media))
    return plans


# Running the samples through the app


def _settings(seed: int) -> Settings:
    """Deterministic, nothing leaves the process, and the app checks its own answers against the contract."""
    return Settings(
        seed=seed,
        delivery="none",
        store=":memory:",
        port=0,
        validate_responses=True,
        gws_csrf=True,
        cors_origins=None,
    )


@asynccontextmanager
async def _lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run an ASGI app's lifespan around a block (httpx's ASGITransport does not)."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def receive() -> Message:
        return await to_app.get()

    async def send(message: Message) -> None:
        await from_app.put(message)

    async def serve() -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)

    task = asyncio.create_task(serve())
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started.get('message', started['type'])}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


def _parameter_example(operation_id: str, location: str, name: str) -> str | None:
    for parameter in spec.operations()[operation_id].get("parameters") or ():
        resolved = spec.resolve(parameter)
        if resolved.get("in") == location and str(resolved.get("name", "")).casefold() == name.casefold():
            example = resolved.get("example")
            return None if example is None else str(example)
    return None


def _concrete_path(operation_id: str) -> str:
    def fill(match: re.Match[str]) -> str:
        example = _parameter_example(operation_id, "path", match.group(1))
        if example is None:
            raise ValueError(f"{operation_id}: path parameter {match.group(1)!r} has no example")
        return example

    return re.sub(r"\{([^}]+)\}", fill, _path_of(operation_id))


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _pretty_xml(raw: bytes) -> str:
    root = SafeTree.fromstring(raw, forbid_dtd=True)
    indent(root, space="  ")
    # As the app writes it: a CR is a character reference, or XML end-of-line handling would eat it.
    return str(tostring(root, encoding="unicode")).replace("\r", "&#13;")


def _request_xml(operation_id: str, value: Any) -> str:
    schema = spec.operations()[operation_id]["requestBody"]["content"]["application/json"]["schema"]
    root = spec.request_root(operation_id) or "Request"
    return _pretty_xml(XML.write(value, schema, root, str))


def _shown_body(response: httpx.Response) -> str:
    if not response.content:
        return ""
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if media_type.endswith("xml"):
        return _pretty_xml(response.content)
    return _pretty_json(response.json())


def _shown_headers(response: httpx.Response) -> Headers:
    return tuple((name, value) for name in SHOWN_RESPONSE_HEADERS for value in response.headers.get_list(name))


def _checked(response: httpx.Response, what: str) -> httpx.Response:
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"{what}: the mock answered {response.status_code}: {response.text[:500]}")
    return response


async def _exchange(
    client: httpx.AsyncClient, method: str, path: str, headers: Headers, body: str, what: str
) -> tuple[Exchange, httpx.Response]:
    content = body.encode("utf-8") if body else None
    response = _checked(await client.request(method, path, headers=list(headers), content=content), what)
    exchange = Exchange(
        method=method,
        path=path,
        request_headers=headers,
        request_body=body,
        status=response.status_code,
        response_headers=_shown_headers(response),
        response_body=_shown_body(response),
    )
    return exchange, response


def _stand_ins(seed: int, session_id: str, csrf: str) -> dict[str, str]:
    """Seed-derived values shown in place of the session's random id and CSRF token (Jetty-style id, UUID)."""
    digest = hashlib.blake2b(f"mockserver examples:{seed}".encode(), digest_size=48).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    shown_id = "".join(alphabet[byte % len(alphabet)] for byte in digest[:26])
    shown_csrf = str(uuid.UUID(bytes=digest[32:48], version=4))
    return {real: shown for real, shown in ((session_id, shown_id), (csrf, shown_csrf)) if real}


def _replace(text: str, stand_ins: Mapping[str, str]) -> str:
    for real, shown in stand_ins.items():
        text = text.replace(real, shown)
    return text


def _with_stand_ins(exchange: Exchange, stand_ins: Mapping[str, str]) -> Exchange:
    return Exchange(
        method=exchange.method,
        path=exchange.path,
        request_headers=tuple((name, _replace(value, stand_ins)) for name, value in exchange.request_headers),
        request_body=_replace(exchange.request_body, stand_ins),
        status=exchange.status,
        response_headers=tuple((name, _replace(value, stand_ins)) for name, value in exchange.response_headers),
        response_body=_replace(exchange.response_body, stand_ins),
    )


async def _superoffice(client: httpx.AsyncClient, plan: Plan) -> Sample:
    media_type = XML_TYPE if plan.media == "xml" else JSON_TYPE
    language = _parameter_example(plan.operation_id, "header", "Accept-Language") or ANY_LANGUAGE
    headers: Headers = (
        ("Authorization", SAMPLE_AUTHORIZATION),
        ("Accept", media_type),
        ("Accept-Language", language),
        ("Content-Type", media_type),
    )
    body = _request_xml(plan.operation_id, plan.value) if plan.media == "xml" else _pretty_json(plan.value)
    what = f"{plan.operation_id} {plan.example} ({plan.media})"
    exchange, _ = await _exchange(client, "POST", _path_of(plan.operation_id), headers, body, what)
    return Sample(plan.operation_id, plan.example, plan.summary, plan.media, exchange)


async def _bayeux(client: httpx.AsyncClient, session: Headers, message: dict[str, Any]) -> list[dict[str, Any]]:
    """One CometD request; a POST like any other, so it carries the session cookie and the CSRF token."""
    response = _checked(await client.post(BAYEUX_PATH, json=[message], headers=dict(session)), "CometD")
    replies: list[dict[str, Any]] = response.json()
    return replies


async def _gws(client: httpx.AsyncClient, plan: Plan, seed: int) -> Sample:
    what = f"{plan.operation_id} {plan.example}"
    login_headers: Headers = (("Authorization", SAMPLE_AUTHORIZATION), ("Accept", GWS_JSON_TYPE))
    login, response = await _exchange(client, "GET", GWS_LOGIN_PATH, login_headers, "", what + " (login)")
    session_id = response.cookies.get(SESSION_COOKIE) or ""
    csrf = response.headers.get(CSRF_TOKEN, "")
    if not session_id or not csrf:
        raise RuntimeError(f"{what}: the login answered no session cookie or CSRF token")
    stand_ins = _stand_ins(seed, session_id, csrf)
    # From here on the cookie is sent explicitly, so that what is shown is what was sent.
    client.cookies.clear()
    cookie = f"{SESSION_COOKIE}={session_id}"
    session: Headers = (("Cookie", cookie), (CSRF_TOKEN, csrf))
    # Subscribe to the outcome before sending, as a GWS client does (the CometD flow itself is not shown).
    handshake = {"version": "1.0", "channel": "/meta/handshake", "supportedConnectionTypes": ["long-polling"]}
    [welcome] = await _bayeux(client, session, {"id": "1", **handshake})
    client_id = str(welcome["clientId"])
    connect = {"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling"}
    await _bayeux(client, session, {"id": "2", **connect})
    subscribe = {"channel": "/meta/subscribe", "clientId": client_id, "subscription": EMAILS_CHANNEL}
    await _bayeux(client, session, {"id": "3", **subscribe})
    headers: Headers = (*session, ("Accept", GWS_JSON_TYPE), ("Content-Type", GWS_JSON_TYPE))
    path = _concrete_path(plan.operation_id)
    exchange, _ = await _exchange(client, "POST", path, headers, _pretty_json(plan.value), what)
    notification = None
    for attempt in range(20):
        replies = await _bayeux(client, session, {"id": str(4 + attempt), **connect, "advice": {"timeout": 500}})
        events = [reply["data"] for reply in replies if reply.get("channel") == EMAILS_CHANNEL]
        if events:
            notification = events[0]
            break
    if notification is None:
        raise RuntimeError(f"{what}: no notification on {EMAILS_CHANNEL}")
    await _bayeux(client, session, {"id": "99", "channel": "/meta/disconnect", "clientId": client_id})
    return Sample(
        plan.operation_id,
        plan.example,
        plan.summary,
        plan.media,
        _with_stand_ins(exchange, stand_ins),
        session=_with_stand_ins(login, stand_ins),
        notification=notification,
    )


async def _run(plans: Sequence[Plan], seed: int) -> list[Sample]:
    from mockserver.app import create_app

    samples = []
    for plan in plans:
        app = create_app(_settings(seed))
        transport = httpx.ASGITransport(app=app)
        async with _lifespan(app), httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            if _is_gws(plan.operation_id):
                samples.append(await _gws(client, plan, seed))
            else:
                samples.append(await _superoffice(client, plan))
    return samples


# Rendering


def request_text(exchange: Exchange) -> str:
    """The request as the vendor pages print it: request line, headers, blank line, body."""
    lines = [f"{exchange.method} {exchange.path}", *(f"{name}: {value}" for name, value in exchange.request_headers)]
    text = "\n".join(lines) + "\n"
    return text + ("\n" + exchange.request_body + "\n" if exchange.request_body else "")


def response_text(exchange: Exchange) -> str:
    """The response as the vendor pages print it: status line, headers, blank line, body."""
    status = f"HTTP/1.1 {exchange.status} {HTTPStatus(exchange.status).phrase}"
    lines = [status, *(f"{name}: {value}" for name, value in exchange.response_headers)]
    text = "\n".join(lines) + "\n"
    return text + ("\n" + exchange.response_body + "\n" if exchange.response_body else "")


def exchange_text(exchange: Exchange) -> str:
    return request_text(exchange) + "\n" + response_text(exchange)


GWS_LOGIN_NOTE = (
    f"Log in: `GET {GWS_LOGIN_PATH}` with Basic credentials opens the session; the answer carries the "
    f"`{SESSION_COOKIE}` cookie and the CSRF token that every POST must send."
)
GWS_SEND_NOTE = (
    "Send with the session cookie and the CSRF token; `statusCode: 0` only means accepted. (The mock draws "
    "session ids and CSRF tokens at random; the values shown are stand-ins.)"
)
GWS_NOTIFICATION_NOTE = (
    f"The outcome arrives as a CometD event on the channel `{EMAILS_CHANNEL}`, with the same `referenceId` "
    "(the `data` of the event a `/meta/connect` returns). The CometD requests are POSTs too: they carry the "
    "session cookie and the CSRF token."
)


def _http_file(sample: Sample) -> str:
    if sample.session is None:
        return exchange_text(sample.exchange)
    return (
        _comment(f"1. {GWS_LOGIN_NOTE}")
        + exchange_text(sample.session)
        + "\n###\n\n"
        + _comment(f"2. {GWS_SEND_NOTE}")
        + exchange_text(sample.exchange)
        + "\n###\n\n"
        + _comment(f"3. {GWS_NOTIFICATION_NOTE}")
        + _pretty_json(sample.notification)
        + "\n"
    )


def _comment(text: str) -> str:
    """A comment block of an .http file (lines starting with `#`, as REST clients read them)."""
    return "".join(f"# {line}\n" for line in textwrap.wrap(text, width=100))


def _exchange_json(exchange: Exchange, media: str) -> dict[str, Any]:
    def body(text: str) -> Any:
        if not text:
            return None
        return text if media == "xml" else json.loads(text)

    return {
        "request": {
            "method": exchange.method,
            "path": exchange.path,
            "headers": dict(exchange.request_headers),
            "body": body(exchange.request_body),
        },
        "response": {
            "status": exchange.status,
            "headers": dict(exchange.response_headers),
            "body": body(exchange.response_body),
        },
    }


def _json_file(sample: Sample) -> str:
    document: dict[str, Any] = {
        "operation": sample.operation_id,
        "example": sample.example,
        "summary": sample.summary,
    }
    if sample.session is not None:
        document["session"] = _exchange_json(sample.session, sample.media)
    document.update(_exchange_json(sample.exchange, sample.media))
    if sample.notification is not None:
        document["notification"] = {"channel": EMAILS_CHANNEL, "data": sample.notification}
    return _pretty_json(document) + "\n"


def _fenced(text: str, language: str = "http") -> str:
    return f"```{language}\n{text.rstrip()}\n```\n"


def _markdown_page(operation_id: str, samples: Sequence[Sample], seed: int) -> str:
    operation = spec.operations()[operation_id]
    method = str(operation["x-method"]).upper()
    path = _path_of(operation_id)
    summary = str(operation.get("summary", "")).strip()
    description = str(operation.get("description", "")).strip()
    parts = [
        f"# {method} {path}\n",
        _fenced(f"{method} {path}"),
        *([] if description.startswith(summary) else [f"{summary}\n"]),
        f"{description}\n",
        f"Operation `{operation_id}`. The samples below are the contract's request examples, answered by the "
        f"mock (seed {seed}); they are generated, do not edit them (`{REGENERATE}`).\n",
    ]
    session = next((s.session for s in samples if s.session is not None), None)
    if session is not None:
        parts += [
            "## Session\n",
            f"{GWS_LOGIN_NOTE}\n",
            _fenced(request_text(session)),
            _fenced(response_text(session)),
        ]
    for sample in samples:
        parts += [
            f"## {_sample_title(sample)}\n",
            f"{sample.summary.rstrip('.')}.\n",
            "### Sample request\n",
            _fenced(request_text(sample.exchange)),
            "### Sample response\n",
            _fenced(response_text(sample.exchange)),
        ]
        if sample.notification is not None:
            parts += [
                "### Notification\n",
                f"{GWS_NOTIFICATION_NOTE}\n",
                _fenced(_pretty_json(sample.notification), "json"),
            ]
    return "\n".join(parts)


def _sample_title(sample: Sample) -> str:
    return f"Sample: {sample.example}"


def _anchor(sample: Sample) -> str:
    """The GitHub anchor of a sample's heading on its page."""
    return re.sub(r"[^a-z0-9 _-]", "", _sample_title(sample).lower()).replace(" ", "-")


def _file_names(sample: Sample) -> dict[str, str]:
    stem = f"{sample.operation_id}.{sample.example}"
    if sample.media == "xml":
        return {"xml": f"xml/{stem}.http"}
    return {"json": f"json/{stem}.json", "http": f"http/{stem}.http"}


def _index(samples: Sequence[Sample], formats: Sequence[str], seed: int) -> str:
    rows = []
    for sample in samples:
        if sample.media != "json":
            continue
        links = []
        if "markdown" in formats:
            links.append(f"[page](markdown/{sample.operation_id}.md#{_anchor(sample)})")
        for fmt in ("http", "json"):
            if fmt in formats:
                name = _file_names(sample)[fmt]
                links.append(f"[{fmt}]({name})")
        xml_sample = next(
            (
                s
                for s in samples
                if s.media == "xml" and (s.operation_id, s.example) == (sample.operation_id, sample.example)
            ),
            None,
        )
        if xml_sample is not None and "xml" in formats:
            links.append(f"[xml]({_file_names(xml_sample)['xml']})")
        rows.append(f"| `{sample.operation_id}` | `{sample.example}` | {sample.summary} | {' · '.join(links)} |")
    return (
        "# Sample requests and responses\n\n"
        f"Generated by `mockserver examples` (seed {seed}) from the request examples of "
        "`openapi/email-api.yaml`, answered in-process by the mock itself, so "
        "they are always valid against the contract. Do not edit: `tests/tools/test_examples.py` regenerates them and "
        f"fails on any difference. Regenerate with `{REGENERATE}`.\n\n"
        "| Operation | Example | Summary | Files |\n"
        "|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


# Public API


def generate(operations: Sequence[str] | None, formats: Sequence[str], seed: int = DEFAULT_SEED) -> dict[str, str]:
    """The sample files (relative name → text) for these operations (operationIds or paths; all vendor operations
    when None or empty) in these formats. ValueError for an unknown operation or format."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"unknown format {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}")
    operation_ids = select_operations(operations)
    samples = asyncio.run(_run(_plans(operation_ids, formats), seed))
    files: dict[str, str] = {}
    for sample in samples:
        names = _file_names(sample)
        if "xml" in names and "xml" in formats:
            files[names["xml"]] = exchange_text(sample.exchange)
        if "json" in names and "json" in formats:
            files[names["json"]] = _json_file(sample)
        if "http" in names and "http" in formats:
            files[names["http"]] = _http_file(sample)
    if "markdown" in formats:
        for operation_id in operation_ids:
            mine = [s for s in samples if s.operation_id == operation_id and s.media == "json"]
            files[f"markdown/{operation_id}.md"] = _markdown_page(operation_id, mine, seed)
        files["README.md"] = _index(samples, formats, seed)
    return dict(sorted(files.items()))


def write(files: Mapping[str, str], out_dir: str | Path) -> list[Path]:
    """Write generated files under `out_dir` (UTF-8, LF line ends); the paths written."""
    root = Path(out_dir)
    written = []
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        written.append(target)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--operation",
        action="append",
        dest="operation",
        metavar="OPERATION",
        help="operationId or path to document, e.g. v1EMailAgent_SendEMails or /api/v2/me/emails/{id} "
        "(repeatable; default: all four vendor operations)",
    )
    parser.add_argument(
        "--format",
        action="append",
        dest="format",
        choices=FORMATS,
        help="output format (repeatable; default: http when printing, all formats with --out)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the mock's seed (default: %(default)s)")
    parser.add_argument("--out", metavar="DIR", help="write the files under DIR (default: print to stdout)")


def main(args: argparse.Namespace) -> int:
    out = getattr(args, "out", None)
    formats = getattr(args, "format", None) or (list(FORMATS) if out else ["http"])
    try:
        files = generate(getattr(args, "operation", None), formats, getattr(args, "seed", DEFAULT_SEED))
    except ValueError as exc:
        print(f"mockserver examples: {exc}", file=sys.stderr)
        return 2
    if not files:
        print("mockserver examples: nothing to write (GWS answers JSON only: no xml samples)", file=sys.stderr)
        return 0
    if out:
        write(files, out)
        print(f"mockserver examples: wrote {len(files)} files under {out}", file=sys.stderr)
        return 0
    for index, (name, text) in enumerate(files.items()):
        if len(files) > 1:
            print(("\n" if index else "") + f"==> {name} <==")
        sys.stdout.write(text)
    return 0
