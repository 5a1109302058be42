"""One API call as a handler sees it: the decoded body, the seed, the generator, and how to answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from connexion import context as cx
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope

from mockserver import problems
from mockserver.bodies import BODY_KEY, RAW_BODY_KEY, RUNTIME_KEY
from mockserver.dotnet import DotNetDateTime
from mockserver.fakes import Gen
from mockserver.negotiation import negotiate
from mockserver.projection import SelectTree, apply_select, parse_select
from mockserver.runtime import Runtime
from mockserver.seeding import SEED_HEADERS, request_seed

SEED_HEADER = "X-Mock-Seed"
VIEW_PARAMETERS = frozenset({"$select"})

# What the server writes today; the contract also lists XML, which a later change serves.
SUPEROFFICE_MEDIA_TYPES = (
    "application/json",
    "text/json",
    "application/json-patch+json",
    "application/merge-patch+json",
)
GWS_MEDIA_TYPES = ("application/json",)


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

    @property
    def headers(self) -> Headers:
        return Headers(scope=self.scope)

    def now(self) -> DotNetDateTime:
        return self.runtime.now(self.gen)

    def parse_datetime(self, value: Any) -> DotNetDateTime | str | None:
        """A date-time from the request, kept as an instant so that it renders like every other date."""
        if not isinstance(value, str):
            return None
        try:
            return DotNetDateTime.parse(value, self.runtime.base_zone)
        except ValueError:
            return value

    def _default(self, value: Any) -> Any:
        if isinstance(value, DotNetDateTime):
            return value.render(self.runtime.base_zone)
        raise TypeError(f"cannot serialise {type(value).__name__}")

    def respond(self, data: Any, status: int = 200) -> Response:
        """The answer in the negotiated media type, `$select` applied, the seed echoed."""
        headers = {SEED_HEADER: str(self.seed)}
        if status == 204:
            return Response(status_code=204, headers=headers)
        media_type = self.media_type or "application/json"
        projected = apply_select(data, self.select)
        content = orjson.dumps(projected, default=self._default, option=orjson.OPT_PASSTHROUGH_DATACLASS)
        return Response(content, status_code=status, headers=headers, media_type=f"{media_type}; charset=utf-8")


def begin(offered: Sequence[str] | None) -> Call:
    """Set up the call for the current request; `offered` None means the operation answers without a body.

    Negotiation happens before anything is accepted, so a client that cannot read the answer gets a 406
    and no mail is sent on its behalf.
    """
    scope: Scope = cx.scope
    runtime: Runtime = scope[RUNTIME_KEY]
    headers = Headers(scope=scope)
    media_type = None
    if offered is not None:
        media_type = negotiate(headers.get("accept"), offered)
        if media_type is None:
            raise problems.not_acceptable(headers.get("accept"), list(offered))
    operation_id = str(cx.operation.operation_id)
    query = scope.get("query_string", b"").decode("latin-1")
    seed = request_seed(
        runtime.run_seed,
        operation_id,
        scope.get("path", ""),
        seed_query(query),
        [(name, headers[name]) for name in SEED_HEADERS if name in headers],
        scope.get(RAW_BODY_KEY, b""),
    )
    select_text = _query_value(query, "$select")
    user = cx.context.get("user")
    return Call(
        runtime=runtime,
        scope=scope,
        operation_id=operation_id,
        body=scope.get(BODY_KEY),
        seed=seed,
        gen=runtime.gen(seed),
        media_type=media_type,
        select=parse_select(select_text),
        user=str(user) if user is not None else None,
    )


def seed_query(query: str) -> bytes:
    """The query as far as it changes the data: `$select` only changes the view of the same result."""
    kept = sorted((k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in VIEW_PARAMETERS)
    return urlencode(kept).encode()


def _query_value(query: str, name: str) -> str | None:
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == name:
            return value
    return None
