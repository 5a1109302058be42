"""Genesys Web Services, the GWS e-mail vendor: its handlers (`handlers`), HTTP sessions and CSRF the way GWS
does them (`sessions`), the CometD (Bayeux) server its clients long-poll (`bayeux`), and the notification that
reports a Send's outcome on `/v2/me/emails` (`notify`).

A vendor package: it may import the shared services (settings, runtime, call, auth, controls, seeding,
fakes), the contract, the mail pipeline and the formats, but no other vendor and nothing of the wiring or the
tools (tests/test_layers.py holds it to that).
"""
