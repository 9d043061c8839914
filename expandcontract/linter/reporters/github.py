"""``--format github``: GitHub Actions workflow commands, one annotation per finding.

GitHub shows only 10 annotations of each level per step, so a summary line follows, and a
Markdown table goes to ``$GITHUB_STEP_SUMMARY`` when the variable is set.
"""

from __future__ import annotations

import os

from expandcontract.linter.findings import Report

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report) -> str:
    lines = []
    for f in report.findings:
        title = _escape_property(f"{f.code} {f.name}")
        message = _escape_data(f"{f.message}\nFix: {f.fix}")
        lines.append(f"::{_LEVEL[f.severity]} file={_escape_property(f.file)},line={f.line},title={title}::{message}")
    counts = report.counts()
    lines.append(
        f"expandcontract: {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info "
        f"in {len(report.revisions)} unit(s)"
    )
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        _write_summary(report, summary_path)
    return "\n".join(lines) + "\n"


def _write_summary(report: Report, path: str) -> None:
    rows = ["## expandcontract lint", "", "| severity | rule | location | message |", "|---|---|---|---|"]
    for f in report.findings:
        message = f.message.replace("|", "\\|")
        rows.append(f"| {f.severity} | {f.code} {f.name} | `{f.file}:{f.line}` | {message} |")
    if not report.findings:
        rows.append("| | | | no findings |")
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(rows) + "\n")
    except OSError:
        pass
