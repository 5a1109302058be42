"""SuperOffice's own state: the CRM directory of each language, kept for the run."""

from __future__ import annotations

from mockserver import create_app
from mockserver.app import superoffice_of
from mockserver.runtime import Runtime
from mockserver.superoffice.state import SuperOffice
from tests.conftest import AUTH, SEND, mock_settings


def test_a_directory_per_locale_kept_for_the_run() -> None:
    superoffice = SuperOffice(Runtime(mock_settings(seed=2)))
    norwegian = superoffice.directory("no_NO")
    assert superoffice.directory("no_NO") is norwegian
    assert superoffice.directory("en_US") is not norwegian


def test_the_handlers_look_addresses_up_in_their_apps_directory() -> None:
    app = create_app(mock_settings(seed=2))
    email = {"From": {"Address": "ops@nordlys.no"}, "To": [{"Address": "kari.nilsen@fjordtech.no"}]}
    with app.test_client() as client:
        response = client.post(SEND, json={"Emails": [email]}, headers={**AUTH, "Accept-Language": "sv"})
    assert response.status_code == 200, response.text
    directory = superoffice_of(app).directory("sv_SE")
    assert directory.lookup.cache_info().currsize > 0  # the request's lookups are in this app's directory
    assert response.json()[0]["To"][0]["PersonName"] == directory.lookup("kari.nilsen@fjordtech.no").person_name
