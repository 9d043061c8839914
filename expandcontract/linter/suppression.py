"""Inline suppressions: ``# ec: ignore[EC101] reason`` in Python, ``-- ec: ignore[EC101] reason`` in SQL.

A comment alone on its line covers the next line; a trailing comment covers its own line; a
comment inside (or right before) a SQL statement covers that statement; ``ignore-file[...]``
covers the whole file. Codes and kebab names are both accepted.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

from expandcontract.sql import changes as c

_PATTERN = re.compile(
    r"(?:#|--|/\*)\s*ec:\s*(?P<kind>ignore-file|ignore)\s*(?:\[(?P<codes>[^\]]*)\])?\s*(?P<reason>[^\n]*?)\s*(?:\*/)?\s*$",
    re.I,
)
_PHASE = re.compile(r"--\s*ec:\s*phase\s*=\s*['\"]?(?P<phase>\w+)", re.I)


@dataclass
class Suppression:
    line: int
    #: Rule codes or names as written; empty means every rule.
    selectors: tuple[str, ...]
    reason: str
    file_level: bool
    first: int
    last: int
    used: set[str] = field(default_factory=set)

    def covers(self, line: int, end_line: int | None = None) -> bool:
        if self.file_level:
            return True
        end = end_line if end_line and end_line >= line else line
        return self.first <= end and line <= self.last


def _parse(comment: str, line: int, covers_next: bool) -> Suppression | None:
    match = _PATTERN.search(comment)
    if not match:
        return None
    codes = tuple(s.strip() for s in (match["codes"] or "").split(",") if s.strip())
    file_level = match["kind"].lower() == "ignore-file"
    return Suppression(line, codes, match["reason"].strip(), file_level, line, line + 1 if covers_next else line)


def python_suppressions(source: str) -> list[Suppression]:
    """Suppressions in a revision file's comments (never inside strings)."""
    out: list[Suppression] = []
    if "ec:" not in source:
        return out
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return out
    last_code_line = 0
    for token in tokens:
        if token.type == tokenize.COMMENT:
            alone = last_code_line != token.start[0]
            found = _parse(token.string, token.start[0], covers_next=alone)
            if found:
                out.append(found)
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            last_code_line = token.end[0]
    return out


def sql_suppressions(changes: list[c.Change]) -> list[Suppression]:
    """Suppressions in SQL comments; each covers the statement it is in or precedes."""
    out: dict[tuple[int, str], Suppression] = {}
    for change in changes:
        for line, text in change.comments:
            key = (line, text)
            found = out.get(key)
            if found is None:
                found = _parse(text, line, covers_next=False)
                if found is None:
                    continue
                out[key] = found
            found.first = min(found.first, change.line)
            found.last = max(found.last, change.end_line or change.line)
    return list(out.values())


def sql_declared_phase(text: str) -> str | None:
    """``-- ec: phase=contract`` in a .sql file."""
    match = _PHASE.search(text)
    return match["phase"].lower() if match else None
