"""The one door every accepted mail passes through, whichever API operation it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockserver.runtime import Runtime


@dataclass
class Submission:
    """One accepted mail: what was asked for and the message that stands for it.

    `raw` is set when the client supplied the message text itself (RelayMessage), which must travel
    unchanged; otherwise the message is `message`, built from the request. `request` never holds a
    password.
    """

    operation: str
    message_id: str | None
    envelope_from: str | None
    recipients: list[str]
    message: EmailMessage | None = None
    raw: bytes | None = None
    request: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    reference_id: int | None = None
    accepted_at: datetime | None = None

    def size(self) -> int:
        if self.raw is not None:
            return len(self.raw)
        assert self.message is not None
        return len(self.message.as_bytes())


_SECRET_KEYS = frozenset({"password"})


def without_secrets(value: Any) -> Any:
    """A copy of a request with every password dropped (set to None), for anything that is kept or shown."""
    if isinstance(value, dict):
        return {k: (None if k.lower() in _SECRET_KEYS else without_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


def accept(runtime: Runtime, submission: Submission) -> Submission:
    """Record an accepted mail before the client hears about it; returns the submission as recorded."""
    submission.request = without_secrets(submission.request)
    runtime.accepted.append(submission)
    return submission
