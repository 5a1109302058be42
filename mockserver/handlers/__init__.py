"""Handlers, one module per vendor API; operationIds name them (`v1EMailAgent_SendEMails` → send_emails)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

# operationId prefix → handler module; the part after "_" names the function.
MODULES = {
    "v1EMailAgent": "mockserver.handlers.email_agent",
    "gwsEmail": "mockserver.handlers.gws_email",
    "gwsMe": "mockserver.handlers.gws_me",
    "gwsNotifications": "mockserver.handlers.gws_notifications",
    "control": "mockserver.handlers.control",
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
