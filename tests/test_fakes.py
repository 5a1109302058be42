"""Generated values look like the vendor's samples and are reproducible from a seed."""

from __future__ import annotations

import re

from mockserver import spec
from mockserver.dotnet import FIELD_RIGHT, TABLE_RIGHT
from mockserver.fakes import FakerPool, Gen, stable_int


def gen(seed: int) -> Gen:
    return Gen(FakerPool().seeded(seed), seed)


def test_same_seed_same_values() -> None:
    a, b = gen(11), gen(11)
    assert [a.message_id("x.no"), a.server_id(), a.catch_phrase()] == [
        b.message_id("x.no"),
        b.server_id(),
        b.catch_phrase(),
    ]
    assert gen(11).message_id("x.no") != gen(12).message_id("x.no")


def test_pool_reuses_one_faker_per_locale() -> None:
    pool = FakerPool()
    assert pool.get("en_US") is pool.get("en_US")
    assert pool.get("sv_SE") is not pool.get("en_US")


def test_message_id_has_the_angle_bracket_form() -> None:
    assert re.fullmatch(r"<[0-9a-f-]{36}@fjordtech\.no>", gen(1).message_id("fjordtech.no"))


def test_rights_masks_are_real_enum_values() -> None:
    g = gen(3)
    for _ in range(50):
        mask = g.table_right()["Mask"]
        assert TABLE_RIGHT.parse(mask) > 0
        field = g.field_right()
        if field is not None:
            assert FIELD_RIGHT.parse(field["Mask"]) > 0


def test_field_properties_name_real_properties_with_dotnet_types() -> None:
    g = gen(4)
    names = set(spec.schema("EMailEntity")["properties"])
    for _ in range(30):
        for name, prop in g.field_properties("EMailEntity").items():
            assert name in names
            assert prop["FieldType"] in {"System.String", "System.Int32", "System.Boolean", "System.DateTime"}
            assert isinstance(prop["FieldLength"], int)


def test_stable_int_is_stable_and_bounded() -> None:
    assert stable_int("a", 1) == stable_int("a", 1) != stable_int("a", 2)
    assert 0 <= stable_int("x", bits=17) < 2**17
