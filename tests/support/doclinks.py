"""Relative links in markdown files, checked the way GitHub resolves them: the file exists, the #anchor is a heading.

Anchors follow GitHub's heading slugs: the heading's text (inline code and link markup removed),
lower-cased, punctuation other than '-' and '_' dropped, each space turned into '-'; a repeated
heading gets -1, -2, ... in order.
"""

from __future__ import annotations

import re
from pathlib import Path

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], None
    for number, line in enumerate(text.splitlines(), 1):
        fence = _FENCE.match(line)
        if fence and (fenced is None or fence.group(1) == fenced):
            fenced = fence.group(1) if fenced is None else None
            continue
        if fenced is None:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for one heading's text (before duplicates are numbered)."""
    text = _INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a markdown text's headings make, duplicates numbered as GitHub does."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(text):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every inline link, image and link definition outside code."""
    found = []
    for number, line in prose_lines(text):
        line = _INLINE_CODE.sub("", line)
        definition = _DEFINITION.match(line)
        if definition:
            found.append((number, definition.group(1)))
            continue
        found.extend((number, m.group(1)) for m in _LINK.finditer(line))
    return found


def broken_links(path: Path, root: Path) -> list[str]:
    """'file:line: target: why' for every relative link in `path` that does not resolve."""
    problems = []
    where = path.relative_to(root)
    for number, target in links(path.read_text()):
        if not target or _SCHEME.match(target) or target.startswith("//"):
            continue  # absolute URLs (http, mailto, ...) are not checked here
        file_part, _, anchor = target.partition("#")
        if file_part.startswith("/"):
            problems.append(f"{where}:{number}: {target}: a path from the site root; write it relative to {where.parent or '.'}")
            continue
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{where}:{number}: {target}: no file {file_part}")
            continue
        if not anchor:
            continue
        if resolved.suffix.lower() != ".md":
            problems.append(f"{where}:{number}: {target}: an anchor into {file_part}, which is not markdown")
        elif anchor not in anchors(resolved.read_text()):
            problems.append(f"{where}:{number}: {target}: no heading with anchor #{anchor} in {resolved.relative_to(root)}")
    return problems
