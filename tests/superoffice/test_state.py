"""SuperOffice's own state: the CRM directory of each language, kept for the run."""

from __future__ import annotations

from mockserver.runtime import Runtime
from mockserver.superoffice.state import SuperOffice
from tests.conftest import mock_settings


def test_a_directory_per_locale_kept_for_the_run() -> None:
    superoffice = SuperOffice(Runtime(mock_settings(seed=2)))
    norwegian = superoffice.directory("no_NO")
    assert superoffice.directory("no_NO") is norwegian
    assert superoffice.directory("en_US") is not norwegian
