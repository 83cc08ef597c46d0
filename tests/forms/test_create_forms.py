"""Create forms in a conversation: fields collected, summary shown, record written only on a "yes"."""

from __future__ import annotations

import pytest

from converso.form_agent import FormContext
from crm_tools.forms import CreateCompany
from tests.forms.conftest import add_company, add_person
from tests.forms.conversation import NOW, Conversation, call


@pytest.fixture
def chat(crm):
    conversation = Conversation(crm)
    yield conversation
    conversation.agent.close()


def companies(crm):
    return crm.list("company")["data"]["companies"]


def test_filled_company_form_shows_the_summary_as_the_reply_and_writes_nothing_yet(chat, crm):
    reply = chat.say(
        "Add Acme Robotics, acme-robotics.com",
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme Robotics", "domain": "https://www.Acme-Robotics.com/"}),
    )
    assert reply.text == (
        "Create company:\n"
        "- Name: Acme Robotics\n"
        "- Domain: acme-robotics.com\n"
        "You can also add: address, employees. Anything else to add, or shall I save it?"
    )
    assert reply.form["state"] == "FILLED"
    assert companies(crm) == []


def test_confirmed_company_is_created_and_the_reply_names_it(chat, crm):
    chat.say("Add Acme", call("CreateCompanyStart"), call("FormUpdate", {"name": "Acme", "employees": 0}))
    reply = chat.say("yes", call("FormFinalize", {"confirm": True}))
    [acme] = companies(crm)
    assert reply.text == f"Created company Acme (id={acme['id']})."
    assert acme["employees"] == 0
    assert reply.form is None


def test_required_fields_are_asked_for_one_at_a_time(chat):
    chat.say(
        "New contact Jane",
        call("CreatePersonStart"),
        call("FormUpdate", {"first_name": "Jane"}),
        "What is Jane's last name?",
    )
    assert chat.tool_results()[-1] == "Stored: first_name. Next field to ask the user: last_name (Last name)."


def test_optional_fields_are_offered_in_the_summary_but_never_asked_for(chat):
    reply = chat.say(
        "New contact Jane Doe",
        call("CreatePersonStart"),
        call("FormUpdate", {"first_name": "Jane", "last_name": "Doe"}),
    )
    assert reply.form["state"] == "FILLED"
    assert "You can also add: email, phone, job title, company." in reply.text


def test_a_company_named_in_words_is_linked_by_id_and_shown_by_name(chat, crm):
    acme = add_company(crm, "Acme Robotics", "acme-robotics.com")
    reply = chat.say(
        "Jane Doe, CTO at acme robotics",
        call("CreatePersonStart"),
        call(
            "FormUpdate",
            {"first_name": "Jane", "last_name": "Doe", "job_title": "CTO", "company": "acme robotics"},
        ),
    )
    assert "- Company: Acme Robotics\n" in reply.text
    assert reply.form["values"]["company"] == acme["id"]
    chat.say("yes", call("FormFinalize", {"confirm": True}))
    [jane] = crm.list("person")["data"]["people"]
    assert (jane["companyId"], jane["jobTitle"]) == (acme["id"], "CTO")


def test_an_ambiguous_company_is_not_stored_and_the_candidates_are_listed(chat, crm):
    add_company(crm, "Acme Labs", "acmelabs.com")
    add_company(crm, "Acme Foods", "acmefoods.com")
    reply = chat.say(
        "Jane Doe at Acme",
        call("CreatePersonStart"),
        call("FormUpdate", {"first_name": "Jane", "last_name": "Doe", "company": "Acme"}),
        "Which Acme: Acme Labs or Acme Foods?",
    )
    result = chat.tool_results()[-1]
    assert "company: Several records match 'Acme'" in result
    assert (
        "Acme Labs (company, domain acmelabs.com" in result
        and "Acme Foods (company, domain acmefoods.com" in result
    )
    assert "company" not in reply.form["values"]


def test_an_unknown_company_is_reported_so_the_model_can_offer_to_create_it(chat, crm):
    chat.say(
        "Jane Doe at Initech",
        call("CreatePersonStart"),
        call("FormUpdate", {"first_name": "Jane", "last_name": "Doe", "company": "Initech"}),
        "I can't find Initech. Shall I create it?",
    )
    assert (
        "No company matches 'Initech'. Ask the user which one they mean, or offer to create it."
        in (chat.tool_results()[-1])
    )


def test_an_invalid_email_is_rejected_with_what_is_accepted(chat):
    reply = chat.say(
        "Jane Doe, jane at acme",
        call("CreatePersonStart"),
        call("FormUpdate", {"first_name": "Jane", "last_name": "Doe", "email": "jane at acme"}),
        "That email looks wrong; what is it?",
    )
    assert (
        "'jane at acme' is not an email address. Expected something like jane@example.com."
        in (chat.tool_results()[-1])
    )
    assert "email" not in reply.form["values"]


def test_opportunity_summary_shows_defaults_the_resolved_date_and_the_names_of_references(chat, crm):
    acme = add_company(crm, "Acme")
    add_person(crm, "Jane", "Doe", "jane@acme.com", acme["id"])
    reply = chat.say(
        "Acme pilot, 50k, closing next Friday, with jane@acme.com",
        call("CreateOpportunityStart"),
        call(
            "FormUpdate",
            {
                "name": "Acme pilot",
                "amount": "50k",
                "close_date": "next Friday",
                "company": "Acme",
                "point_of_contact": "jane@acme.com",
            },
        ),
    )
    assert reply.text == (
        "Create opportunity:\n"
        "- Name: Acme pilot\n"
        "- Amount: 50,000\n"
        "- Currency: USD (default)\n"
        "- Stage: NEW (default)\n"
        "- Close date: 2026-01-09 (Friday)\n"
        "- Company: Acme\n"
        "- Point of contact: Jane Doe\n"
        "Shall I save it?"
    )


def test_confirmed_opportunity_stores_micros_currency_stage_and_close_date(chat, crm):
    chat.say(
        "Deal",
        call("CreateOpportunityStart"),
        call(
            "FormUpdate",
            {"name": "Deal", "amount": 1250.5, "currency": "eur", "stage": "proposal"},
        ),
    )
    chat.say("save", call("FormFinalize", {"confirm": True}))
    [deal] = crm.list("opportunity")["data"]["opportunities"]
    assert deal["amount"] == {"amountMicros": 1_250_500_000, "currencyCode": "EUR"}
    assert deal["stage"] == "PROPOSAL"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", -5, "The amount must be 0 or more, got -5."),
        ("stage", "closing", "'closing' is not a stage. Accepted: NEW, MEETING, PROPOSAL, WON, LOST."),
        ("close_date", "2026-02-30", "'2026-02-30' is not a real calendar date."),
    ],
)
def test_invalid_opportunity_values_are_rejected_with_what_is_accepted(chat, field, value, message):
    reply = chat.say(
        "Deal",
        call("CreateOpportunityStart"),
        call("FormUpdate", {"name": "Deal", field: value}),
        "Could you check that value?",
    )
    assert message in chat.tool_results()[-1]
    assert field not in reply.form["values"]


def test_a_crm_rejection_at_commit_keeps_the_form_and_tells_the_model(chat, crm):
    add_person(crm, "Jane", "Doe", "jane@acme.com")
    chat.say(
        "Jane Roe, jane@acme.com",
        call("CreatePersonStart"),
        call("FormUpdate", {"first_name": "Jane", "last_name": "Roe", "email": "jane@acme.com"}),
    )
    reply = chat.say("yes", call("FormFinalize", {"confirm": True}), "That email is taken.")
    assert chat.tool_results()[-1].startswith("CreatePerson was not saved: ")
    assert "jane@acme.com" in chat.tool_results()[-1]
    assert reply.form["state"] == "FILLED"
    assert len(crm.list("person")["data"]["people"]) == 1


def test_a_repeated_commit_with_the_same_form_id_writes_one_record(crm):
    form = CreateCompany(backend=crm)
    context = FormContext(form_id="form-7", now=NOW)
    first = form._run_when_complete(context, name="Acme", domain=None, address=None, employees=None)
    second = form._run_when_complete(context, name="Acme", domain=None, address=None, employees=None)
    assert first == second
    assert len(companies(crm)) == 1


def test_when_an_interrupted_form_resumes_the_model_gets_the_commit_result(chat, crm):
    chat.say("New deal", call("CreateOpportunityStart"), call("FormUpdate", {}), "Name of the deal?")
    chat.say(
        "First add company Initech",
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Initech"}),
    )
    reply = chat.say(
        "yes",
        call("FormFinalize", {"confirm": True}),
        "Initech is created. Now, what is the deal called?",
    )
    assert reply.text == "Initech is created. Now, what is the deal called?"
    assert reply.form["name"] == "CreateOpportunity"
    assert "Created company Initech" in chat.tool_results()[-1]
