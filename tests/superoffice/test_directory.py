"""Addresses resolve to the same person within a run, with names read from the address."""

from __future__ import annotations

from mockserver.superoffice.directory import Directory


def test_same_address_same_person_case_insensitively() -> None:
    directory = Directory(7)
    assert directory.lookup("kari.nilsen@fjordtech.no") == directory.lookup("  KARI.Nilsen@FjordTech.no ")


def test_same_run_seed_same_person_in_another_process_or_worker() -> None:
    assert Directory(7).lookup("x.y@z.no") == Directory(7).lookup("x.y@z.no")
    assert Directory(7).lookup("x.y@z.no") != Directory(8).lookup("x.y@z.no")


def test_names_come_from_the_local_part() -> None:
    directory = Directory(1)
    person = directory.lookup("kari.nilsen@fjordtech.no")
    assert person.person_name == person.name == "Kari Nilsen"
    assert directory.lookup("bruce.one@witcher.xyz").person_name == "Bruce One"
    assert directory.lookup("qwerty@gplus-w2k3-gf80").person_name.startswith("Qwerty ")
    assert directory.lookup("j.smith@acme.com").person_name == "J. Smith"  # an initial is kept
    assert "." not in directory.lookup("x.y@z.no").person_name  # initials alone name nobody


def test_company_comes_from_the_domain_and_is_shared() -> None:
    directory = Directory(1)
    a = directory.lookup("kari@fjord-tech.no")
    b = directory.lookup("lars@mail.fjord-tech.no")
    assert a.contact_name.startswith("Fjord Tech ")
    assert a.contact_id == b.contact_id and a.contact_name == b.contact_name
    assert a.person_id != b.person_id


def test_private_addresses_have_no_company() -> None:
    person = Directory(1).lookup("kari.nilsen@gmail.com")
    assert (person.contact_id, person.contact_name) == (0, "")
    assert person.person_id > 0


def test_odd_addresses_resolve_without_errors() -> None:
    directory = Directory(1)
    for odd in ("@", "a@.", "a@..", "@@@", "a@-", "a@b@c", "ünïcødé@ðømæin.no", "\x00@\x00", " "):
        person = directory.lookup(odd)
        assert person.person_name


def test_ids_are_in_int32_range() -> None:
    directory = Directory(2**31)
    for n in range(200):
        person = directory.lookup(f"user{n}.name@domain{n}.no")
        for value in (
            person.contact_id,
            person.person_id,
            person.associate_id,
            person.email_id,
            *person.duplicate_person_ids,
        ):
            assert 0 <= value < 2**31
