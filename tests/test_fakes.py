"""Generated values look like the vendor's samples and are reproducible from a seed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.contract import spec
from mockserver.fakes import FakerPool, Gen, stable_int
from mockserver.formats import locales
from mockserver.formats.dotnet import FIELD_RIGHT, TABLE_RIGHT


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


def test_rights_masks_are_real_enum_values_and_name_real_properties() -> None:
    g = gen(3)
    names = set(spec.schema("EMailEntity")["properties"])
    seen = set()
    for _ in range(200):
        rights = g.rights("EMailEntity")
        assert TABLE_RIGHT.parse(rights["TableRight"]["Mask"]) > 0
        seen.add(rights["TableRight"]["Mask"])
        for name, prop in rights["FieldProperties"].items():
            assert name in names
            assert prop["FieldType"] in {"System.String", "System.Int32", "System.Boolean", "System.DateTime"}
            assert isinstance(prop["FieldLength"], int)
            if prop["FieldRight"] is not None:
                assert FIELD_RIGHT.parse(prop["FieldRight"]["Mask"]) > 0
    assert len(seen) >= 4  # full rights dominate, but the others show up


def test_a_read_only_mail_says_why_with_the_requests_date() -> None:
    texts = locales.choose("nb", None, None)
    g = Gen(FakerPool().seeded(5), 5, texts)
    moment = datetime(2025, 5, 13, 10, 24)
    reasons = {
        r["TableRight"]["Reason"]
        for r in (g.rights("EMailEntity", moment) for _ in range(300))
        if not TABLE_RIGHT.parse(r["TableRight"]["Mask"]) & 10  # neither Update nor Delete
    }
    assert reasons and all(reason.startswith("Arkivert 13.05.2025") for reason in reasons), reasons


def test_the_same_seed_draws_the_same_rights_in_a_fresh_process_too() -> None:
    """The pools are built from fixed seeds, not from the process: workers and restarts answer alike."""
    code = "from tests.test_fakes import gen; import json; print(json.dumps([gen(8).rights('EMailAddress')] * 3))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(other) == [gen(8).rights("EMailAddress")] * 3


def test_stable_int_is_stable_and_bounded() -> None:
    assert stable_int("a", 1) == stable_int("a", 1) != stable_int("a", 2)
    assert 0 <= stable_int("x", bits=17) < 2**17


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**53 - 1),
    st.sampled_from([locales.NO_LANGUAGE, locales.choose("nb", None, None), locales.choose("sv-SE", None, None)]),
    st.lists(st.sampled_from(["message_id", "server_id", "item_id", "rights", "catch_phrase", "ticks"]), max_size=12),
)
def test_a_lazy_generator_draws_what_the_faker_seeded_one_draws(
    seed: int, texts: locales.Texts, calls: list[str]
) -> None:
    """`Gen.lazy` takes its Faker from the pool only when asked; whatever is drawn, in whatever order, from
    the random source and from Faker alike, must be what the generator over a Faker seeded with the same seed
    draws (Faker's own `seed_instance` is the reference). The lazy pool is shared, as in the app."""
    pool = FakerPool()
    pool.get(texts.faker_locale).random.random()  # a pool faker that has drawn before
    Gen.lazy(pool, seed ^ 1, texts).catch_phrase()  # and that another generator has drawn through

    def draw(g: Gen, name: str) -> object:
        if name == "message_id":
            return g.message_id("x.no")
        if name == "rights":
            return g.rights("EMailEntity", datetime(2025, 5, 13, 10, 24))
        if name == "ticks":
            return g.fraction_ticks()
        return getattr(g, name)()

    reference = Gen(FakerPool().seeded(seed, texts.faker_locale), seed, texts)
    lazy = Gen.lazy(pool, seed, texts)
    assert [draw(lazy, name) for name in calls] == [draw(reference, name) for name in calls]


@settings(max_examples=300)
@given(st.integers(0, 2**64), st.lists(st.integers(1, 2**70), min_size=1, max_size=12))
def test_below_draws_what_randrange_draws(seed: int, bounds: list[int]) -> None:
    """`below` is CPython's own `_randbelow`: from the same seed, the same numbers as randrange and randint."""
    import random

    from mockserver.fakes import below

    fast, reference = random.Random(seed), random.Random(seed)
    for n in bounds:
        assert below(fast, n) == reference.randrange(n)
        assert 7 + below(fast, n) == reference.randint(7, 7 + n - 1)


@given(st.integers(0, 2**128 - 1))
def test_uuid4_text_is_the_uuid_modules_text(bits: int) -> None:
    import uuid

    from mockserver.fakes import uuid4_text

    assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))


_POOL = FakerPool()


@given(st.integers(0, 2**53 - 1), st.lists(st.sampled_from(["message_id", "server", "item", "account", "now"])))
def test_a_mails_ids_and_clock_fraction_are_the_draws_they_always_were(seed: int, draws: list[str]) -> None:
    """Same seed, same answers as before the draws were taken without randint and uuid.UUID (golden examples)."""
    import random
    import uuid

    gen, reference = Gen.lazy(_POOL, seed), random.Random(seed)
    for draw in draws:
        if draw == "message_id":
            expected: object = f"<{uuid.UUID(int=reference.getrandbits(128), version=4)}@nordlys.no>"
            assert gen.message_id("nordlys.no") == expected
        elif draw == "server":
            assert gen.server_id() == reference.randint(1000, 99999)
        elif draw == "item":
            assert gen.item_id() == reference.randint(1, 99999)
        elif draw == "account":
            assert gen.account_id() == reference.randint(1, 40)
        else:
            assert gen.fraction_ticks() == (reference.randrange(1_000_000), reference.randrange(10))
