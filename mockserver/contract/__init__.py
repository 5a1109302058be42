"""The contract and its wire: the OpenAPI documents under openapi/ (`spec`), the request validators plugged
into Connexion (`bodies`), the wire formats read back as JSON values (`wire`, `forms`, `xmlcodec`), Accept
negotiation (`negotiation`), and errors in each vendor's own shape (`problems`).

It knows what the vendors' APIs look like on the wire, nothing of what the mock does with a request. It may
import `mockserver.formats` and nothing else of ours: not the mail pipeline (a sibling layer), not the
shared services, not a vendor (tests/test_layers.py holds it to that).
"""
