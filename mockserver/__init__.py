"""Mock and contract-test server for e-mail sending APIs (SuperOffice EMail agent, Genesys GWS e-mail)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

# Connexion 3.3 imports starlette's TestClient at import time, and starlette 1.x warns about httpx there;
# users of the server should not see a testing-library notice on every start.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")

__version__ = "0.1.0"
__all__ = ["__version__", "create_app"]

if TYPE_CHECKING:
    import connexion

    from mockserver.settings import Settings


def create_app(settings: Settings | None = None) -> connexion.AsyncApp:
    """Build the ASGI app (imported lazily so that `import mockserver` stays cheap)."""
    from mockserver.app import create_app as build

    return build(settings)
