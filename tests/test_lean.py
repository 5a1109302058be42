"""The lean request path answers every request exactly as Connexion's own middleware stack does."""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import connexion
import pytest
from connexion.frameworks.starlette import Starlette as StarletteFramework
from connexion.json_schema import resolve_refs
from connexion.middleware.routing import RoutingMiddleware
from connexion.resolver import Resolver
from connexion.spec import Specification
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Router
from starlette.testclient import TestClient

from mockserver import create_app, lean, routing
from mockserver.contract import bodies, spec
from tests.conftest import AUTH, GWS_SEND, PASSWORD, RELAY, SAVE, SEND, USER, basic, mock_settings

PDF = base64.b64encode(b"%PDF-1.4 rapport").decode()
MAIL = {
    "From": {"Address": "anna.berg@nordlys.no", "Name": "Anna Berg"},
    "To": [{"Address": "kari.nilsen@fjordtech.no"}],
    "Subject": "Møte på fredag",
    "PlainBody": "Hei",
    "Attachments": [{"Filename": "rapport.pdf", "Type": "application/pdf", "Stream": PDF}],
}
JSON = {**AUTH, "Content-Type": "application/json"}
GWS_MAIL = {"operationName": "Send", "queueName": "Forwarde-mails", "email": {"to": ["a@b.no"], "from": "a@b.no"}}

# (method, path, headers, body): valid requests, and every way a request can fail before a handler runs.
REQUESTS: list[tuple[str, str, dict[str, str], Any]] = [
    ("POST", SEND, JSON, {"Emails": [MAIL, MAIL]}),
    ("POST", SEND + "?$select=Subject,To/Address", JSON, {"Emails": [MAIL]}),
    ("POST", SEND, {**JSON, "Accept": "application/xml"}, {"Emails": [MAIL]}),
    ("POST", SEND, {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}, "Emails[0][Subject]=Hei"),
    ("POST", SEND, {**AUTH, "Content-Type": "text/json; charset=utf-8"}, {"Emails": []}),
    ("POST", SEND, JSON, {"Emails": [{"To": "not-a-list"}]}),
    ("POST", SEND, JSON, {"Emails": [{**MAIL, "Attachments": [{"Stream": "not base64!"}]}]}),
    ("POST", SEND, JSON, "{not json"),
    ("POST", SEND, {**AUTH, "Content-Type": "image/png"}, "x"),
    ("POST", SEND, {"Content-Type": "application/json"}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Authorization": "Basic bm9jb2xvbg=="}, {"Emails": []}),
    ("POST", SEND, {**JSON, "SO-TimeZone": "Nowhere/Else"}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Accept-Language": "nb-NO, en;q=0.5", "SO-Culture": "nb-NO"}, {"Emails": [MAIL]}),
    ("POST", SEND, {**JSON, "so-language": "x" * 300}, {"Emails": []}),
    ("POST", SEND + "?unknown=1", JSON, {"Emails": []}),
    ("POST", SEND, {**JSON, "Accept": "image/png"}, {"Emails": []}),
    ("GET", SEND, AUTH, None),
    ("POST", SAVE, JSON, {"Email": {**MAIL, "IsSent": False}}),
    ("POST", RELAY, JSON, {"Rfc822": "Subject: Hei\r\n\r\nbody", "Recipients": ["kari@fjordtech.no"]}),
    ("POST", RELAY, JSON, {"Rfc822": "", "Recipients": ["kari@fjordtech.no"]}),
    ("POST", GWS_SEND, JSON, {"operationName": "Send", "email": {"to": [], "from": "a@b.no"}}),
    ("POST", "/api/v1/Agents/EMail/Nothing", JSON, {}),
    ("GET", "/_mock/outbox?subject=nothing-like-it", {}, None),  # rows carry the time they were written
    ("GET", "/_mock/outbox?limit=many", {}, None),
    ("GET", "/_mock/outbox?since=yesterday", {}, None),
    ("GET", "/_mock/outbox/999999", {}, None),  # a handler that takes its path parameter, as an integer
    ("GET", "/_mock/outbox/999999/attachments/3", {}, None),
    ("GET", "/_mock/outbox/abc", {}, None),
    ("GET", "/openapi.json", {}, None),
    ("GET", "/_mock/openapi.json", {}, None),
    ("GET", "/ui/", {}, None),
    ("GET", "/ui", {}, None),
    ("GET", "/_mock/ui/", {}, None),
    # Every credential the security check reads: the scheme, the header, the cookie.
    ("POST", SEND, {**JSON, "Authorization": "SOTicket 7T:abc"}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Authorization": "Bearer 8A:token"}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Authorization": "Basic"}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Authorization": basic(USER, "not-the-password")}, {"Emails": []}),
    # The Basic shortcut (`LeanSecurityOperation`): the scheme in any case, spaces, base64 it cannot read, no colon.
    ("POST", SEND, {**JSON, "Authorization": "bAsIc  " + basic(USER, PASSWORD).split()[1]}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Authorization": "Basic !!!"}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Authorization": "Basic " + base64.b64encode(b":" + PASSWORD.encode()).decode()}, {}),
    ("POST", GWS_SEND, {**JSON, "Authorization": basic(USER, "wrong")}, {"operationName": "Send", "email": {}}),
    ("POST", SEND, {"Content-Type": "application/json", "X-XSRF-TOKEN": "t", "Cookie": "XSRF-TOKEN=t"}, {"Emails": []}),
    ("POST", SEND, {"Content-Type": "application/json", "X-XSRF-TOKEN": "t", "Cookie": "XSRF-TOKEN=u"}, {"Emails": []}),
    # A browser's requests: the CORS middleware's own way, not the lean one for clients that send no Origin.
    ("POST", SEND, {**JSON, "Origin": "http://localhost:5173"}, {"Emails": [MAIL]}),
    ("POST", SEND, {**JSON, "Origin": "http://localhost:5173"}, {"Emails": [{"To": "not-a-list"}]}),
    ("OPTIONS", SEND, {"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}, None),
    ("OPTIONS", SEND, {}, None),
    ("HEAD", "/_mock/outbox", {}, None),
    ("GET", "/_mock/outbox/999999/raw", {}, None),
    ("POST", SEND + "/", JSON, {"Emails": []}),
    ("POST", "/api/v2/me/emails/other-id", JSON, {"operationName": "Send", "email": {"to": [], "from": "a@b.no"}}),
]


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, TestClient]]:
    """The app as served, and the same app on Connexion's own classes (its middlewares, operations, security)."""
    # A list of users, so that an answer depends on the settings the credential functions find in the scope.
    settings = mock_settings(seed=4, gws_csrf=False, users=(f"{USER}:{PASSWORD}",))
    served = create_app(settings)
    with monkeypatch.context() as patched:
        patched.setattr(lean, "LeanAsyncApp", connexion.AsyncApp)
        patched.setattr(lean, "middlewares", functools.partial(lean.middlewares, replace={}))
        patched.setattr(lean, "security_map", lambda own: own)
        plain = create_app(settings)
    assert type(served) is lean.LeanAsyncApp and type(plain) is connexion.AsyncApp
    with served.test_client() as fast, plain.test_client() as slow:
        yield fast, slow


def answer(client: TestClient, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[Any, ...]:
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if isinstance(body, str):
        kwargs["content"] = body.encode()
    elif body is not None:
        kwargs["json"] = body
    response = client.request(method, path, **kwargs)
    kept = {k: v for k, v in response.headers.items() if k not in ("date", "content-length")}
    return response.status_code, kept, response.content


def test_every_kind_of_request_gets_the_same_answer_on_both_stacks(clients: tuple[TestClient, TestClient]) -> None:
    fast, slow = clients
    statuses = set()
    for method, path, headers, body in REQUESTS:
        # Twice each: what the lean stack keeps from the first request must not change the second's answer.
        for _ in range(2):
            got, expected = answer(fast, method, path, headers, body), answer(slow, method, path, headers, body)
            if path.endswith("/openapi.json"):
                # The lean stack serves the contract as written; Connexion's serves it with the `$ref`s inlined.
                assert got[:2] == expected[:2], (method, path)
                assert resolve_refs(json.loads(got[2])) == json.loads(expected[2])
                continue
            assert got == expected, (method, path, headers)
        statuses.add(got[0])
    assert statuses >= {200, 204, 307, 400, 401, 404, 405, 406, 415}  # the list reaches every layer


def test_connexions_parameter_check_runs_only_where_it_may_refuse(
    clients: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean stack skips the check for a request with no query and none of the operation's header parameters,
    and checks path and header parameters that are text against their schemas itself. A query, a value that fails,
    or a parameter of another type still goes through Connexion's check."""
    checked: list[str] = []
    validate = bodies.ContractParameterValidator.validate

    def spy(self: bodies.ContractParameterValidator, scope: dict[str, Any]) -> None:
        checked.append(scope["path"])
        validate(self, scope)

    monkeypatch.setattr(bodies.ContractParameterValidator, "validate", spy)
    fast, _ = clients
    other_gws = "/api/v2/me/emails/other-id"
    cases = [
        (SEND, JSON, False, 200),
        (SEND, {**JSON, "X-Something-Else": "1"}, False, 200),
        (SEND, {**JSON, "SO-TimeZone": "Europe/Oslo"}, False, 200),
        (SEND, {**JSON, "SO-TimeZone": "Nowhere/Else"}, True, 400),
        (SEND + "?$select=Subject", JSON, True, 200),
        (GWS_SEND, JSON, False, 200),  # {id} in the path, a text that matches its pattern
        (GWS_SEND, {**JSON, "X-CSRF-TOKEN": "any text"}, False, 200),
        (GWS_SEND + "?x=1", JSON, True, 200),
        (other_gws, JSON, True, 400),  # not 16 letters and digits
    ]
    for path, headers, expected, status in cases:
        checked.clear()
        body = GWS_MAIL if path.startswith("/api/v2") else {"Emails": []}
        assert fast.post(path, json=body, headers=headers).status_code == status, (path, headers)
        assert bool(checked) is expected, (path, headers)
    checked.clear()
    assert fast.get("/_mock/outbox/999999").status_code == 404  # an integer in the path: Connexion casts it
    assert checked == ["/_mock/outbox/999999"]


# Path texts around the GWS interaction id's pattern (16 letters and digits), percent-encoded as a client sends them.
_INTERACTION_IDS = st.one_of(
    st.text(alphabet="0123456789abcdefXYZ", min_size=15, max_size=17),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    interaction_id=_INTERACTION_IDS,
    csrf=st.one_of(st.none(), st.text(alphabet=st.characters(codec="latin-1", min_codepoint=32), max_size=12)),
    name=st.sampled_from(["X-CSRF-TOKEN", "x-csrf-token"]),
)
def test_text_parameters_are_answered_as_connexions_check_answers_them(
    clients: tuple[TestClient, TestClient], interaction_id: str, csrf: str | None, name: str
) -> None:
    """Any path and header text, checked by the lean stack or by Connexion's: the same answer. The body lacks
    `email.from`, so a request the parameter check lets through is refused by the body check (no mail is sent)."""
    fast, slow = clients
    path = "/api/v2/me/emails/" + urllib.parse.quote(interaction_id, safe="")
    headers: dict[str, Any] = {**JSON, **({name: csrf.strip().encode("latin-1")} if csrf is not None else {})}
    body = {"operationName": "Send", "email": {"to": []}}
    got, expected = answer(fast, "POST", path, headers, body), answer(slow, "POST", path, headers, body)
    assert got == expected
    assert got[0] in (400, 404, 405, 307), got


def test_a_handler_without_arguments_gets_no_request_object_built(
    clients: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connexion's request object is built for a handler that takes path parameters Connexion casts, not for one
    that takes no argument (the mock's handlers read their call from the scope) or only text ones."""
    built: list[str] = []
    get_request = StarletteFramework.get_request

    def spy(**kwargs: Any) -> Any:
        built.append(kwargs["scope"]["path"])
        return get_request(**kwargs)

    monkeypatch.setattr(StarletteFramework, "get_request", staticmethod(spy))
    fast, _ = clients
    assert fast.post(SEND, json={"Emails": []}, headers=JSON).status_code == 200
    assert fast.get("/_mock/outbox").status_code == 200
    assert built == []
    assert fast.post(GWS_SEND, json=GWS_MAIL, headers=JSON).json()["referenceId"] == 1  # `send(id)`: the id as text
    assert built == []
    assert fast.get("/_mock/outbox/999999").status_code == 404
    assert built == ["/_mock/outbox/999999"]


def _routing_middlewares() -> tuple[RoutingMiddleware, RoutingMiddleware, list[Any]]:
    """Connexion's routing middleware and the lean one, each given both contracts as the app gives them, both
    handing requests to one recorder."""
    handed: list[Any] = []

    async def record(scope: dict[str, Any], receive: Any, send: Any) -> None:
        handed.append(scope)

    made = []
    for cls in (RoutingMiddleware, lean.LeanRoutingMiddleware):
        middleware = cls(record)
        for name in (spec.EMAIL_API, spec.CONTROL_API):
            contract = Specification.load(copy.deepcopy(spec.load(name)))
            middleware.add_api(contract, resolver=Resolver(function_resolver=routing.resolve))
        made.append(middleware)
    return made[0], made[1], handed


def _comparable(value: Any) -> Any:
    """A scope's values with the routers' objects (each middleware has its own) named by what they route."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, Router):
        return ("router", [(type(r).__name__, getattr(r, "path", None)) for r in value.routes])
    if isinstance(value, BaseRoute):
        return (type(value).__name__, getattr(value, "path", None), sorted(getattr(value, "methods", None) or ()))
    if hasattr(value, "next_app"):  # a RoutingOperation
        return ("operation", value.operation_id)
    return value


ROUTED = [
    ("POST", SEND),
    ("POST", SAVE),
    ("POST", GWS_SEND),
    ("POST", "/api/v2/me/emails/another-id"),
    ("GET", "/api/v2/me"),
    ("HEAD", "/api/v2/me"),
    ("GET", "/_mock/outbox/12"),
    ("GET", "/_mock/outbox/12/attachments/0"),
    ("GET", "/_mock/outbox/wait"),
    ("DELETE", "/_mock/outbox"),
    ("GET", SEND),  # a 405 from Starlette's router: never handed on, so never remembered
    ("POST", SEND + "/"),  # a redirect
    ("POST", "/nowhere"),
    ("GET", "/_mock/nowhere"),
]


@pytest.mark.parametrize("extensions", [False, True])
def test_routing_is_remembered_with_the_same_scopes_connexion_makes(extensions: bool) -> None:
    """Each method and path, three times: the lean middleware's answer, the scope it hands on and what it leaves
    in the scope it was given are Connexion's, also when replayed from what it remembered."""
    plain, fast, handed = _routing_middlewares()

    def run(middleware: RoutingMiddleware, method: str, path: str) -> tuple[Any, ...]:
        scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        if extensions:
            scope["extensions"] = {"http.response.debug": {}}  # as Starlette's TestClient sends it
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        handed.clear()
        asyncio.run(middleware(scope, receive, send))
        return _comparable(scope), [_comparable(h) for h in handed], sent

    for method, path in ROUTED:
        expected = run(plain, method, path)
        for _ in range(3):
            assert run(fast, method, path) == expected, (method, path)
    remembered = {key[:2] for key in fast._routes}
    assert ("POST", SEND) in remembered and ("GET", "/_mock/outbox/12") in remembered
    assert ("GET", SEND) not in remembered and ("POST", SEND + "/") not in remembered


def test_a_scope_routed_by_an_app_around_the_mock_is_routed_by_connexion_each_time() -> None:
    _, fast, handed = _routing_middlewares()

    async def nothing(message: Any) -> None:
        return None

    scope = {"type": "http", "method": "POST", "path": SEND, "root_path": "", "headers": [], "path_params": {}}
    asyncio.run(fast(scope, nothing, nothing))
    assert handed and not fast._routes


HEADER_NAMES = st.sampled_from([b"vary", b"content-type", b"x-mock-seed", b"Vary"])
HEADER_VALUES = st.sampled_from([b"Accept", b"application/json", b"Accept-Encoding, Cookie", b""])


@given(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=5), st.booleans())
def test_vary_origin_is_added_as_starlette_adds_it(headers: list[tuple[bytes, bytes]], as_tuple: bool) -> None:
    """An answer to a request without an Origin: the lean CORS layer leaves its headers as Starlette's does."""
    cors = CORSMiddleware(app=None, allow_origins=["*"], allow_credentials=True)  # type: ignore[arg-type]
    request: dict[str, Any] = {"type": "http", "headers": []}
    out: list[Any] = []

    async def send(message: Any) -> None:
        out.append(message)

    def start() -> dict[str, Any]:
        return {"type": "http.response.start", "status": 200, "headers": tuple(headers) if as_tuple else list(headers)}

    asyncio.run(cors.send(start(), send=send, request_headers=Headers(scope=request)))
    asyncio.run(lean._vary_on_origin(start(), send=send))
    asyncio.run(lean._vary_on_origin({"type": "http.response.body", "body": b"x"}, send=send))
    assert out[0] == out[1]
    assert out[2] == {"type": "http.response.body", "body": b"x"}


# Authorization values around Basic: schemes in any case, stray spaces and characters, base64 and not.
_CREDENTIAL = st.one_of(
    st.sampled_from([USER, PASSWORD, "", ":", "a:b:c", "é", "\x00"]), st.text(alphabet="tjeT0:é ", max_size=8)
)
_AUTHORIZATION = st.one_of(
    st.builds(
        lambda scheme, gap, user, password: scheme + gap + base64.b64encode(f"{user}:{password}".encode()).decode(),
        st.sampled_from(["Basic", "basic", "BASIC", "Bearer", "SOTicket", ""]),
        st.sampled_from([" ", "  ", "\t", ""]),
        _CREDENTIAL,
        _CREDENTIAL,
    ),
    st.text(alphabet="Basic =:/+A0\t", max_size=16),
)


# Two apps answer each example; the fixture's two apps are meant to live across examples (they see the same
# requests in the same order, as in the test above).
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(authorization=_AUTHORIZATION, path=st.sampled_from([SEND, GWS_SEND]))
def test_the_basic_shortcut_answers_every_authorization_as_connexion_does(
    clients: tuple[TestClient, TestClient], authorization: str, path: str
) -> None:
    fast, slow = clients
    body = {"operationName": "Send", "email": {"to": [], "from": "a@b.no"}} if path == GWS_SEND else {"Emails": []}
    headers = {"Content-Type": "application/json", "Authorization": authorization}
    assert answer(fast, "POST", path, headers, body) == answer(slow, "POST", path, headers, body)


def test_good_basic_credentials_skip_connexions_check_and_name_the_user(
    clients: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials the first requirement (Basic) accepts are taken without Connexion's check; the caller is the
    user the handler sees (the outbox row's `user`). Anything else still goes through Connexion's check."""
    checked: list[str] = []
    make = lean.LeanSecurityOperation._get_verification_fn

    def spied(self: lean.LeanSecurityOperation) -> Any:
        verify = make(self)

        async def verification(request: Any) -> None:
            checked.append(request.headers.get("authorization", ""))
            await verify(request)

        return verification

    monkeypatch.setattr(lean.LeanSecurityOperation, "_get_verification_fn", spied)
    settings = mock_settings(seed=4, gws_csrf=False, users=(f"{USER}:{PASSWORD}",))
    with create_app(settings).test_client() as client:
        relayed = {"Rfc822": "Subject: Hei\r\n\r\nbody", "Recipients": ["kari@fjordtech.no"]}
        assert client.post(RELAY, json=relayed, headers=JSON).status_code == 204
        assert checked == []
        [row] = client.get("/_mock/outbox").json()["items"]
        assert row["user"] == USER
        assert client.post(RELAY, json=relayed, headers={**JSON, "Authorization": "SOTicket 7T:abc"}).status_code == 204
        refused = client.post(RELAY, json=relayed, headers={**JSON, "Authorization": basic(USER, "x")})
        assert refused.status_code == 401
        assert checked == ["SOTicket 7T:abc", basic(USER, "x")]


def test_each_routed_operation_hands_its_request_straight_to_the_next_operation() -> None:
    """Below the routing, no middleware looks the operation up again (`lean.fuse_routed`): from the security
    check on, every hop of every contract operation is an operation of that same id, down to its handler."""
    app = create_app(mock_settings(gws_csrf=False))
    with app.test_client() as client:
        assert client.post(RELAY, json={"Rfc822": "Subject: x\r\n\r\nb", "Recipients": ["a@b.no"]}, headers=AUTH)
    stack = app.middleware.middleware_stack
    assert stack is not None
    [security] = [m for m in stack if isinstance(m, lean.LeanSecurityMiddleware)]
    reached = 0
    for apis in security.apis.values():
        for api in apis:
            for operation_id, operation in api.operations.items():
                hops = []
                while operation is not None:
                    hops.append(type(operation).__name__)
                    operation = getattr(operation, "next_app", None)
                assert hops == [
                    "LeanSecurityOperation",
                    "LeanRequestValidationOperation",
                    "ContextOperation",
                    "LeanAsyncOperation",
                ], operation_id
                reached += 1
    assert reached >= len(spec.operations())  # the vendors' operations, and the control API's
