"""Reference resolution: what a person says about a record, turned into that record."""

from __future__ import annotations

from crm_tools.forms.references import resolve_reference
from tests.forms.conftest import add_company, add_opportunity, add_person


def test_a_unique_company_name_resolves_to_its_id_and_name(crm):
    acme = add_company(crm, "Acme", "acme.com")
    resolution = resolve_reference(crm, "acme", ["company"])
    assert resolution.match is not None
    assert (resolution.match.id, resolution.match.name) == (acme["id"], "Acme")
    assert resolution.problem() is None


def test_a_domain_resolves_to_the_company_with_that_domain(crm):
    add_company(crm, "Globex", "globex.io")
    acme = add_company(crm, "Acme Corporation", "acme.com")
    assert resolve_reference(crm, "https://www.acme.com", ["company"]).match.id == acme["id"]


def test_an_email_resolves_to_the_person_with_that_email(crm):
    jane = add_person(crm, "Jane", "Doe", "jane@acme.com")
    add_person(crm, "Jane", "Roe", "jane@globex.io")
    assert resolve_reference(crm, "Jane@Acme.com", ["person"]).match.id == jane["id"]


def test_a_full_name_resolves_to_the_person(crm):
    add_person(crm, "Jane", "Roe")
    jane = add_person(crm, "Jane", "Doe")
    assert resolve_reference(crm, "jane doe", ["person"]).match.id == jane["id"]


def test_an_id_resolves_to_its_record(crm):
    acme = add_company(crm, "Acme")
    assert resolve_reference(crm, acme["id"], ["company"]).match.name == "Acme"


def test_an_exact_name_wins_over_names_that_merely_contain_it(crm):
    acme = add_company(crm, "Acme")
    add_company(crm, "Acme Labs")
    assert resolve_reference(crm, "Acme", ["company"]).match.id == acme["id"]


def test_several_matches_list_candidates_with_a_distinguishing_field(crm):
    add_company(crm, "Acme Labs", "acmelabs.com")
    add_company(crm, "Acme Foods", "acmefoods.com")
    resolution = resolve_reference(crm, "acme", ["company"])
    assert resolution.match is None
    problem = resolution.problem()
    assert "Several records match 'acme'" in problem
    assert "Acme Labs (company, domain acmelabs.com, id=" in problem
    assert "Acme Foods (company, domain acmefoods.com, id=" in problem


def test_people_with_the_same_name_are_told_apart_by_email(crm):
    add_person(crm, "Sam", "Lee", "sam@acme.com")
    add_person(crm, "Sam", "Lee", "sam@globex.io")
    problem = resolve_reference(crm, "Sam Lee", ["person"]).problem()
    assert "email sam@acme.com" in problem and "email sam@globex.io" in problem


def test_no_match_says_so_and_suggests_creating_it(crm):
    add_company(crm, "Acme")
    resolution = resolve_reference(crm, "Initech", ["company"])
    assert resolution.matches == ()
    assert resolution.problem() == (
        "No company matches 'Initech'. Ask the user which one they mean, or offer to create it."
    )


def test_an_unknown_id_is_no_match(crm):
    resolution = resolve_reference(crm, "6f1c0c1e-3a4b-4c5d-8e9f-0a1b2c3d4e5f", ["company"])
    assert resolution.matches == ()


def test_a_reference_across_kinds_prefers_an_exact_hit(crm):
    acme = add_company(crm, "Acme")
    add_opportunity(crm, "Acme renewal")
    resolution = resolve_reference(crm, "Acme", ["company", "person", "opportunity"])
    assert (resolution.match.object_name, resolution.match.id) == ("company", acme["id"])


def test_a_reference_across_kinds_names_each_candidates_kind(crm):
    add_company(crm, "Initech Holdings")
    add_opportunity(crm, "Initech expansion")
    problem = resolve_reference(crm, "initech", ["company", "opportunity"]).problem()
    assert "Initech Holdings (company" in problem and "Initech expansion (opportunity" in problem


def test_an_exact_email_names_the_person_not_the_company_with_that_domain(crm):
    add_company(crm, "River Studios", "riverstudios.com")
    zoe = add_person(crm, "Zoe", "Chen", "zoe.chen@riverstudios.com")
    resolution = resolve_reference(crm, "zoe.chen@riverstudios.com", ["company", "person", "opportunity"])
    assert (resolution.match.object_name, resolution.match.id) == ("person", zoe["id"])


def test_an_email_nobody_has_is_no_match_where_a_person_may_be_meant(crm):
    add_company(crm, "River Studios", "riverstudios.com")
    resolution = resolve_reference(crm, "max@riverstudios.com", ["company", "person", "opportunity"])
    assert resolution.matches == ()


def test_a_company_reference_resolves_an_email_by_its_domain(crm):
    river = add_company(crm, "River Studios", "riverstudios.com")
    add_person(crm, "Zoe", "Chen", "zoe.chen@riverstudios.com")
    assert resolve_reference(crm, "zoe.chen@riverstudios.com", ["company"]).match.id == river["id"]
