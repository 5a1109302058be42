"""Plain Connexion with its default pure-Python validators: the same contract in a Connexion app whose handlers
do nothing.

Connexion's own routing, security and (default, pure-Python) request validation, then a constant answer: no
generated response, no MIME, no outbox. This is NOT the floor of the mock: the mock validates requests with
jsonschema-rs through its own validator map, and has its own middleware; its floor is `own_floor.py` (the mock
itself with every handler answering a constant). `connexion-floor / prism` says how far an off-the-shelf
Connexion app of this contract is from Prism.

Usage: python bench/connexion_floor.py --port PORT
"""

from __future__ import annotations

import argparse
import copy
import logging
from typing import Any

import connexion
import uvicorn
from connexion.lifecycle import ConnexionResponse
from connexion.resolver import Resolver

from mockserver.cli import EVENT_LOOP
from mockserver.contract import spec

ANSWER = b"[]"


def accept_basic(username: str, password: str) -> dict[str, Any]:
    return {"sub": username}


def accept_token(token: str) -> dict[str, Any]:
    return {"sub": "token"}


async def constant(*args: Any, **kwargs: Any) -> ConnexionResponse:
    return ConnexionResponse(status_code=200, body=ANSWER, content_type="application/json")


def _nullable_uses_inlined(document: dict[str, Any]) -> dict[str, Any]:
    """Each nullable use `{allOf: [$ref X], nullable: true}` as a copy of X with `nullable: true` beside its `type`.

    Connexion's validator reads `nullable` only next to `type`/`enum` in the same schema object (the strict
    reading of OpenAPI 3.0.3), so behind the wrapper it refuses the `null`s of the vendor's own samples
    (`"OutgoingConnectionInfo": null`); Prism, the generators and the mock read the wrapper as nullable."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if node.get("nullable") is True and "allOf" in node:
            node = dict(spec.resolve(node))  # the component, with `nullable: true` beside its `type`
        return {key: walk(value) for key, value in node.items()}

    inlined: dict[str, Any] = walk(document)
    return inlined


def contract() -> dict[str, Any]:
    """The contract with every security function pointed at an accept-all one (the mock's need its runtime)."""
    document = _nullable_uses_inlined(copy.deepcopy(spec.load()))
    for scheme in document["components"]["securitySchemes"].values():
        for key in list(scheme):
            if key == "x-basicInfoFunc":
                scheme[key] = f"{__name__}.accept_basic"
            elif key in ("x-bearerInfoFunc", "x-apikeyInfoFunc"):
                scheme[key] = f"{__name__}.accept_token"
    return document


def create() -> connexion.AsyncApp:
    # As in the mock: otherwise every request to a multi-media-type operation logs a line.
    logging.getLogger("connexion.operations.openapi3").setLevel(logging.ERROR)
    app = connexion.AsyncApp(__name__)
    app.add_api(contract(), resolver=Resolver(function_resolver=lambda _operation_id: constant))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create(), host=args.host, port=args.port, log_level="warning", loop=EVENT_LOOP)


if __name__ == "__main__":
    main()
