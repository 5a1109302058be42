"""What GWS keeps for as long as one app: HTTP sessions with their CSRF tokens, the per-user `referenceId`
counters, and the CometD server. All of it lives in the store (SQLite or PostgreSQL), so every worker
and every replica shares it.

The wiring (`app.create_app`) builds one beside the Runtime and leaves it in every request's scope, where
the GWS handlers find it (`of(scope)`).
"""

from __future__ import annotations

from starlette.types import Scope

from mockserver.genesys import bayeux
from mockserver.genesys.sessions import Sessions
from mockserver.runtime import Runtime

SCOPE_KEY = "mockserver.genesys"


class Genesys:
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.run_seed = runtime.run_seed
        self.sessions = Sessions(runtime.mail.outbox, settings.gws_session_minutes * 60)
        self.bayeux = bayeux.Bayeux(
            runtime.mail.outbox,
            bayeux.Config(
                timeout_ms=settings.bayeux_timeout,
                max_interval_ms=settings.bayeux_max_interval,
                max_queue=settings.bayeux_max_queue,
            ),
        )

    async def next_reference_id(self, user: str) -> int:
        """GWS numbers each user's requests 1, 2, 3 …; the notification for a request repeats its id."""
        return await self.sessions.next_reference_id(user)


def of(scope: Scope) -> Genesys:
    """The GWS state of the app serving this request."""
    genesys: Genesys = scope[SCOPE_KEY]
    return genesys
