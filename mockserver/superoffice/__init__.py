"""SuperOffice, the EMail agent vendor: its handlers (SendEMails, SaveToMailServer, RelayMessage in
`handlers`), its carriers filled in the vendor's order and style (`carriers`), and the CRM directory that
turns an address into a contact and person (`directory`).

A vendor package: it may import the shared services (settings, runtime, call, auth, controls, seeding,
fakes), the contract, the mail pipeline and the formats, but no other vendor and nothing of the wiring or the
tools (tests/test_layers.py holds it to that).
"""
