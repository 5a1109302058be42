"""Mail: the MIME message a request stands for (`mime`, `mimewriter`), the one door every accepted mail passes
through (`ingest`: the outbox row, then delivery), the outbox itself (`outbox`) and the database under it
(`store`: SQLite or PostgreSQL), SMTP and IMAP delivery (`delivery`), and the embedded SMTP sink (`sink`).

It knows mail, not HTTP: what it needs of the app comes in as values (a `delivery.DeliveryOptions`, an
`ingest.Mailroom`). It may import `mockserver.formats` and nothing else of ours: not the contract (a sibling
layer), not settings or the runtime, not a vendor (tests/test_layers.py holds it to that).
"""
