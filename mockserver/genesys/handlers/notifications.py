"""The CometD (Bayeux) endpoint of Genesys Web Services, `/api/v2/notifications`.

The JavaScript CometD client appends the message type to the URL (`/handshake`, `/connect`, `/disconnect`,
and a bare `/` for the rest); all of them are the same endpoint. The protocol is mockserver.genesys.bayeux's.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import orjson
from connexion import context as cx
from starlette.responses import Response
from starlette.types import Receive

from mockserver.contract.bodies import BODY_KEY
from mockserver.genesys import state

MEDIA_TYPE = "application/json; charset=utf-8"


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    """Notice a client that hangs up while its connect is held, so its events stay queued for the next one."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def post() -> Response:
    body: Any = cx.scope.get(BODY_KEY)
    batch = body if isinstance(body, list) else [body]
    user = str(cx.context.get("user") or "")
    gone = asyncio.Event()
    watcher = asyncio.get_running_loop().create_task(_watch_disconnect(cx.receive, gone))
    try:
        replies = await state.of(cx.scope).bayeux.handle(batch, user, gone)
    finally:
        watcher.cancel()
        with suppress(asyncio.CancelledError):
            await watcher
    return Response(orjson.dumps(replies), media_type=MEDIA_TYPE)


async def post_slash() -> Response:
    return await post()


async def post_typed(messageType: str) -> Response:
    return await post()
