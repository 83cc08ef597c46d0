"""The compact JSON schemas the model is shown for every form tool."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from converso.form_agent.tool_schema import compact_json_schema


class Stage(StrEnum):
    NEW = "NEW"
    WON = "WON"


class Address(BaseModel):
    """A postal address."""

    city: str | None = Field(default=None, description="City")


class Deal(BaseModel):
    title: str = Field(description="What the deal is called")
    stage: Stage | None = Field(default=None, description="Where the deal is")
    address: Address | None = None
    tags: list[str] | None = None
    amount: float | int | None = None


def test_optional_fields_lose_title_default_and_the_null_branch() -> None:
    schema = compact_json_schema(Deal.model_json_schema())
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert schema["required"] == ["title"]


def test_a_field_named_title_is_kept() -> None:
    schema = compact_json_schema(Deal.model_json_schema())
    assert schema["properties"]["title"] == {"type": "string", "description": "What the deal is called"}


def test_referenced_models_and_enums_are_inlined_and_compacted() -> None:
    schema = compact_json_schema(Deal.model_json_schema())
    assert "$defs" not in schema
    assert schema["properties"]["stage"] == {
        "type": "string",
        "enum": ["NEW", "WON"],
        "description": "Where the deal is",
    }
    assert schema["properties"]["address"]["properties"] == {
        "city": {"type": "string", "description": "City"}
    }


def test_a_union_of_several_types_keeps_its_branches_without_null() -> None:
    schema = compact_json_schema(Deal.model_json_schema())
    assert schema["properties"]["amount"] == {"anyOf": [{"type": "number"}, {"type": "integer"}]}
