"""``--schema``: one seam from what the user wrote to what the provider needs and what Python gets back.

Accepted: a pydantic model class, a JSON-schema dict, or the compact shorthand
(``{"name": str, "score": float}``, ``[{"city": str, "pop": int}]``, nested dicts, ``Optional[...]``,
``list[...]``, ``Literal[...]``). Every form becomes (a) a *strict* JSON schema that providers with
structured outputs accept (``additionalProperties: false``, every property required, an object at
the root) and (b) a validator that returns the parsed value or raises ``SchemaError`` (one line).
pydantic is imported only when a schema is compiled, never when the extension loads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, MutableMapping

from grok_magics.errors import SchemaError

_WRAP = "items"  # non-object roots travel inside {"items": ...}: providers want an object at the root


class _NotStrict(ValueError):
    """A NaN, an Infinity or a number too large for a float: Python's reader takes them, JSON has none."""


def _refuse_constant(name: str) -> Any:
    raise _NotStrict(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrict(text)
    return value


def load_json(text: str) -> Any:
    """The answer's JSON, read strictly; ``SchemaError`` in one line for anything else.

    Strict, because a NaN or an Infinity that Python's reader lets through would reach the
    user's variables and frames as a value no JSON consumer can read back. Nesting deeper
    than Python's recursion limit is a mismatch too, never a crash.
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except _NotStrict as exc:
        raise SchemaError(f"the answer is not strict JSON: it holds {exc}, which JSON has no value for") from None
    except RecursionError:
        raise SchemaError("the answer nests deeper than Python's JSON reader can follow") from None
    except ValueError:
        raise SchemaError(f"the answer is not JSON: {text[:80]!r}") from None


@dataclass(frozen=True)
class Schema:
    name: str
    json_schema: dict[str, Any]  # strict, object at the root
    fields: tuple[str, ...]  # top-level fields (one result column each); () when the root is a list
    wrapped: bool  # the answer's value sits under "items"
    _validate: Callable[[Any], Any]

    @property
    def wrapper(self) -> str:
        """The key our wrapper puts the answer under, or "" when the answer is the user's object itself."""
        return _WRAP if self.wrapped else ""

    def validate(self, text: str) -> Any:
        """The answer as a model instance, dict or list; ``SchemaError`` when it does not match, whatever
        the answer holds (a map row's answer must fail that row, never the job)."""
        data = load_json(text)
        if self.wrapped:
            if not isinstance(data, dict) or _WRAP not in data:
                raise SchemaError(f"the answer lacks the {_WRAP!r} list the schema asks for")
            data = data[_WRAP]
        try:
            return self._validate(data)
        except SchemaError:
            raise
        except Exception as exc:  # pydantic's "Maximum serialization depth", a model's own validator that raised
            raise SchemaError(
                f"the answer could not be checked against the schema ({type(exc).__name__}: {str(exc)[:120]})"
            ) from None

    def as_row(self, value: Any) -> dict[str, Any]:
        """One value per field, for result columns."""
        if not self.fields:
            return {}
        data = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
        return {name: data.get(name) for name in self.fields}


def schema_from(expression: str | None, namespace: MutableMapping[str, Any]) -> Any:
    """``--schema Name`` names a variable (a pydantic model, a JSON schema or a shorthand dict/list);
    anything else is evaluated as a Python expression in the notebook's namespace, like other magics do."""
    if expression is None:
        return None
    if expression.isidentifier():
        if expression not in namespace:
            raise SchemaError(f"--schema {expression}: no such variable in the notebook")
        return namespace[expression]
    try:
        return eval(expression, dict(namespace))  # noqa: S307 - the user's own expression, in the user's namespace
    except Exception as exc:
        raise SchemaError(f"--schema: could not evaluate {expression!r} ({type(exc).__name__}: {exc})") from None


def compile_schema(spec: Any, name: str = "") -> Schema:
    """Any accepted form → ``Schema``; ``SchemaError`` naming what was wrong otherwise."""
    if isinstance(spec, Schema):
        return spec
    if _is_model_class(spec):
        return _from_model(spec, name or spec.__name__)
    if isinstance(spec, dict) and _looks_like_json_schema(spec):
        return _from_json_schema(spec, name or str(spec.get("title") or "result"))
    if isinstance(spec, (dict, list)):
        return _from_shorthand(spec, name or "result")
    raise SchemaError(
        f"cannot use {type(spec).__name__} as a schema: pass a pydantic model, a JSON schema or a shorthand "
        "like {'label': str, 'score': float}"
    )


# --------------------------------------------------------------------------- pydantic and shorthand


def _is_model_class(spec: Any) -> bool:
    return isinstance(spec, type) and hasattr(spec, "model_json_schema") and hasattr(spec, "model_validate")


def _pydantic_error(exc: Exception) -> SchemaError:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "value"
        return SchemaError(f"the answer does not match the schema: {where}: {first.get('msg', exc)}")
    return SchemaError(f"the answer does not match the schema: {exc}")


def _adapter_schema(annotation: Any, name: str) -> Schema:
    from pydantic import TypeAdapter, ValidationError

    adapter = TypeAdapter(annotation)
    raw = adapter.json_schema()
    wrapped = raw.get("type") != "object" and "properties" not in raw and "$ref" not in raw
    if wrapped:
        defs = raw.pop("$defs", None)
        raw = {"type": "object", "properties": {_WRAP: raw}}
        if defs:
            raw["$defs"] = defs
    strict = strictify(raw)
    fields = () if wrapped else _top_fields(strict)

    def validate(data: Any) -> Any:
        try:
            return adapter.validate_python(data)
        except ValidationError as exc:
            raise _pydantic_error(exc) from None

    return Schema(name=_safe_name(name), json_schema=strict, fields=fields, wrapped=wrapped, _validate=validate)


def _from_model(model: type, name: str) -> Schema:
    return _adapter_schema(model, name)


def _shorthand_type(value: Any, name: str) -> Any:
    """Shorthand → a type pydantic understands: dicts become models, lists become list[...]."""
    if isinstance(value, dict):
        from pydantic import create_model

        if not value:
            raise SchemaError(f"{name}: an empty dict has no fields")
        fields: dict[str, Any] = {}
        for key, sub in value.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise SchemaError(f"{name}: field names must be identifiers, got {key!r}")
            fields[key] = (_shorthand_type(sub, f"{name}.{key}"), ...)
        return create_model(_safe_name(name.title().replace(".", "_")) or "Result", **fields)
    if isinstance(value, list):
        if len(value) != 1:
            raise SchemaError(f"{name}: a list shorthand holds exactly one element type, like [str]")
        return list[_shorthand_type(value[0], name + "_item")]  # type: ignore[misc]  # a type built at run time
    if value is None or isinstance(value, (str, int, float, bool)):
        raise SchemaError(f"{name}: {value!r} is a value, not a type (write str, int, float, bool...)")
    return value


def _from_shorthand(spec: dict[str, Any] | list[Any], name: str) -> Schema:
    annotation = _shorthand_type(spec, name)
    schema = _adapter_schema(annotation, name)
    plain = schema._validate

    def validate(data: Any) -> Any:  # shorthand users get plain dicts and lists back, not generated classes
        value = plain(data)
        return _plain(value)

    return Schema(schema.name, schema.json_schema, schema.fields, schema.wrapped, validate)


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- JSON schema dicts


def _looks_like_json_schema(spec: dict[str, Any]) -> bool:
    return isinstance(spec.get("type"), (str, list)) or any(
        key in spec for key in ("properties", "$defs", "anyOf", "$schema", "$ref")
    )


def _from_json_schema(spec: dict[str, Any], name: str) -> Schema:
    raw = json.loads(json.dumps(spec))  # a private copy
    raw.pop("$schema", None)
    wrapped = raw.get("type") != "object" and "properties" not in raw
    if wrapped:
        defs = raw.pop("$defs", None)
        raw = {"type": "object", "properties": {_WRAP: raw}, **({"$defs": defs} if defs else {})}
    strict = strictify(raw)
    checked = strict["properties"][_WRAP] if wrapped else strict

    def validate(data: Any) -> Any:
        problem = check(data, checked, strict.get("$defs", {}), "value")
        if problem:
            raise SchemaError(f"the answer does not match the schema: {problem}")
        return data

    fields = () if wrapped else _top_fields(strict)
    return Schema(_safe_name(name), strict, fields, wrapped, validate)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def check(value: Any, schema: dict[str, Any], defs: dict[str, Any], where: str) -> str:
    """The first mismatch as 'where: what', or '' — enough for the strict subset providers accept."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return check(value, defs.get(ref.split("/")[-1], {}), defs, where)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return "" if any(not check(value, o, defs, where) for o in options) else f"{where}: matches no allowed form"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where}: {value!r} is not one of {schema['enum']}"
    if "const" in schema and value != schema["const"]:
        return f"{where}: must be {schema['const']!r}"
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    if kinds and not any(_TYPES.get(k, lambda v: True)(value) for k in kinds):
        return f"{where}: expected {'/'.join(kinds)}, got {type(value).__name__}"
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{where}: missing {key!r}"
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                problem = check(value[key], sub, defs, f"{where}.{key}" if where != "value" else key)
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = check(item, schema["items"], defs, f"{where}[{i}]")
            if problem:
                return problem
    return ""


# --------------------------------------------------------------------------- strict form


def strictify(schema: Any) -> Any:
    """Every object closed and fully required; defaults dropped (strict structured outputs reject them)."""
    if isinstance(schema, list):
        return [strictify(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strictify(v) for k, v in schema.items() if k != "default"}
    if out.get("type") == "object" or "properties" in out:
        out.setdefault("type", "object")
        out["properties"] = out.get("properties") or {}
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


def _top_fields(strict: dict[str, Any]) -> tuple[str, ...]:
    return tuple(strict.get("properties") or ())


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
    return cleaned or "result"
