"""What SuperOffice keeps for as long as one app: the CRM directory of each language, so that an address is
the same person in every request in that language.

The wiring (`app.create_app`) builds one beside the Runtime and leaves it in every request's scope, where
the SuperOffice carriers find it (`of(scope)`).
"""

from __future__ import annotations

from starlette.types import Scope

from mockserver.runtime import Runtime
from mockserver.superoffice.directory import Directory

SCOPE_KEY = "mockserver.superoffice"


class SuperOffice:
    def __init__(self, runtime: Runtime) -> None:
        self.run_seed = runtime.run_seed
        self._directories: dict[str, Directory] = {}

    def directory(self, locale: str) -> Directory:
        """The directory for a locale: an address is the same person in every request in that language."""
        found = self._directories.get(locale)
        if found is None:
            found = Directory(self.run_seed, locale)
            self._directories[locale] = found
        return found


def of(scope: Scope) -> SuperOffice:
    """The SuperOffice state of the app serving this request."""
    superoffice: SuperOffice = scope[SCOPE_KEY]
    return superoffice
