"""`mockserver proxy`: a reverse proxy that checks real traffic against the contract (Prism's proxy mode).

Every request is forwarded to the upstream server and its answer returned unchanged. On the way, requests to the
vendor APIs (`/api/...`) are checked against the contract (operation, parameters, credentials, media type, body)
and so are the answers (documented status, media type, body schema, and SuperOffice's `$select`). Violations are
logged to `mockserver.proxy` and summarised in the `X-Mock-Violations` header of the answer. In strict mode an
invalid request is refused in the vendor's own error shape without reaching the upstream, and an answer that
violates the contract is replaced by a vendor-shaped 502 that names the violation.

Credentials never reach the log or the header: messages are built from the contract and the bodies, and every
credential the request carried is masked in them anyway.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import ParseError

import httpx
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.contract import bodies, forms, problems, spec, wire
from mockserver.contract.bodies import JSON_MEDIA_TYPES, json_pointer_to_path, schema_errors
from mockserver.contract.xmlcodec import XmlBodyError
from mockserver.formats import projection
from mockserver.formats.projection import parse_select
from mockserver.genesys.sessions import request_cookies

logger = logging.getLogger("mockserver.proxy")

VIOLATIONS_HEADER = "X-Mock-Violations"
MAX_HEADER_CHARS = 400
MAX_MESSAGE_CHARS = 300
MAX_SCHEMA_ERRORS = 3
VENDOR_PREFIX = "/api/"
# A held CometD `/meta/connect` answers only after the server's `advice.timeout` (30 s by default); cutting it
# at the proxy's own timeout would turn every idle long poll into a 504.
LONG_POLL_GRACE_SECONDS = 60.0

# RFC 9110 §7.6.1: meaningful for one connection only. Content-Length is recomputed; Host comes from the URL.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "accept-encoding", "expect"}
# httpx hands over decoded content, so the upstream's encoding headers no longer describe it. The server that
# runs the proxy stamps its own Date; two would confuse clients.
NOT_RETURNED = HOP_BY_HOP | {"content-length", "content-encoding", "date"}

# Which violation decides a strict refusal: the order in which a real server would notice them.
REFUSAL_ORDER = (404, 405, 401, 415, 400)
SECRET_NAME = re.compile(r"pass|secret|token|ticket|auth|cookie|session", re.IGNORECASE)
SECRET_HEADERS = ("authorization", "x-csrf-token", "x-xsrf-token", "so-apptoken", "proxy-authorization")
MIN_SECRET_CHARS = 4


@dataclass(frozen=True)
class Violation:
    """One way a request or an answer departs from the contract.

    `status` and `kind` say how a strict proxy refuses a request with it, as the vendor would: 404/405 for an
    operation the contract lacks, 401 for missing credentials, 415 for an undocumented media type, else 400
    (`kind` picks Genesys' statusCode: `missing` → 1, `invalid` → 2).
    """

    where: str
    message: str
    status: int = 400
    kind: str = "invalid"


@dataclass
class Checked:
    """What checking a request found out: its operation (None when the contract has none) and its violations."""

    operation_id: str | None
    violations: list[Violation] = field(default_factory=list)
    body: Any = None


# -- the contract, indexed -------------------------------------------------------------------------------


def _parameters(operation_id: str) -> list[Mapping[str, Any]]:
    operation = spec.operations()[operation_id]
    return [spec.resolve(parameter) for parameter in operation.get("parameters") or []]


# -- shared helpers ----------------------------------------------------------------------------------------


def _is_json(media_type: str) -> bool:
    return media_type in JSON_MEDIA_TYPES or media_type.endswith("+json")


def _short(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_errors(validator: Any, value: Any) -> list[str]:
    """The first few schema violations of `value`, each as `path: message`; a value under a property whose name
    suggests a credential is not quoted."""
    found = []
    for error in schema_errors(validator, value):
        parts = list(error.instance_path)
        where = json_pointer_to_path(parts) or "(root)"
        if any(isinstance(part, str) and SECRET_NAME.search(part) for part in parts):
            message = f"value not valid ({type(error.kind).__name__})"
        else:
            message = _short(str(error.message), 200)
        found.append(f"{where}: {message}")
        if len(found) >= MAX_SCHEMA_ERRORS:
            break
    return found


def secrets_of(headers: Headers, body: Any = None) -> set[str]:
    """Every credential a request carries, in each spelling that could leak into a message: whole header values,
    the credential after the scheme, Basic's decoded `user:password` and password, cookie values, and
    credential-like properties of the body."""
    found: set[str] = set()
    for name in SECRET_HEADERS:
        for value in headers.getlist(name):
            found.add(value.strip())
            scheme, _, credential = value.strip().partition(" ")
            found.add(credential.strip())
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8", "replace")
                except (binascii.Error, ValueError):
                    continue
                found |= {decoded, decoded.partition(":")[2]}
    found |= set(request_cookies(headers).values())
    found |= set(_body_secrets(body))
    return {secret for secret in found if len(secret) >= MIN_SECRET_CHARS}


def _body_secrets(value: Any) -> Iterable[str]:
    if isinstance(value, list):
        for item in value:
            yield from _body_secrets(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and SECRET_NAME.search(str(key)):
                yield item
            else:
                yield from _body_secrets(item)


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def header_value(violations: list[Violation]) -> str:
    """`N | where: message | …`: printable ASCII on one line, cut to a size every client and proxy accepts."""
    text = " | ".join([str(len(violations)), *(f"{v.where}: {v.message}" for v in violations)])
    text = "".join(char if " " <= char <= "~" else "?" for char in " ".join(text.split()))
    return _short(text, MAX_HEADER_CHARS)


# -- checking requests -----------------------------------------------------------------------------------


def check_request(method: str, path: str, query: str, headers: Headers, body: bytes) -> Checked:
    """A request to a vendor path checked against the contract."""
    found = spec.match(path)
    if found is None:
        return Checked(None, [Violation("request", f"{method} {path}: no such path in the contract", 404)])
    route, path_values = found
    # HEAD is GET without the body (every GET route answers it).
    operation_id = route.methods.get("GET" if method == "HEAD" else method)
    if operation_id is None:
        documented = ", ".join(sorted(route.methods))
        message = f"{method} is not documented for {route.template} (documented: {documented})"
        return Checked(None, [Violation("request", message, 405)])
    checked = Checked(operation_id)
    checked.violations += _check_security(operation_id, headers, query)
    checked.violations += _check_parameters(operation_id, path_values, query, headers)
    body_violations, checked.body = _check_body(operation_id, headers, body)
    checked.violations += body_violations
    return checked


def _check_security(operation_id: str, headers: Headers, query: str) -> list[Violation]:
    requirements = spec.operations()[operation_id].get("security", spec.load().get("security")) or []
    if not requirements:
        return []
    schemes = spec.load()["components"].get("securitySchemes") or {}
    cookies = request_cookies(headers)
    names = dict(parse_qsl(query, keep_blank_values=True))

    def present(name: str) -> bool:
        scheme = schemes.get(name) or {}
        if scheme.get("type") == "http":
            given, _, credential = headers.get("authorization", "").strip().partition(" ")
            return given.lower() == str(scheme.get("scheme", "")).lower() and bool(credential.strip())
        if scheme.get("type") == "apiKey":
            where, key = scheme.get("in"), str(scheme.get("name", ""))
            if where == "header":
                return bool(headers.get(key))
            if where == "cookie":
                return bool(cookies.get(key))
            if where == "query":
                return bool(names.get(key))
        return True  # schemes the proxy cannot see (OAuth flows, mutual TLS) are the upstream's business

    if any(all(present(name) for name in requirement) for requirement in requirements):
        return []
    listed = ", ".join(name for requirement in requirements for name in requirement)
    return [Violation("request", f"no credentials for any of the operation's security schemes ({listed})", 401)]


def _check_parameters(
    operation_id: str, path_values: Mapping[str, str], query: str, headers: Headers
) -> list[Violation]:
    queried: dict[str, str] = {}
    for key, text in parse_qsl(query, keep_blank_values=True):
        queried.setdefault(key, text)
    cookies = request_cookies(headers)
    violations = []
    for parameter in _parameters(operation_id):
        name, where = str(parameter["name"]), str(parameter["in"])
        value: str | None = {
            "path": path_values.get(name),
            "query": queried.get(name),
            "header": headers.get(name),
            "cookie": cookies.get(name),
        }.get(where)
        problem = bodies.ContractParameterValidator.validate_parameter(where, value, dict(parameter))
        if problem is not None:
            kind = "missing" if value is None else "invalid"
            violations.append(Violation("request", problem, 404 if where == "path" else 400, kind))
    return violations


def _check_body(operation_id: str, headers: Headers, raw: bytes) -> tuple[list[Violation], Any]:
    described = spec.operations()[operation_id].get("requestBody")
    if not described:
        return [], None
    described = spec.resolve(described)
    content = described.get("content") or {}
    if not raw.strip():
        if described.get("required"):
            return [Violation("request", "the request body is missing; the operation needs one", 400, "missing")], None
        return [], None
    media_type, charset = bodies.split_content_type(headers.get("content-type", ""))
    if media_type not in content:
        documented = ", ".join(content)
        shown = f"Content-Type '{media_type}'" if media_type else "no Content-Type"
        message = f"{shown} is not documented for this operation (documented: {documented})"
        return [Violation("request", message, 415)], None
    schema = spec.resolve(content[media_type]["schema"])
    try:
        value = _read_request(operation_id, media_type, charset, schema, raw)
    except ValueError as exc:
        return [Violation("request", f"body: {_short(str(exc))}")], None
    except problems.MockProblem as exc:
        return [Violation("request", f"body: {_short(str(exc.detail))}", 415 if exc.status == 415 else 400)], None
    validator = wire.request_validator(operation_id)
    return [Violation("request", f"body: {error}") for error in _schema_errors(validator, value)], value


def _read_request(operation_id: str, media_type: str, charset: str | None, schema: Any, raw: bytes) -> Any:
    """A request body as the JSON value it stands for, read as the upstream's binder reads its media type.
    ValueError (or a MockProblem, for JSON) when it cannot be read."""
    if _is_json(media_type):
        return bodies.decode_json(raw, charset or "utf-8")
    if media_type in wire.XML_MEDIA_TYPES:
        try:
            root = wire.XML.parse(raw, charset)
            found = root.tag.rsplit("}", 1)[-1]
            expected = spec.request_root(operation_id)
            if expected and found != expected:
                raise ValueError(f"root element <{found}>, the contract names <{expected}>")
            return wire.XML.read(root, schema, found)
        except (XmlBodyError, ParseError) as exc:
            raise ValueError(str(exc)) from None
    if media_type == wire.FORM:
        try:
            return forms.read(raw.decode("ascii"), schema, spec.resolve, encoding=charset or "utf-8")
        except (UnicodeDecodeError, LookupError):
            raise ValueError("a form body must be ASCII, with other characters percent-encoded") from None
    raise ValueError(f"the proxy cannot read {media_type} bodies")


# -- checking answers ------------------------------------------------------------------------------------


def check_response(
    operation_id: str, status: int, content_type: str | None, content: bytes | None, select: str | None = None
) -> list[Violation]:
    """An upstream answer checked against what the contract documents for its operation and status; `content`
    None is an answer without a body to check (to HEAD)."""
    documented = spec.responses(operation_id)
    if str(status) not in documented:
        listed = ", ".join(documented)
        return [Violation("response", f"status {status} is not documented for {operation_id} (documented: {listed})")]
    media = documented[str(status)].get("content") or {}
    media_type, charset = bodies.split_content_type(content_type or "")
    if content is None:
        return []
    if not media:
        if content:
            return [Violation("response", f"{status} has no body in the contract; got {len(content)} bytes")]
        return []
    if not content:
        return [Violation("response", f"{status} has an empty body; the contract documents {', '.join(media)}")]
    if media_type not in media:
        shown = f"Content-Type '{media_type}'" if media_type else "no Content-Type"
        return [Violation("response", f"{shown} is not documented for {status} (documented: {', '.join(media)})")]
    try:
        if media_type in wire.XML_MEDIA_TYPES:
            value = wire.read_xml(operation_id, status, media_type, content)
        elif _is_json(media_type):
            value = bodies.decode_json(content, charset or "utf-8")
        else:
            return []  # a documented media type the proxy has no reader for
    except ValueError as exc:
        return [Violation("response", f"{status} {media_type} body: {_short(str(exc))}")]
    except problems.MockProblem as exc:
        return [Violation("response", f"{status} {media_type} body: {_short(str(exc.detail))}")]
    violations = []
    validator = wire.response_validator(operation_id, status, media_type)
    if validator is not None:
        errors = _schema_errors(validator, value)
        violations += [Violation("response", f"{status} {media_type} body: {error}") for error in errors]
    if select is not None and 200 <= status < 300:
        kept = projection.unselected(value, parse_select(select))
        if kept:
            shown = ", ".join(kept[:8]) + (", ..." if len(kept) > 8 else "")
            message = f"$select={_short(select, 80)} not honoured: unselected properties have values ({shown})"
            violations.append(Violation("response", message))
    return violations


def _selects(operation_id: str) -> bool:
    return any(p.get("in") == "query" and p.get("name") == "$select" for p in _parameters(operation_id))


# -- the proxy ---------------------------------------------------------------------------------------------


def _refusal(violations: list[Violation], method: str, url: str) -> problems.MockProblem:
    """The answer a strict proxy gives an invalid request, as the vendor would give it."""
    first = min(violations, key=lambda v: REFUSAL_ORDER.index(v.status) if v.status in REFUSAL_ORDER else 99)
    detail = "; ".join(v.message for v in violations)
    if first.status == 404:
        message = f"No HTTP resource was found that matches the request URI '{url}'."
        return problems.MockProblem(404, detail, message=message, gws_code=6)
    if first.status == 405:
        message = f"The requested resource does not support http method '{method}'."
        return problems.MockProblem(405, detail, message=message, gws_code=2)
    if first.status == 401:
        return problems.unauthorized(detail)
    if first.status == 415:
        message = "The request entity's media type is not supported for this resource."
        return problems.MockProblem(415, detail, message=message, gws_code=2)
    return problems.bad_request(detail, kind=first.kind)


def _gateway_problem(status: int, detail: str) -> problems.MockProblem:
    message = "Bad Gateway" if status == 502 else "Gateway Timeout"
    return problems.MockProblem(status, detail, message=message, error_type="SoException", gws_code=4)


class ValidationProxy:
    """The proxy as a plain ASGI app: HTTP is forwarded, the lifespan closes the upstream connections."""

    def __init__(self, upstream: str, *, strict: bool = False, timeout: float = 30.0) -> None:
        url = httpx.URL(upstream)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"the upstream must be an http:// or https:// URL, not {upstream!r}")
        self.base = str(url.copy_with(query=None, fragment=None)).rstrip("/")
        # Named in messages without any userinfo the URL may carry.
        host = f"[{url.host}]" if ":" in url.host else url.host
        self.shown = f"{url.scheme}://{host}" + (f":{url.port}" if url.port else "")
        self.strict = strict
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            # The proxy serves many clients: a shared cookie jar would hand one client's session to the next.
            jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, cookies=jar)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            # WebSockets are no part of either vendor API.
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Parse the contract now, not on the event loop when the first request arrives.
                spec.routes()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        headers = Headers(scope=scope)
        body = await _read_all(receive)
        checked = None
        if _is_validated(method, path, headers):
            checked = check_request(method, path, query, headers, body)
        secrets = secrets_of(headers, checked.body if checked else None)
        violations = [self._report(v, method, path, secrets) for v in (checked.violations if checked else [])]
        url = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}{path}"
        accept = headers.get("accept")
        if self.strict and violations:
            await _send_problem(send, _refusal(violations, method, url), path, method, url, accept, violations)
            return
        try:
            answer = await self._forward(scope, method, path, headers, body)
        except httpx.TimeoutException:
            problem = _gateway_problem(504, f"The upstream server {self.shown} did not answer in time.")
            await _send_problem(send, problem, path, method, url, accept, violations)
            return
        except (httpx.HTTPError, OSError) as exc:
            detail = f"The upstream server {self.shown} could not be reached ({type(exc).__name__})."
            logger.warning("%s %s upstream: %s", method, path, detail)
            await _send_problem(send, _gateway_problem(502, detail), path, method, url, accept, violations)
            return
        if checked is not None and checked.operation_id is not None:
            select = dict(parse_qsl(query, keep_blank_values=True)).get("$select")
            found = check_response(
                checked.operation_id,
                answer.status_code,
                answer.headers.get("content-type"),
                None if method == "HEAD" else answer.content,
                select if _selects(checked.operation_id) else None,
            )
            reported = [self._report(v, method, path, secrets) for v in found]
            violations += reported
            if self.strict and reported:
                detail = "The upstream answer violates the contract: " + "; ".join(v.message for v in reported)
                await _send_problem(send, _gateway_problem(502, detail), path, method, url, accept, violations)
                return
        raw_headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in answer.headers.multi_items()
            if name.lower() not in NOT_RETURNED
        ]
        if method == "HEAD" and "content-length" in answer.headers:
            raw_headers.append((b"content-length", answer.headers["content-length"].encode("latin-1")))
        else:
            raw_headers.append((b"content-length", str(len(answer.content)).encode()))
        if checked is not None:
            raw_headers = _expose(raw_headers)
            raw_headers.append((VIOLATIONS_HEADER.encode(), header_value(violations).encode("ascii")))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": raw_headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else answer.content})

    def _report(self, violation: Violation, method: str, path: str, secrets: set[str]) -> Violation:
        """The violation with every credential masked, logged as one line."""
        message = _short(mask(violation.message, secrets))
        logger.warning("%s %s %s: %s", method, path, violation.where, message)
        return Violation(violation.where, message, violation.status, violation.kind)

    async def _forward(self, scope: Scope, method: str, path: str, headers: Headers, body: bytes) -> httpx.Response:
        raw_path: bytes = scope.get("raw_path") or path.encode("utf-8")
        url = self.base + raw_path.decode("latin-1")
        query: bytes = scope.get("query_string", b"")
        if query:
            url += "?" + query.decode("latin-1")
        connection = {token.strip().lower() for token in headers.get("connection", "").split(",")}
        forwarded = [
            (name, value)
            for name, value in scope["headers"]
            if name.decode("latin-1").lower() not in NOT_FORWARDED | connection
        ]
        # The proxy reads every answer to validate it; a compressed one would only be decompressed again.
        forwarded.append((b"accept-encoding", b"identity"))
        timeout = self.timeout + LONG_POLL_GRACE_SECONDS if problems.is_bayeux(path) else self.timeout
        client = self._http_client()
        request = client.build_request(method, url, headers=forwarded, content=body or None, timeout=timeout)
        return await client.send(request)


def _is_validated(method: str, path: str, headers: Headers) -> bool:
    """Vendor API requests are; the mock's own pages and controls, and CORS preflights, are outside the contract."""
    if method == "OPTIONS" and "access-control-request-method" in headers:
        return False
    return path.startswith(VENDOR_PREFIX)


def _expose(raw_headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Lets browser clients read the violations header when the upstream already exposes headers to them."""
    exposed = []
    for name, value in raw_headers:
        if name.lower() == b"access-control-expose-headers" and value.strip() != b"*":
            value = value + b", " + VIOLATIONS_HEADER.encode()
        exposed.append((name, value))
    return exposed


async def _read_all(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _send_problem(
    send: Send,
    problem: problems.MockProblem,
    path: str,
    method: str,
    url: str,
    accept: str | None,
    violations: list[Violation],
) -> None:
    status, body, headers = problems.render(problem, path=path, method=method, url=url, accept=accept)
    raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    raw_headers.append((VIOLATIONS_HEADER.encode(), header_value(violations).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def create_proxy(upstream: str, *, strict: bool = False, timeout: float = 30.0) -> ASGIApp:
    """The validating proxy in front of `upstream` (an http(s) base URL) as an ASGI app."""
    return ValidationProxy(upstream, strict=strict, timeout=timeout)


# -- the command ------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", required=True, metavar="URL", help="base URL of the real server to check")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse invalid requests without forwarding them, and turn invalid answers into 502s",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="upstream timeout (default: %(default)s)"
    )


def main(args: argparse.Namespace) -> int:
    import uvicorn

    try:
        app = create_proxy(args.upstream, strict=args.strict, timeout=args.timeout)
    except ValueError as exc:
        print(f"mockserver proxy: {exc}", file=sys.stderr)
        return 2
    if not logging.getLogger().handlers:
        # uvicorn configures only its own loggers; violations are the point of this command, so they must show.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mode = "strict" if args.strict else "reporting"
    upstream = ValidationProxy(args.upstream).shown
    print(
        f"mockserver proxy ({mode}): http://{args.host}:{args.port} → {upstream}, violations in {VIOLATIONS_HEADER}",
        flush=True,
    )
    # The upstream's Server header is passed on: it tells which implementation answered.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", lifespan="on", server_header=False)
    return 0
