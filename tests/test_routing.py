"""operationId → handler: the prefix names the vendor's handler module, the rest the function."""

from __future__ import annotations

import pytest

from mockserver import routing


def test_handler_names_follow_operation_ids() -> None:
    assert routing.function_name("v1EMailAgent_SendEMails") == ("mockserver.superoffice.handlers", "send_emails")
    assert routing.function_name("v1EMailAgent_SaveToMailServer")[1] == "save_to_mail_server"
    assert routing.function_name("gwsEmail_Send") == ("mockserver.genesys.handlers.emails", "send")
    with pytest.raises(LookupError):
        routing.function_name("unknownPrefix_Thing")
