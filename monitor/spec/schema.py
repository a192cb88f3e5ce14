"""A small schema language: one description of the spec gives both the validator and the JSON Schema.

The spec's shape is declared once (monitor/spec/declaration.py) with these node types; `check` walks a
loaded document against it collecting every problem with its position, and `to_json_schema`
turns the same declaration into the JSON Schema that editors use.

`accepted_view` is the one choke point between the raw YAML and the builders: the same walk returns
a copy of the document holding only what the schema accepted: a wrongly typed field is left out, a
mapping missing a required field is left out of its parent, a rejected entry of a list of mappings
stays in its place as an empty mapping (so entries keep their index), and a list of other values
with a rejected entry is left out. So code after the checks only ever sees values of the declared
types, whatever the file held, and skips entries that have problems.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable

from monitor.spec.yamlload import Document, Path, Problem


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value} (a number)"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"'{shown}' (a string)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class _Rejected:
    """The accepted view of a value that failed its check."""

    def __repr__(self) -> str:
        return "REJECTED"


REJECTED: Any = _Rejected()


class Node:
    """Base of all schema nodes."""

    doc: str = ""
    expected: str = "a value"

    def check(self, value: Any, path: Path, doc: Document, out: list[Problem]) -> Any:
        """Append every problem of value to out; return value as accepted, or REJECTED."""
        raise NotImplementedError

    def json_schema(self) -> dict:
        raise NotImplementedError

    def _with_doc(self, schema: dict) -> dict:
        if self.doc:
            schema["description"] = self.doc
        return schema


@dataclass(frozen=True)
class Str(Node):
    doc: str = ""
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    pattern_hint: str = ""  # what the pattern means, in words
    min_length: int = 1
    max_length: int | None = None
    check_fn: Callable[[str], str | None] | None = field(default=None, compare=False)

    @property
    def expected(self) -> str:
        if self.enum:
            return "one of " + ", ".join(self.enum)
        return self.pattern_hint or "a string"

    def check(self, value, path, doc, out):
        if not isinstance(value, str):
            out.append(doc.problem(path, f"found {_describe(value)}; expected {self.expected}"))
            return REJECTED
        if self.enum and value not in self.enum:
            hint = difflib.get_close_matches(value, self.enum, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            out.append(doc.problem(path, f"found '{value}'; expected one of: {', '.join(self.enum)}{suggestion}"))
            return REJECTED
        if len(value) < self.min_length:
            out.append(doc.problem(path, "is empty; expected " + self.expected))
            return REJECTED
        if self.max_length is not None and len(value) > self.max_length:
            out.append(doc.problem(path, f"is {len(value)} characters long; at most {self.max_length} allowed"))
            return REJECTED
        if self.pattern is not None:
            import re

            if not re.fullmatch(self.pattern, value):
                out.append(doc.problem(path, f"found {_describe(value)}; expected {self.expected}"))
                return REJECTED
        if self.check_fn is not None:
            message = self.check_fn(value)
            if message:
                out.append(doc.problem(path, message))
                return REJECTED
        return value

    def json_schema(self):
        schema: dict = {"type": "string"}
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.pattern:
            schema["pattern"] = f"^(?:{self.pattern})$"
        if self.min_length:
            schema["minLength"] = self.min_length
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        return self._with_doc(schema)


@dataclass(frozen=True)
class Num(Node):
    doc: str = ""
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None

    @property
    def expected(self) -> str:
        kind = "an integer" if self.integer else "a number"
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {self.minimum:g}")
        if self.exclusive_minimum is not None:
            bounds.append(f"> {self.exclusive_minimum:g}")
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum:g}")
        return kind + (" " + " and ".join(bounds) if bounds else "")

    def check(self, value, path, doc, out):
        ok_type = isinstance(value, int) if self.integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            out.append(doc.problem(path, f"found {_describe(value)}; expected {self.expected}"))
            return REJECTED
        if value != value or value in (float("inf"), float("-inf")):
            out.append(doc.problem(path, f"found {value}; expected a finite number (CloudWatch rejects NaN and infinity)"))
            return REJECTED
        if (
            (self.minimum is not None and value < self.minimum)
            or (self.maximum is not None and value > self.maximum)
            or (self.exclusive_minimum is not None and value <= self.exclusive_minimum)
        ):
            out.append(doc.problem(path, f"found {value}; expected {self.expected}"))
            return REJECTED
        return value

    def json_schema(self):
        schema: dict = {"type": "integer" if self.integer else "number"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.exclusive_minimum is not None:
            schema["exclusiveMinimum"] = self.exclusive_minimum
        return self._with_doc(schema)


@dataclass(frozen=True)
class Bool(Node):
    doc: str = ""
    expected: str = "true or false"

    def check(self, value, path, doc, out):
        if not isinstance(value, bool):
            out.append(doc.problem(path, f"found {_describe(value)}; expected true or false"))
            return REJECTED
        return value

    def json_schema(self):
        return self._with_doc({"type": "boolean"})


@dataclass(frozen=True)
class ListOf(Node):
    item: Node = None  # type: ignore[assignment]
    doc: str = ""
    min_items: int = 0
    max_items: int | None = None

    @property
    def expected(self) -> str:
        return f"a list of {self.item.expected}"

    def check(self, value, path, doc, out):
        if not isinstance(value, list):
            out.append(doc.problem(path, f"found {_describe(value)}; expected {self.expected}"))
            return REJECTED
        sized = self.min_items <= len(value) and (self.max_items is None or len(value) <= self.max_items)
        if len(value) < self.min_items:
            out.append(doc.problem(path, f"has {len(value)} entries; at least {self.min_items} required"))
        if self.max_items is not None and len(value) > self.max_items:
            out.append(doc.problem(path, f"has {len(value)} entries; at most {self.max_items} allowed"))
        items = [self.item.check(item, path + (index,), doc, out) for index, item in enumerate(value)]
        if not sized:
            return REJECTED
        if any(item is REJECTED for item in items):
            # Builders name entries by their index in the file, so a rejected entry keeps its place:
            # as an empty mapping in a list of mappings (its problems are reported; builders skip
            # entries with problems), else the whole list is left out.
            if not isinstance(self.item, (Obj, Either)):
                return REJECTED
            items = [{} if item is REJECTED else item for item in items]
        return items

    def json_schema(self):
        schema: dict = {"type": "array", "items": self.item.json_schema()}
        if self.min_items:
            schema["minItems"] = self.min_items
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        return self._with_doc(schema)


@dataclass(frozen=True)
class Field:
    node: Node
    required: bool = False
    nullable: bool = False


@dataclass(frozen=True)
class Obj(Node):
    """A mapping with known keys (fields) and/or free keys checked by `keys` and `values`."""

    fields: dict[str, Field] = field(default_factory=dict)
    doc: str = ""
    title: str = ""  # names a shared definition in the JSON Schema
    keys: Str | None = None  # when set, any key matching it is allowed, with `values` as its schema
    values: Node | None = None
    max_entries: int | None = None
    expected: str = "a mapping"

    def check(self, value, path, doc, out):
        if not isinstance(value, dict):
            out.append(doc.problem(path, f"found {_describe(value)}; expected a mapping with keys {self._key_list()}"))
            return REJECTED
        complete = True
        for name, spec_field in self.fields.items():
            if spec_field.required and name not in value:
                out.append(doc.problem(path, f"missing required field '{name}' ({spec_field.node.expected})"))
                complete = False
        if self.max_entries is not None and len(value) > self.max_entries:
            out.append(doc.problem(path, f"has {len(value)} entries; at most {self.max_entries} allowed"))
            complete = False
        accepted: dict = {}
        for key, item in value.items():
            child = path + (key,)
            spec_field = self.fields.get(key)
            if spec_field is not None:
                if item is None and spec_field.nullable:
                    accepted[key] = None
                    continue
                accepted[key] = spec_field.node.check(item, child, doc, out)
                complete = complete and not (spec_field.required and accepted[key] is REJECTED)
            elif self.keys is not None:
                before = len(out)
                self.keys.check(key, child, doc, out)
                if len(out) > before:
                    last = out.pop()
                    line, column = doc.position(child, key=True)
                    out.append(Problem(last.file, line, column, last.path, "key " + last.message))
                elif self.values is not None:
                    accepted[key] = self.values.check(item, child, doc, out)
                else:
                    accepted[key] = item
            else:
                hint = difflib.get_close_matches(key, list(self.fields), n=1, cutoff=0.6)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                out.append(doc.problem(child, f"unknown key '{key}'{suggestion} (allowed: {self._key_list()})", key=True))
        if not complete:
            return REJECTED  # builders read required fields without a default
        return {k: v for k, v in accepted.items() if v is not REJECTED}

    def _key_list(self) -> str:
        names = ", ".join(self.fields)
        return names or (self.keys.expected if self.keys else "none")

    def json_schema(self):
        schema: dict = {"type": "object", "properties": {k: self._field_schema(f) for k, f in self.fields.items()}}
        required = [k for k, f in self.fields.items() if f.required]
        if required:
            schema["required"] = required
        if self.keys is not None:
            schema["propertyNames"] = self.keys.json_schema() if not self.fields else {}
            if self.fields:
                schema.pop("propertyNames")
                pattern = self.keys.pattern or ".*"
                schema["patternProperties"] = {f"^(?:{pattern})$": self.values.json_schema() if self.values else {}}
                schema["additionalProperties"] = False
            else:
                schema["additionalProperties"] = self.values.json_schema() if self.values else True
        else:
            schema["additionalProperties"] = False
        if self.max_entries is not None:
            schema["maxProperties"] = self.max_entries
        if self.title:
            schema["title"] = self.title
        return self._with_doc(schema)

    @staticmethod
    def _field_schema(spec_field: Field) -> dict:
        schema = spec_field.node.json_schema()
        if spec_field.nullable:
            description = schema.pop("description", None)
            schema = {"anyOf": [schema, {"type": "null"}]}
            if description:
                schema["description"] = description
        return schema


@dataclass(frozen=True)
class Either(Node):
    """A mapping of one of two shapes: `present` when it has the key `discriminator`, else `absent`."""

    discriminator: str = ""
    present: Obj = None  # type: ignore[assignment]
    absent: Obj = None  # type: ignore[assignment]
    doc: str = ""

    @property
    def expected(self) -> str:
        return "a mapping"

    def check(self, value, path, doc, out):
        chosen = self.present if isinstance(value, dict) and self.discriminator in value else self.absent
        return chosen.check(value, path, doc, out)

    def json_schema(self):
        return self._with_doc({"anyOf": [self.present.json_schema(), self.absent.json_schema()]})


def check(root: Node, doc: Document) -> list[Problem]:
    """Every problem of the document against the schema, in file order."""
    return accepted_view(root, doc)[0]


def accepted_view(root: Node, doc: Document, *, empty: Any = None) -> tuple[list[Problem], Any]:
    """Every problem of the document, and the document as the schema accepted it (`empty` if not at all)."""
    out: list[Problem] = []
    view = root.check(doc.data, (), doc, out)
    return out, empty if view is REJECTED else view
