"""The benchmark's ceiling: the least a Python ASGI server can do with our requests.

One POST route that reads the body and runs `json.loads` on it, under the same uvicorn (same loop and HTTP
implementations, same log level) as the mock. Nothing the mock does can be faster than this on the same
machine, so `rps / ceiling rps` says how much of the budget the mock's own work takes.

Usage: python bench/ceiling.py --port PORT
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mockserver.cli import EVENT_LOOP


async def parse(request: Request) -> JSONResponse:
    data = json.loads(await request.body())
    # Echo something derived from the body, so the parse cannot be optimised away and the answer stays tiny.
    return JSONResponse({"ok": True, "type": type(data).__name__})


# One route for every path: the load runs reuse the mock's URLs unchanged.
app = Starlette(routes=[Route("/{path:path}", parse, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # Same settings the mock passes to uvicorn.run (log level warning: no per-request access log).
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", loop=EVENT_LOOP)


if __name__ == "__main__":
    main()
