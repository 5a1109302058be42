"""How vendor values are written: .NET DateTime strings and [Flags] enums (`dotnet`), SO-TimeZone zones
(`timezones`), languages and cultures (`locales`), `$select` projection (`projection`), and the base64
text the vendors' `Stream` fields carry (`base64text`).

The lowest layer: pure functions and value types that the contract, the mail pipeline, the shared services
and the vendors all use. It imports nothing of mockserver's own (tests/test_layers.py holds it to that), so
any module may import it without pulling anything else in.
"""
