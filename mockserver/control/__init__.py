"""The mock's own control API (openapi/mock-control.yaml): the outbox, waiting for a mail, attachments, the
sink's log and the inbox page (`handlers`). Served from its contract like a vendor API, so it sits in the
vendor layer.

It may import the shared services, the contract, the mail pipeline and the formats, but no vendor and nothing
of the wiring or the tools (tests/test_layers.py holds it to that).
"""
