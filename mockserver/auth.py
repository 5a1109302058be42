"""Credential checks named by the contract's security schemes (`x-basicInfoFunc` and friends).

By default any well-formed credential is accepted, as a frontend developer needs; a list of users,
tickets or tokens in the settings restricts that scheme to the listed values. Credentials are compared in
constant time and never logged.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any

from connexion.lifecycle import ConnexionRequest
from connexion.security import NO_VALUE, AbstractSecurityHandler

from mockserver.contract.bodies import RUNTIME_KEY
from mockserver.settings import Settings

TICKET = re.compile(r"^[0-9]+T:\S+$")
BEARER = re.compile(r"^[0-9]+[A-Za-z]:\S+$")
XSRF_COOKIE = "XSRF-TOKEN"
# Where the GWS session middleware leaves the request's session (a genesys.sessions.Session, or None).
GWS_SESSION_KEY = "mockserver.gws_session"


def _settings(request: ConnexionRequest | None) -> Settings:
    if request is not None:
        runtime = request.scope.get(RUNTIME_KEY)
        if runtime is not None:
            settings: Settings = runtime.settings
            return settings
    return Settings()


def _listed(value: str, allowed: tuple[str, ...]) -> bool:
    encoded = value.encode("utf-8", "surrogatepass")
    found = False
    for candidate in allowed:
        # No early exit: the time taken does not reveal which entry matched.
        found |= hmac.compare_digest(encoded, candidate.encode("utf-8", "surrogatepass"))
    return found


def check_user(username: str, password: str, settings: Settings) -> bool:
    if not username:
        return False
    if settings.users is None:
        return True
    return _listed(f"{username}:{password}", settings.users)


def superoffice_basic(username: str, password: str, request: ConnexionRequest | None = None) -> dict[str, Any] | None:
    if not check_user(username, password, _settings(request)):
        return None
    return {"sub": username, "scheme": "Basic"}


def superoffice_ticket(ticket: str, request: ConnexionRequest | None = None) -> dict[str, Any] | None:
    """`SOTicket 7T:…`; with `require_app_token` (as SuperOffice Online does) only together with SO-AppToken."""
    settings = _settings(request)
    if not TICKET.match(ticket):
        return None
    if settings.require_app_token and not (request is not None and request.headers.get("so-apptoken", "").strip()):
        return None
    if settings.tickets is not None and not _listed(ticket, settings.tickets):
        return None
    return {"sub": "ticket:" + ticket.partition(":")[0], "scheme": "SOTicket"}


def superoffice_bearer(token: str, request: ConnexionRequest | None = None) -> dict[str, Any] | None:
    settings = _settings(request)
    if not BEARER.match(token):
        return None
    if settings.tokens is not None and not _listed(token, settings.tokens):
        return None
    return {"sub": "bearer:" + token.partition(":")[0], "scheme": "Bearer"}


def xsrf_cookie(request: ConnexionRequest) -> str | None:
    header = request.headers.get("cookie")
    if not header:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(header)
    except CookieError:
        return None
    morsel = cookies.get(XSRF_COOKIE)
    return morsel.value if morsel is not None else None


def superoffice_xsrf(token: str, request: ConnexionRequest | None = None) -> dict[str, Any] | None:
    """A browser session: the X-XSRF-TOKEN header must repeat the session's XSRF-TOKEN cookie."""
    if request is None or not token:
        return None
    cookie = xsrf_cookie(request)
    if not cookie or not hmac.compare_digest(token.encode(), cookie.encode()):
        return None
    return {"sub": "browser-session", "scheme": "XSRF"}


def gws_basic(username: str, password: str, request: ConnexionRequest | None = None) -> dict[str, Any] | None:
    if not check_user(username, password, _settings(request)):
        return None
    return {"sub": username, "scheme": "Basic"}


def gws_session(session_id: str, request: ConnexionRequest | None = None) -> dict[str, Any] | None:
    """The JSESSIONID cookie of a live GWS session, found by the session middleware."""
    session = request.scope.get(GWS_SESSION_KEY) if request is not None else None
    if session is None or not hmac.compare_digest(session.id.encode(), session_id.encode()):
        return None
    return {"sub": session.user, "scheme": "Session"}


class SoTicketSecurityHandler(AbstractSecurityHandler):
    """`Authorization: SOTicket <ticket>`: an HTTP scheme Connexion does not know by itself."""

    security_definition_key = "x-soticketInfoFunc"
    environ_key = "SOTICKETINFO_FUNC"

    def _get_verify_func(self, function: Callable[..., Any]) -> Callable[..., Any]:
        check = self._generic_check(function, "Provided ticket is not valid")

        def wrapper(request: ConnexionRequest) -> Any:
            auth_type, value = self.get_auth_header_value(request)
            if auth_type != "soticket":
                return NO_VALUE
            return check(request, value)

        return wrapper


SECURITY_MAP = {"soticket": SoTicketSecurityHandler}
