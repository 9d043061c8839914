"""Report renderers: ``text`` (grouped by file), ``json``, ``github`` annotations and ``sarif``."""

from __future__ import annotations

from collections.abc import Callable

from expandcontract.linter.findings import Report

FORMATS = ("text", "json", "github", "sarif")


def render(report: Report, fmt: str, *, color: bool = False, verbose: bool = False) -> str:
    renderer: dict[str, Callable[[Report], str]] = {}
    if fmt == "text":
        from expandcontract.linter.reporters.text import render_text

        return render_text(report, color=color, verbose=verbose)
    if fmt == "json":
        from expandcontract.linter.reporters.json import render_json

        renderer[fmt] = render_json
    elif fmt == "github":
        from expandcontract.linter.reporters.github import render_github

        renderer[fmt] = render_github
    elif fmt == "sarif":
        from expandcontract.linter.reporters.sarif import render_sarif

        renderer[fmt] = render_sarif
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return renderer[fmt](report)
