"""Split SQL text into statements with their line numbers, using sqlglot's tokenizer.

Splitting is done on tokens rather than by ``sqlglot.parse`` of the whole text: one statement
that fails to parse must not hide the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


@dataclass(frozen=True)
class Statement:
    text: str
    #: 1-based line of the statement's first token within the text it was split from.
    line: int
    #: (line, text) of each comment in the statement or right before it.
    comments: tuple[tuple[int, str], ...]
    end_line: int = 0


def split_statements(sql: str, sqlglot_dialect: str) -> list[Statement]:
    """Split ``sql`` on top-level semicolons; comments travel with the statement after them."""
    from sqlglot import TokenType
    from sqlglot.dialects.dialect import Dialect

    try:
        tokens = Dialect.get_or_raise(sqlglot_dialect).tokenize(sql)
    except Exception:  # noqa: BLE001 - an untokenizable text is still one (unverifiable) statement
        text = sql.strip()
        if not text:
            return []
        return [Statement(text, _first_code_line(sql), _comments(sql, 0), sql.rstrip().count("\n") + 1)]

    statements: list[Statement] = []
    chunk_start = 0
    first_token_line: int | None = None
    code_start = 0
    last_token_line = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            _append(statements, sql, chunk_start, code_start, token.start, first_token_line, last_token_line)
            chunk_start = token.end + 1
            first_token_line = None
        else:
            if first_token_line is None:
                first_token_line, code_start = token.line, token.start
            last_token_line = token.line
    _append(statements, sql, chunk_start, code_start, len(sql), first_token_line, last_token_line)
    return statements


def _comments(sql: str, start: int, end: int | None = None) -> tuple[tuple[int, str], ...]:
    chunk = sql[start:end]
    base = sql.count("\n", 0, start) + 1
    return tuple((base + chunk.count("\n", 0, m.start()), m.group(0)) for m in _COMMENT.finditer(chunk))


def _append(out: list[Statement], sql: str, start: int, code_start: int, end: int, line: int | None, last: int) -> None:
    comments = _comments(sql, start, end)
    if out and out[-1].text and start > 0:
        # `stmt; -- note` : a comment on the line of the previous semicolon belongs to that statement.
        semicolon_line = sql.count("\n", 0, start) + 1
        trailing = tuple(cm for cm in comments if cm[0] == semicolon_line)
        if trailing:
            prev = out[-1]
            out[-1] = Statement(prev.text, prev.line, prev.comments + trailing, prev.end_line)
            comments = tuple(cm for cm in comments if cm[0] != semicolon_line)
    code = sql[max(start, code_start) : end].strip()
    if line is None:
        # Only comments: they can still carry a file-level suppression or a phase declaration.
        if comments:
            out.append(Statement("", comments[0][0], comments, comments[-1][0]))
        return
    out.append(Statement(code, line, comments, max(last, line)))


def _first_code_line(sql: str) -> int:
    stripped = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), sql)
    for number, line in enumerate(stripped.splitlines(), start=1):
        if line.strip():
            return number
    return 1
