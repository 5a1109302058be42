"""operationId → handler: each vendor API's handlers live in that vendor's package, and an operationId names
its function (`v1EMailAgent_SendEMails` → mockserver.superoffice.handlers.send_emails).

Part of the wiring: the handler modules are imported by name here, when Connexion resolves the contract."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

# operationId prefix → handler module; the part after "_" names the function.
MODULES = {
    "v1EMailAgent": "mockserver.superoffice.handlers",
    "gwsEmail": "mockserver.genesys.handlers.emails",
    "gwsMe": "mockserver.genesys.handlers.me",
    "gwsNotifications": "mockserver.genesys.handlers.notifications",
    "control": "mockserver.control.handlers",
}


def function_name(operation_id: str) -> tuple[str, str]:
    """(module, function) for an operationId: `v1EMailAgent_SaveToMailServer` → save_to_mail_server."""
    prefix, _, name = operation_id.partition("_")
    if prefix not in MODULES or not name:
        raise LookupError(f"no handler module for operationId {operation_id!r}")
    words = re.sub(r"EMail", "Email", name)
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", words).lower()
    return MODULES[prefix], snake


def resolve(operation_id: str) -> Callable[..., Any]:
    module_name, function = function_name(operation_id)
    handler: Callable[..., Any] = getattr(importlib.import_module(module_name), function)
    return handler
