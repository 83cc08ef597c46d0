"""Which CRM forms may fill in on the event loop: those whose hooks never read the CRM."""

from __future__ import annotations

from crm_tools.forms import build_forms


def test_only_forms_without_reference_fields_say_their_hooks_do_not_block(crm) -> None:
    blocking = {form.name: form.hooks_may_block() for form in build_forms(crm)}
    # A new company has no field naming another record; every other form has one (a company, a person,
    # the record to change or delete), looked up while the form is filled in and shown by name.
    assert blocking == {name: name != "CreateCompany" for name in blocking}
    assert len(blocking) == 10
