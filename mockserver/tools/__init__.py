"""What a server never loads: the conformance campaign against any implementation (`campaign`, with
schemathesis taught the contract's wire formats in `conformance`), the validating reverse proxy (`proxy`),
the docs examples (`examples`), the pytest plugin (`pytest_plugin`) and serving the mock inside a test
process (`testing`).

The top layer, beside the wiring: tools may import anything of ours, and nothing below them imports a tool
(tests/test_layers.py holds the others to that).
"""
