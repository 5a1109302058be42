"""The only place the server is wired together."""

from __future__ import annotations

import asyncio
import copy
import ctypes
import functools
import logging
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import connexion
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver import auth, lean, routing
from mockserver.contract import bodies, problems, spec
from mockserver.genesys import notify
from mockserver.genesys import state as genesys_state
from mockserver.genesys.sessions import GwsSessionMiddleware
from mockserver.genesys.state import Genesys
from mockserver.mail import ingest
from mockserver.mail.delivery import SINK
from mockserver.mail.sink import Sink
from mockserver.runtime import Runtime
from mockserver.settings import Settings
from mockserver.superoffice import state as superoffice_state
from mockserver.superoffice.state import SuperOffice

# Headers a browser client may send and read: the vendors' own, and the mock's controls.
CORS_REQUEST_HEADERS = [
    "Accept",
    "Accept-Language",
    "Authorization",
    "Content-Type",
    "Prefer",
    "SO-AppToken",
    "SO-Culture",
    "SO-Language",
    "SO-TimeZone",
    "X-CSRF-TOKEN",
    "X-Mock-Namespace",
    "X-Requested-With",
    "X-XSRF-TOKEN",
]
CORS_EXPOSED_HEADERS = [
    "Preference-Applied",
    "WWW-Authenticate",
    "X-CSRF-HEADER",
    "X-CSRF-TOKEN",
    "X-Mock-Seed",
]

VALIDATOR_MAP = {
    "parameter": bodies.ContractParameterValidator,
    "body": MediaTypeDict(
        {
            "*/*json": bodies.JsonBodyValidator,
            "application/xml": bodies.XmlBodyValidator,
            "text/xml": bodies.XmlBodyValidator,
            "application/x-www-form-urlencoded": bodies.FormBodyValidator,
        }
    ),
    "response": MediaTypeDict({"*/*json": bodies.JsonResponseValidator}),
}


@dataclass(frozen=True)
class Built:
    """What one app was built with: the shared Runtime and each vendor's state."""

    runtime: Runtime
    genesys: Genesys
    superoffice: SuperOffice


_BUILT: weakref.WeakKeyDictionary[connexion.AsyncApp, Built] = weakref.WeakKeyDictionary()


def runtime_of(app: connexion.AsyncApp) -> Runtime:
    """The Runtime an app was built with (for the CLI, the pytest plugin and tests)."""
    return _BUILT[app].runtime


def genesys_of(app: connexion.AsyncApp) -> Genesys:
    """The GWS state (sessions, CometD) an app was built with (for tests)."""
    return _BUILT[app].genesys


def superoffice_of(app: connexion.AsyncApp) -> SuperOffice:
    """The SuperOffice state (the CRM directories) an app was built with (for tests)."""
    return _BUILT[app].superoffice


class StateMiddleware:
    """Makes the app's Runtime and each vendor's state reachable from every layer through the ASGI scope."""

    def __init__(self, app: ASGIApp, state: Mapping[str, object]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.update(self.state)
        await self.app(scope, receive, send)


# At send7's rate on one worker the WAL grows by ~28 MB a second; a quarter of a second keeps it near 8 MB, where
# a commit costs least (`SqliteStore.checkpoint`). An idle outbox's checkpoint finds nothing to copy.
CHECKPOINT_SECONDS = 0.25


async def _checkpoints(runtime: Runtime) -> None:
    """The outbox's WAL copied back into its database every `CHECKPOINT_SECONDS`, in a thread, off the request
    path."""
    while True:
        await asyncio.sleep(CHECKPOINT_SECONDS)
        await asyncio.to_thread(runtime.mail.outbox.checkpoint)


def lifespan_for(runtime: Runtime, genesys: Genesys) -> object:
    """Start the embedded sink and the CometD sweeper with the app; let background deliveries finish before
    it stops."""

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        # Blocking (a round trip or two), once: the lease and the recovery of what lapsed owners left queued.
        runtime.mail.outbox.hold_lease()
        sink = None
        if runtime.settings.delivery == SINK:
            sink = Sink(runtime.settings.sink_host, runtime.settings.sink_port, runtime.mail.outbox)
            if not sink.start():
                sink = None
        loop = asyncio.get_running_loop()
        sweeper = loop.create_task(genesys.bayeux.run_sweeper())
        checkpoints = loop.create_task(_checkpoints(runtime))
        try:
            yield
        finally:
            sweeper.cancel()
            checkpoints.cancel()
            await ingest.settle(runtime.mail)
            await asyncio.to_thread(runtime.mail.outbox.release_lease)
            if sink is not None:
                sink.stop()

    return lifespan


# glibc serves an allocation this large or larger from a mapping of its own, returned to the system when freed.
MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


@functools.cache
def _return_large_buffers_to_the_system() -> bool:
    """Fix glibc's mmap threshold at its default.

    Left alone, glibc raises the threshold to the size of every large block freed (up to 32 MiB): after one
    request with a 10 MB attachment, its next large buffers came from the heap, which does not shrink, and the
    process kept about one and a half bodies' worth more than it was using (bench: attachment memory).
    """
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):  # not glibc: its allocator is its own business
        return False


def create_app(settings: Settings | None = None) -> connexion.AsyncApp:
    """Build the server; with no settings they come from MOCKSERVER_* variables (for `uvicorn --factory`)."""
    _return_large_buffers_to_the_system()
    runtime = Runtime(settings if settings is not None else Settings.from_env())
    # Vendor state beside the shared Runtime, which knows no vendor; a GWS Send's outcome becomes its CometD
    # notification by way of the mail pipeline's listeners.
    genesys = Genesys(runtime)
    superoffice = SuperOffice(runtime)
    runtime.mail.listeners.append(notify.listener_for(genesys))
    state = {
        bodies.RUNTIME_KEY: runtime,
        genesys_state.SCOPE_KEY: genesys,
        superoffice_state.SCOPE_KEY: superoffice,
    }
    # Each request to a multi-media-type operation would log which type Connexion "uses"; it is noise.
    logging.getLogger("connexion.operations.openapi3").setLevel(logging.ERROR)
    before_exceptions: list[Any] = [partial(StateMiddleware, state=state)]
    if runtime.settings.cors_origins:
        # Before the exception layer, so that preflights are answered before routing and error responses carry
        # the headers too.
        before_exceptions.append(
            partial(
                CORSMiddleware,
                allow_origins=list(runtime.settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
                allow_headers=CORS_REQUEST_HEADERS,
                expose_headers=CORS_EXPOSED_HEADERS,
                allow_credentials=True,
                max_age=600,
            )
        )
    app = lean.LeanAsyncApp(
        "mockserver",
        specification_dir=spec.spec_dir(),
        security_map=lean.security_map(auth.SECURITY_MAP),
        lifespan=lifespan_for(runtime, genesys),
        middlewares=lean.middlewares(
            before_exceptions=before_exceptions,
            # Inside the exception layer, so that a CSRF refusal is rendered in the GWS error shape.
            before_swagger=[partial(GwsSessionMiddleware, sessions=genesys.sessions, settings=runtime.settings)],
        ),
    )
    # Documents, not file names: Connexion would parse each again with pure-Python YAML (and Jinja), which was
    # most of the start-up time. A copy each, because Connexion fills in defaults in the dict it is given.
    app.add_api(
        copy.deepcopy(spec.load(spec.EMAIL_API)),
        resolver=Resolver(function_resolver=routing.resolve),
        validate_responses=runtime.settings.validate_responses,
        strict_validation=False,
        validator_map=VALIDATOR_MAP,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/ui"),
    )
    # The control API comes second: the vendor API is mounted at the root, and routes it does not know fall
    # through to the next API.
    app.add_api(
        copy.deepcopy(spec.load(spec.CONTROL_API)),
        resolver=Resolver(function_resolver=routing.resolve),
        validate_responses=runtime.settings.validate_responses,
        strict_validation=False,
        validator_map=VALIDATOR_MAP,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/ui"),
    )
    for error in (ProblemException, HTTPException, Exception):
        app.add_error_handler(error, problems.error_response)
    _BUILT[app] = Built(runtime, genesys, superoffice)
    return app
