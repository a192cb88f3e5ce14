"""Safe YAML loading with positions: duplicate keys, size and alias-bomb limits, ${VAR} values.

PyYAML composes the node graph (with line and column marks; with libyaml's C composer when it is
installed); we build the plain values ourselves
so that every value keeps its position, duplicate keys are caught, and an alias bomb is stopped
after a bounded number of nodes instead of being expanded into memory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

# A spec is a page or two of YAML; anything this large is a mistake or an attack.
MAX_SPEC_BYTES = 1024 * 1024
# Nodes built after alias expansion; a "billion laughs" file hits this within milliseconds.
MAX_NODES = 200_000
MAX_DEPTH = 64

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}|\$\$")

Path = tuple  # of str keys and int indexes

_PLAIN_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_STR_TAG = "tag:yaml.org,2002:str"

# libyaml's composer (C) gives the same nodes and marks as PyYAML's pure-Python one, ~10x faster:
# a 10,000-queue spec spent 86 % of a CLI run composing. Without libyaml, the pure-Python loader.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def format_path(path: Path) -> str:
    """Render ("queues", 1, "dead_letter") as queues[1].dead_letter."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the spec, where it is and what is allowed."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        path, message = _one_line(self.path), _one_line(self.message)  # values quoted from the file may hold newlines
        return f"{where}: {path}: {message}" if path else f"{where}: {message}"


# Control characters (newlines included) shown escaped, so one problem is always one line.
_ESCAPED = {c: f"\\x{c:02x}" for c in range(32)} | {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r", 0x7F: "\\x7f"}


def _one_line(text: str) -> str:
    return text.translate(_ESCAPED)


@dataclass
class Document:
    """Plain YAML values plus the position of every value and key, and unresolved ${VAR}s."""

    file: str
    data: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # path -> variable name, for ${VAR} without a default that is unset
    unset_vars: dict[Path, str] = field(default_factory=dict)
    # problems that do not stop reading (duplicate keys, forbidden tags): reported with the rest
    problems: list[Problem] = field(default_factory=list)

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the value at path, or of its closest ancestor."""
        table = self.key_marks if key else self.marks
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.marks:
                return self.marks[probe]
            probe = probe[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, path: Path, message: str, *, key: bool = False) -> Problem:
        line, column = self.position(path, key=key)
        return Problem(self.file, line, column, format_path(path), message)


class LoadError(Exception):
    """The file could not be read as YAML at all; carries the problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


def interpolate(text: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ${VAR} and ${VAR:-default} (and $$ for a literal $); return the text and unset names."""
    unset: list[str] = []

    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                unset.append(name)
                return ""
            return default
        return value

    return _ENV_REF.sub(sub, text), unset


class _Builder:
    def __init__(self, doc: Document, loader: yaml.SafeLoader | yaml.CSafeLoader, environ: Mapping[str, str]):
        self.doc = doc
        self.loader = loader
        self.environ = environ
        self.count = 0
        self.problems: list[Problem] = []

    def _mark(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: yaml.Node, path: Path, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise LoadError(
                [
                    Problem(
                        self.doc.file,
                        *self._mark(node),
                        "",
                        f"the document expands to more than {MAX_NODES:,} values (an alias bomb?); refused",
                    )
                ]
            )
        if depth > MAX_DEPTH:
            raise LoadError([Problem(self.doc.file, *self._mark(node), "", f"nesting deeper than {MAX_DEPTH} levels; refused")])
        self.doc.marks.setdefault(path, self._mark(node))
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_COLLECTION_TAGS:
            self.problems.append(Problem(self.doc.file, *self._mark(node), format_path(path), f"tag {node.tag!r} is not allowed"))
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict:
        self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<: *defaults)
        result: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(
                    Problem(self.doc.file, *self._mark(key_node), "", "a key must be a plain string, not a list or mapping")
                )
                continue
            key = self._scalar(key_node, path, interpolate_env=False)
            if not isinstance(key, str):
                key = str(key)
            child = path + (key,)
            if key in result:
                first = self.doc.key_marks.get(child, (0, 0))[0]
                self.problems.append(
                    Problem(
                        self.doc.file,
                        *self._mark(key_node),
                        format_path(child),
                        f"duplicate key '{key}' (first defined on line {first}); each key may appear once",
                    )
                )
                continue
            self.doc.key_marks[child] = self._mark(key_node)
            result[key] = self.build(value_node, child, depth + 1)
        return result

    def _scalar(self, node: yaml.ScalarNode, path: Path, *, interpolate_env: bool = True) -> Any:
        try:
            # Most scalars are strings, which are their text: skip the constructor's bookkeeping.
            value = node.value if node.tag == _STR_TAG else self.loader.construct_object(node, deep=False)
        except yaml.constructor.ConstructorError as exc:
            self.problems.append(
                Problem(self.doc.file, *self._mark(node), format_path(path), f"tag {node.tag!r} is not allowed: {exc.problem}")
            )
            return None
        if interpolate_env and isinstance(value, str) and "$" in value:
            text, unset = interpolate(value, self.environ)
            if unset:
                self.doc.unset_vars[path] = unset[0]
            if not node.style:  # a plain scalar: None from PyYAML's composer, "" from libyaml's
                # An unquoted ${PORT:-6379} should become the number 6379, as if written literally.
                tag = self.loader.resolve(yaml.ScalarNode, text, (True, False))
                value = self.loader.construct_object(yaml.ScalarNode(tag, text), deep=False) if text else None
            else:
                value = text
        return value


def _unreadable(path: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """A character YAML does not allow (NUL, other control characters), at its line and column."""
    # libyaml counts the position in bytes of the UTF-8 text; PyYAML's own reader in characters.
    before = text.encode("utf-8")[: exc.position].decode("utf-8", "ignore") if _Loader is not yaml.SafeLoader else text[: exc.position]
    line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
    character = exc.character if isinstance(exc.character, str) else chr(exc.character)
    return Problem(path, line, column, "", f"not valid YAML: character U+{ord(character):04X} is not allowed in YAML text; remove it")


def load_document(path: str, environ: Mapping[str, str] | None = None, *, text: str | None = None) -> Document:
    """Read a YAML file into a Document; raise LoadError if it is not usable YAML."""
    environ = os.environ if environ is None else environ
    if text is None:
        try:
            size = os.path.getsize(path)
            if size > MAX_SPEC_BYTES:
                raise LoadError([Problem(path, 0, 0, "", f"file is {size:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,}")])
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            raise LoadError([Problem(path, 0, 0, "", f"cannot read the spec: {exc.strerror or exc}")]) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start]
            line, column = before.count(b"\n") + 1, len(before) - (before.rfind(b"\n") + 1) + 1
            raise LoadError([Problem(path, line, column, "", f"the spec is not UTF-8 text (byte 0x{raw[exc.start]:02X})")]) from None
    elif len(text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise LoadError([Problem(path, 0, 0, "", f"the spec is larger than {MAX_SPEC_BYTES:,} bytes")])
    doc = Document(file=path, data=None)
    try:
        loader = _Loader(text)  # its reader refuses control characters (NUL...) right here
    except yaml.reader.ReaderError as exc:
        raise LoadError([_unreadable(path, text, exc)]) from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise LoadError([Problem(path, 1, 1, "", "the spec is empty")])
        builder = _Builder(doc, loader, environ)
        doc.data = builder.build(root, ())
    except yaml.reader.ReaderError as exc:
        raise LoadError([_unreadable(path, text, exc)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise LoadError([Problem(path, line, column, "", f"not valid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise LoadError([Problem(path, 0, 0, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    doc.problems.extend(builder.problems)
    return doc
