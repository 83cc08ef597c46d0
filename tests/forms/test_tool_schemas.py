"""What the model is shown: compact schemas, because every visible schema is re-sent on every call."""

from __future__ import annotations

import json

import bpe_openai
from langchain_core.utils.function_calling import convert_to_openai_tool

from converso.form_agent import FormTool, FormToolState, offered_tools
from converso.form_agent.toolset import with_form_reset
from crm_tools.forms import CreateOpportunity
from crm_tools.toolset import build_tools

# Every call offers the same tools (a prefix the provider caches); the system prompt and the state note
# come on top of this.
OFFERED_TOOLS_BUDGET = 1_550


def shown(tool, state=FormToolState.INACTIVE):
    return convert_to_openai_tool(tool.variant(state) if isinstance(tool, FormTool) else tool)


def test_read_tool_schemas_have_no_titles_defaults_or_null_unions(crm):
    for tool in build_tools(crm, read_only=True):
        text = json.dumps(shown(tool))
        assert '"title"' not in text and '"default"' not in text and '"null"' not in text, tool.name


def test_an_open_forms_update_schema_is_compact_and_keeps_field_descriptions(crm):
    schema = shown(CreateOpportunity(backend=crm), FormToolState.ACTIVE)["function"]["parameters"]
    assert schema["properties"]["amount"] == {"description": "In currency units", "type": "number"}
    assert "required" not in schema


def test_the_default_tools_fit_the_per_call_token_budget(crm):
    encoding = bpe_openai.get_encoding("o200k_base")
    schemas = [convert_to_openai_tool(tool) for tool in offered_tools(with_form_reset(build_tools(crm)))]
    assert len(encoding.encode(json.dumps(schemas))) <= OFFERED_TOOLS_BUDGET
