"""The mock's own framework floor: `mockserver serve` exactly as the bench starts it, with every operation of
both contracts resolved to a constant answer.

Everything the mock does before and after its handlers stays: its middleware (runtime, GWS session and CSRF,
CORS when configured, the exception layer), its security functions, its jsonschema-rs request validators,
Connexion's routing from the contract, uvicorn with the same options. Only the handlers are gone, so
`ours / own floor` is the share of the framework's best that the mock keeps while doing its work.

The patch is applied to Connexion's resolver before the app is built, so it survives any change to the
project's own modules; each constant handler has the signature of the handler it replaces, so Connexion
prepares the same arguments for it. One worker only: with more, uvicorn's worker processes would build an unpatched app.

Usage: python bench/own_floor.py serve --host 127.0.0.1 --port PORT [any other `mockserver serve` flag]
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

import connexion.resolver
from starlette.responses import Response

ANSWER = b"[]"


def constant_like(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A handler that answers a constant, with the signature of the one it stands for: Connexion prepares
    arguments by the handler's signature (a `**kwargs` handler would make it do body work no real handler
    of the mock asks for)."""

    async def constant(*args: Any, **kwargs: Any) -> Response:
        return Response(ANSWER, media_type="application/json")

    constant.__signature__ = inspect.signature(handler)  # type: ignore[attr-defined]
    return constant


@contextlib.contextmanager
def resolving(choose: Callable[[str, Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    """While active, every app built resolves an operationId to `choose(operation_id, its handler)`."""
    resolver = connexion.resolver.Resolver
    original = resolver.resolve_function_from_operation_id

    def resolve(self: connexion.resolver.Resolver, operation_id: str) -> Callable[..., Any]:
        return choose(operation_id, original(self, operation_id))

    resolver.resolve_function_from_operation_id = resolve
    try:
        yield
    finally:
        resolver.resolve_function_from_operation_id = original


def constant_handlers() -> contextlib.AbstractContextManager[None]:
    """While active, every app built resolves every operationId to a constant answer."""
    return resolving(lambda operation_id, handler: constant_like(handler))


def serve(argv: list[str], handlers: Callable[[], contextlib.AbstractContextManager[None]], name: str) -> int:
    """`mockserver serve` with `handlers` active (Connexion resolves them at the app's first request)."""
    from mockserver import cli

    if "--workers" in argv and argv[argv.index("--workers") + 1] != "1":
        print(f"{name}: one worker only (worker processes would build the unpatched app)", file=sys.stderr)
        return 2
    with handlers():
        return cli.main(argv)


def main(argv: list[str]) -> int:
    return serve(argv, constant_handlers, "own_floor.py")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
