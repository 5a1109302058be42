"""Genesys Web Services `/api/v2/me`: the signed-in agent, and the start of a contact-center session.

A client's start-up sequence is `GET /api/v2/me` (Basic auth; opens the JSESSIONID session and returns the
CSRF token), then `POST /api/v2/me {"operationName": "StartContactCenterSession", "channels": [...]}`,
then the CometD handshake. The session itself is the middleware's business (mockserver.genesys.sessions).
"""

from __future__ import annotations

import hashlib
from typing import Any

from connexion import context as cx
from starlette.requests import Request
from starlette.responses import Response

from mockserver.auth import GWS_SESSION_KEY
from mockserver.call import GWS_MEDIA_TYPES, Call, begin
from mockserver.genesys import state


def _user_resource(call: Call) -> dict[str, Any]:
    user = call.user or ""
    digest = hashlib.blake2b(f"{call.runtime.run_seed}:{user}".encode(), digest_size=16)
    user_id = digest.hexdigest()
    # The same agent has the same name for the whole run, whatever the request: GWS has no language headers,
    # and SuperOffice's (Accept-Language, SO-Language) must not rename a Genesys agent.
    faker = call.runtime.gen(int.from_bytes(digest.digest()[:8], "big")).faker
    first, last = faker.first_name(), faker.last_name()
    origin = str(Request(call.scope).base_url).rstrip("/")
    return {
        "id": user_id,
        "userName": user,
        "firstName": first,
        "lastName": last,
        "roles": ["ROLE_AGENT"],
        "enabled": True,
        "changePasswordOnFirstLogin": False,
        "uri": f"{origin}/api/v2/users/{user_id}",
        "path": f"/users/{user_id}",
    }


async def get() -> Response:
    call = await begin(GWS_MEDIA_TYPES)
    return call.respond({"statusCode": 0, "user": _user_resource(call)})


async def post() -> Response:
    call = await begin(GWS_MEDIA_TYPES)
    body: dict[str, Any] = call.body
    session = cx.scope.get(GWS_SESSION_KEY)
    if session is not None:
        starting = body["operationName"] == "StartContactCenterSession"
        channels = (body.get("channels") or ()) if starting else ()
        state.of(call.scope).sessions.set_channels(session.id, channels)
    return call.respond({"statusCode": 0})
