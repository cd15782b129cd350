"""--schema: every accepted form becomes a strict JSON schema and a validator (grok_magics/schemas.py)."""

from __future__ import annotations

import json
from typing import Literal, Optional

import pytest
from pydantic import BaseModel

from grok_magics.errors import SchemaError
from grok_magics.structured.schemas import Schema, compile_schema


def _closed_everywhere(schema: object) -> None:
    """Every object in the schema is closed and fully required, as strict structured outputs demand."""
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            assert schema["additionalProperties"] is False
            assert sorted(schema["required"]) == sorted(schema["properties"])
        assert "default" not in schema
        for value in schema.values():
            _closed_everywhere(value)
    elif isinstance(schema, list):
        for value in schema:
            _closed_everywhere(value)


class City(BaseModel):
    city: str
    pop: int = 0


class Review(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    score: float
    city: Optional[City] = None


def test_pydantic_model_gives_strict_schema_and_instances() -> None:
    schema = compile_schema(Review)
    assert schema.name == "Review" and schema.fields == ("label", "score", "city")
    assert schema.json_schema["type"] == "object"
    _closed_everywhere(schema.json_schema)
    value = schema.validate(json.dumps({"label": "positive", "score": 0.9, "city": {"city": "Oslo", "pop": 7}}))
    assert isinstance(value, Review) and value.city == City(city="Oslo", pop=7)
    assert schema.as_row(value) == {"label": "positive", "score": 0.9, "city": {"city": "Oslo", "pop": 7}}
    with pytest.raises(SchemaError, match="label"):
        schema.validate('{"label": "great", "score": 1, "city": null}')


def test_shorthand_dict_gives_plain_dicts() -> None:
    schema = compile_schema({"name": str, "score": float, "tags": list[str], "note": Optional[str]})
    _closed_everywhere(schema.json_schema)
    assert schema.fields == ("name", "score", "tags", "note")
    value = schema.validate('{"name": "a", "score": 2, "tags": ["x"], "note": null}')
    assert value == {"name": "a", "score": 2.0, "tags": ["x"], "note": None}
    with pytest.raises(SchemaError) as info:
        schema.validate('{"name": "a", "score": "high", "tags": [], "note": null}')
    assert "score" in str(info.value) and "\n" not in str(info.value)


def test_shorthand_list_is_wrapped_in_an_object() -> None:
    schema = compile_schema([{"city": str, "pop": int}])
    assert schema.wrapped and schema.fields == ()
    root = schema.json_schema
    assert root["type"] == "object" and root["required"] == ["items"]
    _closed_everywhere(root)
    assert schema.validate('{"items": [{"city": "Oslo", "pop": 1}]}') == [{"city": "Oslo", "pop": 1}]
    with pytest.raises(SchemaError):
        schema.validate('[{"city": "Oslo", "pop": 1}]')


def test_nested_shorthand_and_literal() -> None:
    schema = compile_schema({"who": {"first": str, "last": str}, "mood": Literal["up", "down"]})
    _closed_everywhere(schema.json_schema)
    assert schema.validate('{"who": {"first": "A", "last": "B"}, "mood": "up"}')["who"]["last"] == "B"
    with pytest.raises(SchemaError):
        schema.validate('{"who": {"first": "A"}, "mood": "up"}')


def test_json_schema_dict_is_closed_and_checked() -> None:
    raw = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["a", "b"]}, "n": {"type": "integer", "default": 3}},
    }
    schema = compile_schema(raw)
    _closed_everywhere(schema.json_schema)
    assert "additionalProperties" not in raw  # the caller's dict is left alone
    assert schema.validate('{"label": "a", "n": 1}') == {"label": "a", "n": 1}
    for bad in ('{"label": "c", "n": 1}', '{"label": "a", "n": 1.5}', '{"label": "a"}', "not json"):
        with pytest.raises(SchemaError):
            schema.validate(bad)


def test_unusable_specs_are_one_line_errors() -> None:
    for spec in ("str", {"a": "str"}, [str, int], {}):
        with pytest.raises(SchemaError) as info:
            compile_schema(spec)
        assert "\n" not in str(info.value)
    assert isinstance(compile_schema(compile_schema({"a": int})), Schema)
