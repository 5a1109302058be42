"""One API call as a handler sees it: the decoded body, the seed, the generator, and how to answer."""

from __future__ import annotations

import dataclasses
import functools
import random
import secrets
from asyncio import sleep
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from connexion import context as cx
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mockserver import controls
from mockserver.contract import problems, spec
from mockserver.contract.bodies import BODY_KEY, RAW_BODY_KEY, RUNTIME_KEY
from mockserver.contract.bodies import operation_id as routed_operation_id
from mockserver.contract.negotiation import negotiate
from mockserver.fakes import Gen
from mockserver.formats import locales, timezones
from mockserver.formats.dotnet import DotNetDateTime
from mockserver.formats.projection import SelectTree, apply_select, parse_select
from mockserver.runtime import Runtime
from mockserver.seeding import SEED_HEADERS, request_seed

SEED_HEADER = "X-Mock-Seed"
# Where the security check records the caller (`ConnexionRequest.context`; `connexion.context.context` reads it).
CONNEXION_CONTEXT = "connexion_context"
NAMESPACE_HEADER = "x-mock-namespace"
PREFERENCE_APPLIED = "Preference-Applied"
# Query parameters that change the view of a result or steer the mock, not the data: not part of the seed.
VIEW_PARAMETERS = frozenset({"$select", *(controls.QUERY_PREFIX + name for name in controls.KNOWN)})
# Latency and chaos draw from their own stream, so that turning them on does not change the data.
SIDE_STREAM = 0x5EED_CA05

SUPEROFFICE_MEDIA_TYPES = (
    "application/json",
    "text/json",
    "application/xml",
    "text/xml",
    "application/json-patch+json",
    "application/merge-patch+json",
)
GWS_MEDIA_TYPES = ("application/json",)
XML_MEDIA_TYPES = frozenset({"application/xml", "text/xml"})


class CannedResponse(problems.MockProblem):
    """A response decided by the mock's controls (a forced status, a named example), not by the handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code, "canned response")
        self.response = response


@dataclass
class Call:
    runtime: Runtime
    scope: Scope
    operation_id: str
    body: Any
    seed: int
    gen: Gen
    media_type: str | None
    select: SelectTree | None
    user: str | None
    texts: locales.Texts = locales.NO_LANGUAGE
    zone: tzinfo | None = None
    include_offset: bool = True
    offset_colon: bool = True
    controls: controls.Controls = field(default_factory=controls.Controls)
    # The request may hold a string longer than a piece of the answer, which the answer may echo (an attachment).
    large: bool = False

    @functools.cached_property
    def headers(self) -> Headers:
        return Headers(scope=self.scope)

    @functools.cached_property
    def namespace(self) -> str:
        """The outbox partition of this request (`X-Mock-Namespace`), so parallel tests keep their mail apart."""
        return self.headers.get(NAMESPACE_HEADER, "").strip()[:200]

    @property
    def input_zone(self) -> tzinfo:
        return self.zone or self.runtime.base_zone

    def now(self) -> DotNetDateTime:
        return self.runtime.now(self.gen)

    def instant(self) -> datetime:
        """When the request came, for what shows no seventh digit (a row, a message's Date): `Runtime.instant`."""
        return self.runtime.instant(self.gen)

    def local(self, moment: DotNetDateTime) -> datetime:
        """A moment as a wall-clock time in the zone this response speaks."""
        return moment.value.astimezone(self.zone or self.runtime.base_zone)

    @functools.cached_property
    def moment(self) -> datetime:
        """The request's wall-clock time in the response's zone, for texts that print a date."""
        base = self.runtime.frozen_now or DotNetDateTime(datetime.now(self.runtime.base_zone))
        return self.local(base)

    def parse_datetime(self, value: Any) -> DotNetDateTime | str | None:
        """A date-time from the request, kept as an instant so that it renders like every other date."""
        if not isinstance(value, str):
            return None
        try:
            return DotNetDateTime.parse(value, self.input_zone)
        except ValueError:
            return value

    def render_leaf(self, value: Any) -> Any:
        if isinstance(value, DotNetDateTime):
            return value.render(self.zone or self.runtime.base_zone, self.include_offset, self.offset_colon)
        raise TypeError(f"cannot serialise {type(value).__name__}")

    def _headers(self) -> dict[str, str]:
        headers = {SEED_HEADER: str(self.seed)}
        if self.controls.applied:
            headers[PREFERENCE_APPLIED] = ", ".join(self.controls.applied)
        return headers

    def respond(self, data: Any, status: int = 200) -> Response:
        """The answer in the negotiated media type, `$select` applied, the seed echoed."""
        headers = self._headers()
        if status == 204:
            return Response(status_code=204, headers=headers)
        media_type = self.media_type or "application/json"
        projected = apply_select(data, self.select)
        if media_type in XML_MEDIA_TYPES:
            described = spec.response_schema(self.operation_id, status, media_type)
            schema, root = described if described else ({}, "Result")
            content = self.runtime.xml.write(projected, schema, root, self.render_leaf)
        else:
            if self.large:
                pieces = self._json_pieces(projected)
                if pieces is not None:
                    self.scope.pop(BODY_KEY, None)
                    return PiecewiseResponse(pieces, status, headers, f"{media_type}; charset=utf-8")
            content = orjson.dumps(projected, default=self.render_leaf, option=orjson.OPT_PASSTHROUGH_DATACLASS)
        # The answer is written: the request's decoded body (an echoed attachment, say) need not outlive it.
        self.scope.pop(BODY_KEY, None)
        media = f"{media_type}; charset=utf-8"
        if len(content) > PiecewiseResponse.PIECE:
            return PiecewiseResponse([content], status, headers, media)
        return Response(content, status_code=status, headers=headers, media_type=media)

    def _json_pieces(self, data: Any) -> list[bytes | str] | None:
        """The JSON answer with its long strings (an echoed attachment's base64) left out of the serialised
        bytes: each stands in the list as itself, to be escaped a piece at a time as it is sent, so the answer
        holds no second copy of it. None when the answer has no string that long."""
        long: list[str] = []
        marked = _mark_long(data, long)
        if not long:
            return None
        content = orjson.dumps(marked, default=self.render_leaf, option=orjson.OPT_PASSTHROUGH_DATACLASS)
        pieces: list[bytes | str] = []
        start = 0
        for index, text in enumerate(long):
            marker = orjson.dumps(_marker(index))[1:-1]  # the quotes stay, around the text
            at = content.find(marker, start)
            if at < 0 or content.find(marker, at + 1) >= 0:
                return None  # cannot happen unless a client guessed this process's token: answer the plain way
            pieces += [content[start:at], text]
            start = at + len(marker)
        pieces.append(content[start:])
        return pieces


class PiecewiseResponse(Response):
    """A large answer sent in pieces: handed to the transport whole, what the socket could not take at once was
    copied into the transport's buffer (a second copy of, say, an echoed attachment); in pieces, the server's
    flow control waits for the socket instead.

    A piece is bytes as they are sent, or a string to be written as a JSON string's content, escaped a slice at
    a time (see `Call._json_pieces`)."""

    PIECE = 64 * 1024

    def __init__(self, pieces: list[bytes | str], status: int, headers: dict[str, str], media_type: str) -> None:
        self.pieces = pieces
        length = sum(len(p) if isinstance(p, bytes) else sum(map(len, _escaped(p))) for p in pieces)
        super().__init__(None, status, {**headers, "content-length": str(length)}, media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        for piece in self.pieces:
            for chunk in _escaped(piece) if isinstance(piece, str) else _slices(piece):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _slices(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), PiecewiseResponse.PIECE):
        yield bytes(view[start : start + PiecewiseResponse.PIECE])


def _escaped(text: str) -> Iterator[bytes]:
    """A string's JSON form without its quotes, a slice at a time (a slice of a `str` never splits a character)."""
    for start in range(0, len(text), PiecewiseResponse.PIECE):
        yield orjson.dumps(text[start : start + PiecewiseResponse.PIECE])[1:-1]


# Stands in for a long string while the rest of an answer is serialised: random per process, and checked to occur
# exactly once, so no client text can be taken for it.
_MARKER = f"\x00mockserver-long-{secrets.token_hex(8)}-"


def _marker(index: int) -> str:
    return f"{_MARKER}{index}\x00"


def _mark_long(data: Any, found: list[str]) -> Any:
    """`data` with each string longer than a piece replaced by a marker, the strings collected in `found`."""
    if isinstance(data, str):
        if len(data) > PiecewiseResponse.PIECE:
            found.append(data)
            return _marker(len(found) - 1)
        return data
    if isinstance(data, dict):
        return {key: _mark_long(value, found) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_mark_long(value, found) for value in data]
    return data


async def begin(offered: Sequence[str] | None) -> Call:
    """Set up the call for the current request; `offered` None means the operation answers without a body.

    Negotiation and the mock's controls come before anything is accepted, so a client that cannot read the
    answer, or asked for a failure, has no mail sent on its behalf.
    """
    # The request's own dict, not Connexion's proxy: the proxy looks the context variable up again on every
    # item the call reads or writes, for as long as the call lives.
    scope: Scope = cx.scope._get_current_object()
    runtime: Runtime = scope[RUNTIME_KEY]
    headers = _call_headers(scope)
    query = scope.get("query_string", b"").decode("latin-1")
    # Read from the scope, where the routing and the security check left them (through Connexion's context
    # proxies each read cost ~0.6 µs).
    operation_id = routed_operation_id(scope) or str(cx.operation.operation_id)
    wanted = controls.read(headers.get("prefer", []), query)
    accept = _first(headers, "accept")
    media_type = None
    if offered is not None:
        media_type = negotiate(accept, offered)
        if media_type is None:
            raise problems.not_acceptable(accept, list(offered))
    texts = _texts(_first(headers, "accept-language"), _first(headers, "so-language"), _first(headers, "so-culture"))
    zone, include_offset, offset_colon = None, True, True
    so_timezone = _first(headers, "so-timezone")
    if so_timezone:
        try:
            requested = timezones.parse(so_timezone, runtime.iana_zones)
        except ValueError as exc:
            raise problems.bad_request(f"SO-TimeZone: {exc}") from None
        zone, include_offset, offset_colon = requested.zone, requested.include_offset, False
    seed = wanted.seed
    if seed is None:
        seed = request_seed(
            runtime.run_seed,
            operation_id,
            scope.get("path", ""),
            seed_query(query),
            [(name, headers[name][0]) for name in SEED_HEADERS if name in headers],
            scope.get(RAW_BODY_KEY, b""),
        )
    # The request's bytes are read: the decoded body is all the handler needs (and an attachment can be megabytes).
    raw = scope.pop(RAW_BODY_KEY, None)
    user = caller(scope)
    call = Call(
        runtime=runtime,
        scope=scope,
        operation_id=operation_id,
        body=scope.get(BODY_KEY),
        seed=seed,
        gen=runtime.gen(seed, texts),
        media_type=media_type,
        select=parse_select(_query_value(query, "$select")),
        user=str(user) if user is not None else None,
        texts=texts,
        zone=zone,
        include_offset=include_offset,
        offset_colon=offset_colon,
        controls=wanted,
        large=raw is not None and may_hold_long_string(raw),
    )
    # What `namespace` would read from the headers again (a Headers object built for one value).
    call.__dict__["namespace"] = (_first(headers, NAMESPACE_HEADER) or "").strip()[:200]
    latency = wanted.delay or runtime.latency
    # Seeding a generator costs microseconds; most requests draw neither a latency nor chaos.
    side = random.Random(seed ^ SIDE_STREAM) if latency is not None or runtime.chaos else None
    if latency is not None:
        assert side is not None
        await sleep(latency.sample(side) / 1000)
    _apply_controls(call, side)
    return call


def caller(scope: Scope) -> Any:
    """Who the security check found the request to come from (its `user`), read from the scope where it left it,
    not through Connexion's context proxy; None before the check or without credentials."""
    return (scope.get("extensions", {}).get(CONNEXION_CONTEXT) or {}).get("user")


def may_hold_long_string(raw: bytes | bytearray) -> bool:
    """Whether a JSON text has a run longer than a piece without a quote: only then can it hold a string that
    long. Looking for one in the answer walks all of it, which a thousand short mails should not pay for.

    From just after a quote, the last quote of the next piece's worth of bytes is where the next run can start,
    so a megabyte of short strings is read in a few C-speed `rfind`s. (A long string full of escaped quotes is
    missed; its answer is then serialised in one piece, as any other.)"""
    piece = PiecewiseResponse.PIECE
    start = 0
    while len(raw) - start > piece:
        last = raw.rfind(b'"', start, start + piece + 1)
        if last < 0:
            return True
        start = last + 1
    return False


# The headers `begin` reads, gathered in one pass (Starlette's `Headers` scans them all for each name it is asked).
_CALL_HEADERS = frozenset(name.encode("latin-1") for name in ("prefer", "accept", NAMESPACE_HEADER, *SEED_HEADERS))


def _call_headers(scope: Scope) -> dict[str, list[str]]:
    """The values of each header `begin` reads, in order (names as ASGI gives them: lower case)."""
    found: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        if name in _CALL_HEADERS:
            found.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return found


_choose = functools.lru_cache(maxsize=256)(locales.choose)


def _texts(accept_language: str | None, so_language: str | None, so_culture: str | None) -> locales.Texts:
    """The request's language (remembered for the few header values clients send, not for any text)."""
    if max(len(accept_language or ""), len(so_language or ""), len(so_culture or "")) <= 100:
        return _choose(accept_language, so_language, so_culture)
    return locales.choose(accept_language, so_language, so_culture)


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _apply_controls(call: Call, side: random.Random | None) -> None:
    """Raise the canned response the controls ask for; return when the handler should answer normally."""
    wanted = call.controls
    documented = spec.responses(call.operation_id)
    status = wanted.code
    if status is not None and str(status) not in documented:
        codes = ", ".join(str(c) for c in controls.documented_statuses(documented))
        raise problems.bad_request(
            f"Prefer: code={status} is not a documented status of {call.operation_id} (documented: {codes})"
        )
    if status is None and side is not None:
        status = controls.chaos_status(call.runtime.chaos, call.operation_id, documented, side)
    success = status is None or 200 <= status < 300
    if success and wanted.example is None and wanted.dynamic:
        return
    status = status or min(c for c in controls.documented_statuses(documented) if 200 <= c < 300)
    available = spec.examples(call.operation_id, status)
    if wanted.example is not None and wanted.example not in available:
        names = ", ".join(available) or "none"
        raise problems.bad_request(
            f"Prefer: example={wanted.example} is not an example of {call.operation_id} {status} (examples: {names})"
        )
    if status == 204 or (success and not available):
        # Nothing to can: no body, or no example to answer with instead of generated data; then `dynamic=false`
        # was not honoured, and Preference-Applied must not say it was.
        applied = tuple(a for a in wanted.applied if not a.startswith("dynamic=") or available)
        call.controls = dataclasses.replace(wanted, applied=applied)
        return
    name = wanted.example or next(iter(available), None)
    body = available[name] if name is not None else None
    if not success:
        # An error is answered in a media type its own response documents, which need not be the one negotiated
        # for success (json-patch+json is a request type; RelayMessage's 204 has none at all).
        content = documented[str(status)].get("content") or {"application/json": {}}
        offered = sorted(content, key=lambda media_type: media_type != "application/json")  # the default first
        accept = Headers(scope=call.scope).get("accept")
        call.media_type = negotiate(accept, offered) or offered[0]
    raise CannedResponse(call.respond(body, status=status))


def seed_query(query: str) -> bytes:
    """The query as far as it changes the data: `$select` and mock controls only change the view."""
    if not query:
        return b""
    kept = sorted((k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in VIEW_PARAMETERS)
    return urlencode(kept).encode()


def _query_value(query: str, name: str) -> str | None:
    if not query:
        return None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == name:
            return value
    return None
