"""Split SQL text into statements with their line numbers, using sqlglot's tokenizer.

Splitting is done on tokens rather than by ``sqlglot.parse`` of the whole text: one statement
that fails to parse must not hide the others. The tokens are kept so each statement is parsed
from them without tokenizing twice.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


@dataclass(frozen=True)
class Statement:
    text: str
    #: 1-based line of the statement's first token within the text it was split from.
    line: int
    #: (line, text) of each comment in the statement or right before it.
    comments: tuple[tuple[int, str], ...]
    end_line: int = 0
    #: The statement's sqlglot tokens (offsets into the whole text); empty when untokenizable.
    tokens: list[Any] = field(default_factory=list, compare=False, repr=False)


class _Lines:
    """Offset -> line number in O(log n): counting newlines per statement would be quadratic."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> int:
        return bisect_right(self.starts, offset)


#: Above this size a script is split by :func:`scan_statements` (sqlglot's tokenizer is pure
#: Python: a 5 MB INSERT took seconds and a gigabyte).
LARGE_SCRIPT = 1_000_000


def split_statements(sql: str, sqlglot_dialect: str) -> list[Statement]:
    """Split ``sql`` on top-level semicolons; comments travel with the statement after them."""
    from sqlglot import TokenType
    from sqlglot.dialects.dialect import Dialect

    lines = _Lines(sql)
    if sqlglot_dialect == "mysql" and _DELIMITER.search(sql):
        return delimiter_statements(sql, sqlglot_dialect, lines)
    if len(sql) > LARGE_SCRIPT:
        return scan_statements(sql, sqlglot_dialect, lines)
    try:
        tokens = Dialect.get_or_raise(sqlglot_dialect).tokenize(sql)
    except Exception:  # noqa: BLE001 - e.g. an unterminated literal: split without sqlglot
        return scan_statements(sql, sqlglot_dialect, lines)

    statements: list[Statement] = []
    chunk_start = 0
    first = 0
    depth = 0  # BEGIN ... END nesting inside a MySQL trigger/procedure/function/event body
    for index, token in enumerate(tokens):
        if sqlglot_dialect == "mysql" and _compound(tokens, first):
            depth += _depth_change(tokens, index)
        if token.token_type == TokenType.SEMICOLON and depth <= 0:
            _append(statements, sql, lines, chunk_start, token.start, tokens[first:index])
            chunk_start = token.end + 1
            first = index + 1
            depth = 0
    _append(statements, sql, lines, chunk_start, len(sql), tokens[first:])
    return statements


_ROUTINES = {"TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"}


def _compound(tokens: list[Any], first: int) -> bool:
    """The statement starting at ``first`` may hold a BEGIN ... END body with semicolons in it:
    ``CREATE [DEFINER = ...] TRIGGER|PROCEDURE|FUNCTION|EVENT`` or MariaDB's ``BEGIN NOT ATOMIC``."""
    head = [t.text.upper() for t in tokens[first : first + 8]]
    if head[:3] == ["BEGIN", "NOT", "ATOMIC"]:
        return True
    return bool(head) and head[0] == "CREATE" and any(word in _ROUTINES for word in head[1:])


def _depth_change(tokens: list[Any], index: int) -> int:
    word = tokens[index].text.upper()
    if word in ("BEGIN", "CASE"):
        return 1
    if word == "END":
        after = tokens[index + 1].text.upper() if index + 1 < len(tokens) else ""
        # END IF / END LOOP / END WHILE / END REPEAT close blocks their own keyword opened
        # (not counted); a bare END closes BEGIN or a CASE expression, END CASE a CASE statement.
        return 0 if after in ("IF", "LOOP", "WHILE", "REPEAT") else -1
    return 0


_DELIMITER = re.compile(r"^[ \t]*DELIMITER[ \t]+(\S+)[ \t]*$", re.M | re.I)


def delimiter_statements(sql: str, sqlglot_dialect: str, lines: _Lines | None = None) -> list[Statement]:
    """A MySQL client script with ``DELIMITER`` lines (dumps of triggers and procedures): each
    region is split on its own delimiter; the ``DELIMITER`` lines themselves are not SQL."""
    lines = lines or _Lines(sql)
    out: list[Statement] = []
    delimiter = ";"
    position = 0
    for m in [*_DELIMITER.finditer(sql), None]:
        end = m.start() if m else len(sql)
        region = sql[position:end]
        if delimiter == ";":
            for stmt in scan_statements(region, sqlglot_dialect):
                out.append(_shift(stmt, lines.at(position) - 1))
        else:
            start = position
            for piece in region.split(delimiter):
                _append_text(out, sql, lines, start, start + len(piece))
                start += len(piece) + len(delimiter)
        if m:
            delimiter = m.group(1)
            position = m.end()
    return out


def _shift(stmt: Statement, offset: int) -> Statement:
    comments = tuple((line + offset, text) for line, text in stmt.comments)
    return Statement(stmt.text, stmt.line + offset, comments, stmt.end_line + offset)


def _scanner(sqlglot_dialect: str) -> re.Pattern[str]:
    mysql = sqlglot_dialect == "mysql"
    single = r"'(?:[^'\\]|\\.|'')*(?:'|\Z)" if mysql else r"'(?:[^']|'')*(?:'|\Z)"
    parts = [
        single,
        r'"(?:[^"]|"")*(?:"|\Z)',
        r"`(?:[^`]|``)*(?:`|\Z)" if mysql else None,
        r"--[^\n]*",
        r"\#[^\n]*" if mysql else None,
        r"/\*.*?(?:\*/|\Z)",
        None if mysql else r"\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?(?:\$(?P=tag)\$|\Z)",
        r"(?P<semi>;)",
    ]
    return re.compile("|".join(p for p in parts if p), re.S)


def scan_statements(sql: str, sqlglot_dialect: str, lines: _Lines | None = None) -> list[Statement]:
    """Split without sqlglot's tokenizer: quotes, comments and dollar quotes are skipped by
    regular expressions, so a statement with an unterminated literal only swallows the text
    after it (the statements before it keep their verdicts), and huge scripts split fast.
    The statements carry no tokens; each is parsed on its own."""
    lines = lines or _Lines(sql)
    out: list[Statement] = []
    start = 0
    for m in _scanner(sqlglot_dialect).finditer(sql):
        if m.group("semi"):
            _append_text(out, sql, lines, start, m.start())
            start = m.end()
    _append_text(out, sql, lines, start, len(sql))
    return out


def _append_text(out: list[Statement], sql: str, lines: _Lines, start: int, end: int) -> None:
    chunk = sql[start:end]
    code = _COMMENT.sub(lambda m: " " * len(m.group(0)), chunk)
    stripped = code.strip()
    comments = _comments(sql, lines, start, end)
    if not stripped:
        if comments:
            out.append(Statement("", comments[0][0], comments, comments[-1][0]))
        return
    first = start + (len(code) - len(code.lstrip()))
    last = start + len(code.rstrip())
    out.append(Statement(sql[first:last], lines.at(first), comments, lines.at(max(first, last - 1))))


def _comments(sql: str, lines: _Lines, start: int, end: int | None = None) -> tuple[tuple[int, str], ...]:
    return tuple((lines.at(m.start()), m.group(0)) for m in _COMMENT.finditer(sql, start, end or len(sql)))


def _append(out: list[Statement], sql: str, lines: _Lines, start: int, end: int, tokens: list[Any]) -> None:
    comments = _comments(sql, lines, start, end)
    if out and out[-1].text and start > 0:
        # `stmt; -- note` : a comment on the line of the previous semicolon belongs to that statement.
        semicolon_line = lines.at(start - 1)
        trailing = tuple(cm for cm in comments if cm[0] == semicolon_line)
        if trailing:
            prev = out[-1]
            out[-1] = Statement(prev.text, prev.line, prev.comments + trailing, prev.end_line, prev.tokens)
            comments = tuple(cm for cm in comments if cm[0] != semicolon_line)
    if not tokens:
        # Only comments: they can still carry a file-level suppression or a phase declaration.
        if comments:
            out.append(Statement("", comments[0][0], comments, comments[-1][0]))
        return
    code = sql[tokens[0].start : end].strip()
    line = tokens[0].line
    out.append(Statement(code, line, comments, max(tokens[-1].line, line), tokens))
