"""Per-request work Connexion repeats that this app does once.

Connexion still routes every request from the contract, checks its security and validates it with the
mock's validators; these subclasses, plugged in through Connexion's own extension points (the middleware
list and a middleware's `api_cls`), keep what does not change between requests instead of rebuilding it:

* `RequestValidationMiddleware` built a URI parser, a parameter validator and a body validator for every
  request, looking the media type up three times (each lookup sorts the operation's media types and
  fnmatches them);
* the async app re-created its handler's decorator chain on every call (`AsyncOperation.fn` is a property),
  inspecting the handler's signature three times per request;
* `SwaggerUIMiddleware` sent every request through a router of its own routes before handing it on;
* `RoutingMiddleware` matched every request against Starlette's routers (a regular expression per route tried,
  a child scope per level), although a method and path are always routed the same way;
* Starlette's `CORSMiddleware` built two header objects per request to add `Vary: Origin` to the answer of a
  request that sent no Origin (every client but a browser);
* the security handlers inspected each credential function's signature on every request, and read the request's
  scope and headers through `ConnexionRequest.__getattr__`, which takes the length of the scope on every read;
* finding the Content-Type decoded every header name and built a typing Union, then split the value again;
* the parameter check built Connexion's request and looked every header parameter up, also for a request that
  sends none of them and no query (nothing the check could refuse); for one whose parameters are text (a GWS
  interaction id in the path, a header), it built the request to resolve them to the strings sent, and the
  handler's decorator built another to pass the path's to the handler;
* the parameter decorator prepared every argument the operation defines (query defaults, body, form files)
  on every call, for handlers that take none of them or only their path parameters;
* the handler's decorators built Connexion's request object for a handler that takes no argument, and asked
  on every call whether the handler is a coroutine function;
* below the routing, each routed middleware (security, request and response validation, context) looked the
  request's operation up again, with the lifespan middleware passing it on between them (`fuse_routed`);
* the security check went through Connexion's generic loop over the requirements for the Basic credentials
  nearly every client sends, which pass the first (`LeanSecurityOperation`).

A request that fails validation fails exactly as before; `tests/test_lean.py` holds the two stacks to the
same answers.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import connexion
from connexion import context, utils
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.datastructures import MediaTypeDict
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator, _get_path_arguments, unwrap_decorators
from connexion.exceptions import UnsupportedMediaTypeProblem
from connexion.lifecycle import ConnexionRequest
from connexion.middleware.abstract import ROUTING_CONTEXT, RoutedMiddleware
from connexion.middleware.context import ContextAPI, ContextMiddleware, ContextOperation
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityAPI, SecurityMiddleware, SecurityOperation
from connexion.middleware.swagger_ui import SwaggerUIAPI, SwaggerUIMiddleware
from connexion.operations import AbstractOperation
from connexion.security import NO_VALUE, SECURITY_HANDLERS, AbstractSecurityHandler, BasicSecurityHandler
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.contract import spec
from mockserver.contract.bodies import ContractParameterValidator, compiled

_NO_VALIDATOR = object()


def text_parameter(parameter: Mapping[str, Any]) -> bool:
    """Whether Connexion hands a parameter on as the text it was sent: a string (not a file), never null. Its
    URI parser and its handler arguments cast such a value with `str`, which leaves a string as it is."""
    schema = parameter.get("schema", parameter)
    return schema.get("type") == "string" and schema.get("format") != "binary" and not utils.is_nullable(parameter)


class LeanRequestValidationOperation(RequestValidationOperation):
    """Connexion's request validation for one operation, with what depends only on the contract kept."""

    @functools.cached_property
    def _parameter_validator(self) -> Any:
        operation = self._operation
        uri_parser = operation._uri_parser_class(operation.parameters, operation.body_definition())
        return self._validator_map["parameter"](
            operation.parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )

    @functools.cached_property
    def _body_validators(self) -> dict[tuple[str, str], Any]:
        return {}

    @functools.cached_property
    def _accepted_media_types(self) -> dict[str, bool]:
        return {}

    def validate_mime_type(self, mime_type: str) -> None:
        accepted = self._accepted_media_types.get(mime_type)
        if accepted is None:
            consumes = self._operation.consumes
            accepted = not consumes or mime_type.lower() in MediaTypeDict([(c.lower(), None) for c in consumes])
            self._accepted_media_types[mime_type] = accepted
        if not accepted:
            raise UnsupportedMediaTypeProblem(
                detail=f"Invalid Content-type ({mime_type}), expected {self._operation.consumes}"
            )

    def _body_validator(self, mime_type: str, encoding: str) -> Any:
        key = (mime_type, encoding)
        found = self._body_validators.get(key)
        if found is None:
            found = _NO_VALIDATOR
            operation = self._operation
            schema = operation.body_schema(mime_type)
            validator_cls = self._validator_map["body"].get(mime_type) if schema else None
            if validator_cls is not None:
                found = validator_cls(
                    schema=schema,
                    required=operation.request_body.get("required", False),
                    nullable=utils.is_nullable(operation.body_definition(mime_type)),
                    encoding=encoding,
                    strict_validation=self.strict_validation,
                    uri_parser=operation.uri_parser_class(operation.parameters, operation.body_definition()),
                )
            self._body_validators[key] = found
        return found

    @functools.cached_property
    def _parameter_headers(self) -> frozenset[bytes] | None:
        """The header names the operation's parameters read, as ASGI spells them; None when a request can fail the
        parameter check without sending any of them or a query (a path, cookie or required parameter)."""
        by_kind = self._parameter_validator.parameters
        if (
            by_kind.get("path")
            or by_kind.get("cookie")
            or any(p.get("required") for ps in by_kind.values() for p in ps)
        ):
            return None
        return frozenset(p["name"].lower().encode("latin-1") for p in by_kind.get("header", ()))

    @functools.cached_property
    def _content_types(self) -> dict[str | None, tuple[str, str]]:
        return {}

    def extract_content_type(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
        """Connexion's (mime type, encoding) of the request, remembered per Content-Type value: Connexion decodes
        every header name and builds a typing Union to find it, then splits it, on every request."""
        content_type = None
        for name, value in headers:
            if name.lower() == b"content-type":  # the last one, as Connexion's loop leaves it
                content_type = value.decode("latin-1")
        found = self._content_types.get(content_type)
        if found is None:
            found = super().extract_content_type(
                [(b"content-type", content_type.encode("latin-1"))] if content_type is not None else []
            )
            if len(self._content_types) < 64 and len(content_type or "") <= 200:  # a client's text: keep a few
                self._content_types[content_type] = found
        return found

    @functools.cached_property
    def _text_parameters(self) -> tuple[tuple[tuple[str, Any], ...], tuple[tuple[bytes, Any, bool], ...]] | None:
        """For an operation whose path and header parameters Connexion checks as the text sent (`text_parameter`):
        each path parameter's key in `path_params` with its compiled schema, and each header's ASGI name with its
        compiled schema and whether it is required. None when the check is not the contract's, or could refuse a
        request for something else when it has no query (a cookie, a required query parameter)."""
        validator = self._parameter_validator
        if not isinstance(validator, ContractParameterValidator):
            return None
        by_kind = validator.parameters
        paths, headers = by_kind.get("path", []), by_kind.get("header", [])
        if (
            by_kind.get("cookie")
            or any(p.get("required") for p in by_kind.get("query", ()))
            or not all(text_parameter(p) for p in (*paths, *headers))
        ):
            return None
        return (
            # The key Connexion's `validate_path_parameter` looks the value up by.
            tuple((p["name"].replace("-", "_"), compiled(p.get("schema", p))) for p in paths),
            tuple(
                (p["name"].lower().encode("latin-1"), compiled(p.get("schema", p)), bool(p.get("required")))
                for p in headers
            ),
        )

    def _passes_as_text(self, scope: Scope) -> bool:
        """Whether a request without a query passes the parameter check, decided from the scope: Connexion's check
        validates the same strings with the same compiled schemas (`ContractParameterValidator`), after building
        its request and resolving the path parameters, which for a string leaves it as it is. False sends the
        request through Connexion's check, which says why it fails."""
        plan = self._text_parameters
        if plan is None or scope.get("query_string"):
            return False
        paths, headers = plan
        path_params = scope.get("path_params") or {}
        for key, schema in paths:
            value = path_params.get(key)
            if not isinstance(value, str) or not schema.is_valid(value):
                return False
        for name, schema, required in headers:
            for header, value in scope["headers"]:
                if header == name:  # the first, as Starlette's `Headers.get` finds it
                    if not schema.is_valid(value.decode("latin-1")):
                        return False
                    break
            else:
                if required:
                    return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = self._parameter_headers
        # A request with no query and none of the operation's header parameters has nothing the check could refuse
        # (an absent optional parameter passes); building Connexion's request to find that out was a fifth of the
        # app's own cost for such a request. One whose parameters are all text is checked without it.
        if (
            headers is None or scope.get("query_string") or any(name in headers for name, _ in scope["headers"])
        ) and not self._passes_as_text(scope):
            self._parameter_validator.validate(scope)
        mime_type, encoding = self.extract_content_type(scope["headers"])
        self.validate_mime_type(mime_type)
        validator = self._body_validator(mime_type, encoding)
        if validator is not _NO_VALIDATOR:
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class LeanRequestValidationAPI(RequestValidationAPI):
    def make_operation(self, operation: AbstractOperation) -> RequestValidationOperation:
        return LeanRequestValidationOperation(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class LeanRequestValidationMiddleware(RequestValidationMiddleware):
    api_cls = LeanRequestValidationAPI


class WrittenContractAPI(SwaggerUIAPI):
    """`openapi.json` / `openapi.yaml` as the contract is written: named components and their `$ref`s, only the
    `servers` set to where the mock is mounted. Connexion serves the document with every `$ref` inlined, which
    leaves a client generator one anonymous copy of each carrier per operation and media type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._written: dict[str, dict[str, Any]] = {}

    def _spec_for_prefix(self, request: Any) -> dict[str, Any]:
        base_path = self._base_path_for_prefix(request)
        media = request.query_params.get("media") or ""
        if media:
            try:
                spec.check_media_view(media)  # before the cache: an unknown view must not build a specification
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
        found = self._written.get(f"{media}:{base_path}")
        if found is None:
            # `with_base_path` builds (and validates) a whole new specification: once per prefix, not per request.
            found = self.specification.with_base_path(base_path).raw
            found = self._written[f"{media}:{base_path}"] = spec.media_view(found, media) if media else found
        return found


class LeanSwaggerUIMiddleware(SwaggerUIMiddleware):
    """Swagger UI and the served contract (as written), without routing every API request through their routes
    first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prefixes: list[str] = []

    def add_api(self, specification: Any, base_path: str | None = None, arguments: Any = None, **kwargs: Any) -> None:
        # SwaggerUIMiddleware.add_api, with the API class that serves the contract as written.
        api = WrittenContractAPI(
            specification, base_path=base_path, arguments=arguments, default=self.default_fn, **kwargs
        )
        self.router.mount(api.base_path, app=api.router)
        options = kwargs.get("swagger_ui_options")
        ui_path = getattr(options, "swagger_ui_path", "/ui") if options is not None else "/ui"
        # The API's own base path (from its `servers` when none is given) is where it was just mounted.
        base = str(getattr(self.router.routes[-1], "path", base_path or "")).rstrip("/")
        # The documents (`openapi.json`, `openapi.yaml`, `swagger.json`) and the UI live right under the base.
        self._prefixes += [f"{base}/openapi", f"{base}/swagger", f"{base}{ui_path}"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(tuple(self._prefixes)):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


# What Starlette's routers write into the scope they route. A scope that arrives with any of them set was routed by
# an app around this one (the mock mounted in another Starlette app): it takes Connexion's own way every time.
_ROUTERS_KEYS = ("router", "route", "endpoint", "path_params", "app_root_path", "route_root_path")
_ROUTES_KEPT = 512  # paths with an id in them are many; past this many, a new one is routed as Connexion does


@dataclass(frozen=True)
class _Routed:
    """How Connexion routed one method and path: what its routers set in the scope they were given, and what it
    added to the copy it handed on."""

    outer: dict[str, Any]
    outer_path_params: dict[str, Any]
    path_params: dict[str, Any]
    routing: dict[str, Any]


# While Connexion routes a request the lean middleware may remember: that request's scope (as the routers change
# it) and its key.
_routing: ContextVar[tuple[Scope, tuple[str, str, str]] | None] = ContextVar("lean_routing", default=None)


class LeanRoutingMiddleware(RoutingMiddleware):
    """Connexion's routing, run once per method and path: what it decided is replayed for the next request to the
    same method and path, with the same changes to the same scopes.

    Every `RoutingOperation` hands its request to `_handed_on`, which sees what Connexion's routing did (the
    routers' changes to the scope they were given, the copy Connexion hands on) and keeps it. A request Starlette's
    routers answer themselves (a 405, a slash redirect) never gets there and is routed anew each time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._next = app
        self._routes: dict[tuple[str, str, str], _Routed] = {}
        # Connexion gives `app` to every operation it routes to (and to its default for unknown paths).
        super().__init__(self._handed_on)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(key in scope for key in _ROUTERS_KEYS):
            await super().__call__(scope, receive, send)
            return
        key = (scope["method"], scope["path"], scope.get("root_path", ""))
        routed = self._routes.get(key)
        if routed is None:
            token = _routing.set((scope, key))
            try:
                await super().__call__(scope, receive, send)
            finally:
                _routing.reset(token)
            return
        # RoutingMiddleware.__call__ copies the scope before routing; the routers change the original, and
        # RoutingOperation adds the path parameters and the routing context to the copy.
        handed_on = dict(scope)
        scope.update(routed.outer)
        scope["path_params"] = dict(routed.outer_path_params)
        handed_on.setdefault("path_params", {}).update(routed.path_params)
        handed_on.setdefault("extensions", {}).setdefault(ROUTING_CONTEXT, {}).update(routed.routing)
        await self._next(handed_on, receive, send)

    async def _handed_on(self, scope: Scope, receive: Receive, send: Send) -> None:
        routing = _routing.get()
        if routing is not None:
            _routing.set(None)  # nothing further down is this request's routing
            outer, key = routing
            if len(self._routes) < _ROUTES_KEPT:
                self._routes[key] = _Routed(
                    outer={k: outer[k] for k in (*_ROUTERS_KEYS, "root_path") if k in outer and k != "path_params"},
                    outer_path_params=dict(outer.get("path_params", {})),
                    path_params=dict(scope.get("path_params", {})),
                    routing=dict(scope.get("extensions", {}).get(ROUTING_CONTEXT, {})),
                )
        await self._next(scope, receive, send)


class LeanCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware. A request without an Origin gets what Starlette gives it, its answer with
    `Vary: Origin` added (or merged into a Vary it has), without the header objects Starlette builds for that."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Header names are lower case in ASGI; Starlette's `Headers.get("origin")` compares them as they are.
        if scope["type"] == "http" and all(name != b"origin" for name, _ in scope["headers"]):
            await self.app(scope, receive, functools.partial(_vary_on_origin, send=send))
            return
        await super().__call__(scope, receive, send)


async def _vary_on_origin(message: Message, send: Send) -> None:
    if message["type"] == "http.response.start":
        # As Starlette's MutableHeaders(scope=message) leaves it: a list of its own in the message.
        headers = message["headers"] = list(message.setdefault("headers", []))
        if all(name != b"vary" for name, _ in headers):
            headers.append((b"vary", b"Origin"))
        else:
            varies = MutableHeaders(scope=message)
            varies["Vary"] = ", ".join([*varies.getlist("Vary"), "Origin"])
    await send(message)


class LeanContextAPI(ContextAPI):
    def make_operation(self, operation: AbstractOperation) -> ContextOperation:
        # The operation the handler's decorators consult (`connexion.context.operation`) looks its body up by
        # media type several times per request; the answer depends only on the contract.
        memo = functools.lru_cache(maxsize=None)(operation.body_definition)
        operation.body_definition = memo
        return super().make_operation(operation)


class LeanContextMiddleware(ContextMiddleware):
    api_cls = LeanContextAPI


class LeanParameterDecorator(AsyncParameterDecorator):
    """Connexion's parameter decorator prepares every argument the operation defines on every call (path and
    query parameters with their defaults, the body, form files, the security context) and then passes the
    handler those its signature names. The mock's handlers name none (they read the call from the scope) or
    only their path parameters; such a handler gets exactly what Connexion would pass it, without the rest
    of the work. Any other signature is decorated by Connexion's own code."""

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        arguments, has_kwargs = utils.inspect_function_arguments(unwrap_decorators(function))
        # Decorated at the handler's first call, when the context names its operation; it is the same ever after.
        operation = context.operation._get_current_object()
        # Connexion passes every path parameter, named or not: the lean way only fits when they are the arguments.
        path = {self.sanitize_fn(p["name"]) for p in operation.parameters if p["in"] == "path"}
        if has_kwargs or set(arguments) != path or len(arguments) != len(path):
            connexions: Callable[..., Any] = super().__call__(function)
            return connexions
        if not arguments:

            @functools.wraps(function)
            async def without_arguments(request: ConnexionRequest | None) -> Any:
                return await function()

            # Read by LeanStarletteDecorator (functools.wraps carries it to the wrappers around this one).
            without_arguments.ignores_request = True  # type: ignore[attr-defined]
            return without_arguments
        sanitize = self.sanitize_fn
        if all(text_parameter(p) for p in operation.parameters if p["in"] == "path"):
            # Connexion's request would resolve each path parameter to the text routed and cast it with `str`: the
            # handler gets the routed texts, under the names `_get_path_arguments` gives them.
            names: dict[str, str] = {}  # sanitized once: the names are the route's

            def argument(name: str) -> str:
                found = names.get(name)
                if found is None:
                    found = names[name] = sanitize(name)
                return found

            @functools.wraps(function)
            async def with_path_texts(request: ConnexionRequest | None) -> Any:
                routed: dict[str, Any] = context.scope.get("path_params") or {}
                return await function(**{argument(name): value for name, value in routed.items()})

            with_path_texts.ignores_request = True  # type: ignore[attr-defined]
            return with_path_texts

        @functools.wraps(function)
        async def with_path(request: ConnexionRequest) -> Any:
            return await function(**_get_path_arguments(request.path_params, operation=operation, sanitize=sanitize))

        return with_path


class LeanStarletteDecorator(StarletteDecorator):
    """Connexion's Starlette decorator, which decorated the handler anew and built a URI parser on every call;
    here both happen at the first call (they depend on the operation, which the context names then)."""

    @property
    def _parameter_decorator_cls(self) -> type[AsyncParameterDecorator]:
        return LeanParameterDecorator

    @property
    def _sync_async_decorator(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        connexions = super()._sync_async_decorator

        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            # Connexion's wrapper awaits a coroutine function (asking `iscoroutinefunction` on every call) and runs
            # any other in a thread; a coroutine function is its own wrapper.
            if asyncio.iscoroutinefunction(function):
                return function
            wrapped: Callable[..., Any] = connexions(function)
            return wrapped

        return decorator

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        decorated: Callable[..., Any] | None = None
        uri_parser: Any = None
        needs_request = True

        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal decorated, uri_parser, needs_request
            if decorated is None:
                uri_parser = self.uri_parser
                decorated = self.decorate(function)
                needs_request = not getattr(decorated, "ignores_request", False)
            if not needs_request:
                return await decorated(None)
            request = self.framework.get_request(uri_parser=uri_parser, scope=context.scope, receive=context.receive)
            return await decorated(request)

        return wrapper


class LeanAsyncOperation(AsyncOperation):
    """The handler with Connexion's parameter and response decorators, built once rather than per call."""

    @functools.cached_property
    def fn(self) -> Callable[..., Any]:
        return LeanStarletteDecorator(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)(self._fn)


class LeanAsyncApi(AsyncApi):
    def make_operation(self, operation: AbstractOperation) -> AsyncOperation:
        return LeanAsyncOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


class LeanAsyncApp(connexion.AsyncApp):
    """Connexion's async app whose operations keep their decorated handlers, and whose routed middlewares hand a
    request straight to the next one's operation (`fuse_routed`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The inner app makes each API's operations through `api_cls`; AsyncApp builds it itself.
        self._middleware_app.api_cls = LeanAsyncApi
        # AbstractApp makes its ConnexionMiddleware itself; this one fuses the stack it builds.
        self.middleware.__class__ = LeanConnexionMiddleware


class LeanConnexionMiddleware(ConnexionMiddleware):
    def _build_middleware_stack(self) -> tuple[ASGIApp, Iterable[ASGIApp]]:
        app, apps = super()._build_middleware_stack()
        apps = list(apps)
        fuse_routed(apps)
        return app, apps


def fuse_routed(apps: Sequence[ASGIApp]) -> None:
    """Point each routed operation at the operation the next routed middleware would pick for the same request.

    Below the routing, each of Connexion's routed middlewares (security, request and response validation,
    context) looks the request's operation up again by base path and id, and the lifespan middleware between
    them passes every HTTP request on. The answer is the same for every request an operation sees (the routing
    context is set once, above them, and nothing below changes it), so it is looked up once, here. A middleware
    that would not find the operation is left in place, to answer as it does."""
    for middleware in apps:
        if not isinstance(middleware, RoutedMiddleware):
            continue
        for base_path, apis in middleware.apis.items():
            for api in apis:
                for operation_id, operation in api.operations.items():
                    following = getattr(operation, "next_app", None)
                    # An API with nothing to do for an operation (response validation, off) lists the next app
                    # itself, shared by all its operations: that is not rewired.
                    if operation_id is not None and following is not None and operation is not api.next_app:
                        operation.next_app = _next_operation(following, base_path, operation_id)


def _next_operation(app: ASGIApp, base_path: str, operation_id: str) -> ASGIApp:
    """What a routed HTTP request for `operation_id` reaches from `app` on, past the hops that only look it up."""
    while True:
        if isinstance(app, LifespanMiddleware):
            passed_on: ASGIApp = app.next_app  # every HTTP request is passed on
            app = passed_on
            continue
        if isinstance(app, RoutedMiddleware) and base_path in app.apis:
            apis = app.apis[base_path]
            found: list[ASGIApp] = [api.operations[operation_id] for api in apis if operation_id in api.operations]
            # `auth_all_paths` gives every id a default operation, made when first looked up: left to do so.
            if not found or any(isinstance(api.operations, defaultdict) for api in apis):
                break
            app = found[0]  # the first API that has it, as RoutedMiddleware.__call__ picks
            continue
        break
    return app


class _SecurityRequest(ConnexionRequest):
    """Connexion's request for the security check, with the two things credential functions read (the scope, the
    headers) as Starlette's request has them, not through `ConnexionRequest.__getattr__`."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope)
        self.scope = scope  # Starlette's request keeps the scope it was given, as it is

    @property
    def headers(self) -> Headers:
        headers: Headers = self._starlette_request.headers
        return headers


class LeanSecurityOperation(SecurityOperation):
    """Connexion's security check, with a shortcut for a request whose credentials pass the operation's first
    security requirement when that is Basic alone (every SuperOffice and GWS operation; most clients send Basic).

    Connexion tries the requirements in order and takes the first that yields the caller, so success on the
    first is the whole answer: the shortcut does the steps Connexion's Basic handler does (`Authorization` as
    `Headers.get` finds it, `split`, base64, `latin1`, `split(":", 1)`, the credential function with the
    keywords it accepts) and records the caller as `verify_security` does. Anything else (no or another scheme,
    bad base64, refused credentials, a coroutine) goes to Connexion's own check from the start, which answers
    it as before. Connexion's check took ~5.7 µs; the own floor's relay 37.8 → 33.2 µs in process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._basic = self._first_basic()

    def _first_basic(self) -> Callable[..., Any] | None:
        """The credential function of the first requirement, when that is one Basic scheme; with the keywords
        Connexion would pass it."""
        if not self.security or not self.security[0] or len(self.security[0]) != 1:
            return None
        [(name, scopes)] = self.security[0].items()
        scheme = self.security_schemes[name]
        if scheme.get("type") != "http" or str(scheme.get("scheme", "")).lower() != "basic":
            return None
        handler_cls = self.security_handler_factory.security_handlers.get("basic")
        if handler_cls is None or not issubclass(handler_cls, BasicSecurityHandler):
            return None
        handler = handler_cls()
        func = handler._resolve_func(scheme)
        if func is None:
            return None
        keywords: dict[str, Any] = {}
        if handler._accepts_kwarg(func, handler.required_scopes_kw):
            keywords[handler.required_scopes_kw] = scopes
        wants_request = handler._accepts_kwarg(func, handler.request_kw)
        request_kw = handler.request_kw

        def check(request: ConnexionRequest, username: str, password: str) -> Any:
            if wants_request:
                return func(username, password, **keywords, **{request_kw: request})
            return func(username, password, **keywords)

        return check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.security:
            await self.next_app(scope, receive, send)
            return
        request = _SecurityRequest(scope)
        if self._basic is None or not self._passes_basic(request, scope):
            await self.verification_fn(request)
        await self.next_app(scope, receive, send)

    def _passes_basic(self, request: ConnexionRequest, scope: Scope) -> bool:
        assert self._basic is not None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        else:
            return False
        parts = authorization.split(maxsplit=1)
        if len(parts) != 2 or parts[0].lower() != "basic":
            return False
        try:
            username, password = base64.b64decode(parts[1]).decode("latin1").split(":", 1)
            token_info = self._basic(request, username, password)
        except Exception:
            return False
        if asyncio.iscoroutine(token_info):
            token_info.close()  # an async credential function: Connexion's check awaits a call of its own
            return False
        if token_info is None or token_info is NO_VALUE:
            return False
        request.context.update({"user": token_info.get("sub", token_info.get("uid")), "token_info": token_info})
        return True


class LeanSecurityAPI(SecurityAPI):
    def make_operation(self, operation: Any) -> SecurityOperation:
        return LeanSecurityOperation.from_operation(
            operation, next_app=self.next_app, security_handler_factory=self.security_handler_factory
        )


class LeanSecurityMiddleware(SecurityMiddleware):
    api_cls = LeanSecurityAPI


_LEAN = {
    SwaggerUIMiddleware: LeanSwaggerUIMiddleware,
    RoutingMiddleware: LeanRoutingMiddleware,
    CORSMiddleware: LeanCORSMiddleware,
    SecurityMiddleware: LeanSecurityMiddleware,
    RequestValidationMiddleware: LeanRequestValidationMiddleware,
    ContextMiddleware: LeanContextMiddleware,
}


def middlewares(
    before_exceptions: Sequence[Any] = (), before_swagger: Sequence[Any] = (), replace: Mapping[Any, Any] = _LEAN
) -> list[Any]:
    """Connexion's default middleware stack with the lean ones in their places (`replace={}`: Connexion's own),
    and the app's own where `MiddlewarePosition.BEFORE_EXCEPTION` and `BEFORE_SWAGGER` would put them (Connexion
    finds those places by class, which a subclass does not match). The app's own are replaced too, also when
    given as a `functools.partial` of a class that has a lean version."""

    def lean(middleware: Any) -> Any:
        if isinstance(middleware, functools.partial) and middleware.func in replace:
            return functools.partial(replace[middleware.func], *middleware.args, **middleware.keywords)
        return replace.get(middleware, middleware)

    stack: list[Any] = []
    for middleware in ConnexionMiddleware.default_middlewares:
        if middleware is ExceptionMiddleware:
            stack += map(lean, before_exceptions)
        elif middleware is SwaggerUIMiddleware:
            stack += map(lean, before_swagger)
        stack.append(lean(middleware))
    return stack


class _SignatureOnce:
    """A security handler that asks a credential function's signature once, not on every request."""

    @staticmethod
    @functools.cache
    def _accepts_kwarg(func: Callable[..., Any], keyword: str) -> bool:
        accepts: bool = AbstractSecurityHandler._accepts_kwarg(func, keyword)
        return accepts


def security_map(own: dict[str, type[AbstractSecurityHandler]]) -> dict[str, type[AbstractSecurityHandler]]:
    """Connexion's security handlers and the app's own, each asking its functions' signatures once."""
    handlers = {**SECURITY_HANDLERS, **own}
    return {name: type(f"Lean{cls.__name__}", (_SignatureOnce, cls), {}) for name, cls in handlers.items()}
