"""``--format text``: findings grouped by file, with the statement, the reason and the fix."""

from __future__ import annotations

from itertools import groupby

import click

from expandcontract.linter.findings import Report

_SEVERITY_COLOR = {"error": "red", "warning": "yellow", "info": "cyan"}


def render_text(report: Report, *, color: bool = False, verbose: bool = False) -> str:
    def style(text: str, **kw: object) -> str:
        return click.style(text, **kw) if color else text  # type: ignore[arg-type]

    out: list[str] = []
    phases = {r.file: r for r in report.revisions}
    for file, group in groupby(report.findings, key=lambda f: f.file):
        findings = list(group)
        summary = phases.get(file)
        header = style(file, bold=True)
        if summary is not None:
            label = summary.revision or "sql"
            declared = f"declared {summary.declared_phase}" if summary.declared_phase else "undeclared"
            header += f"  ({label}: {summary.phase}, {declared})"
        out.append(header)
        for f in findings:
            sev = style(f.severity, fg=_SEVERITY_COLOR[f.severity], bold=True)
            out.append(f"  {f.line:>4}  {sev} {style(f.code, bold=True)} {f.name}: {f.message}")
            if f.statement:
                lines = f.statement.strip().splitlines()
                shown = lines[:3] + (["..."] if len(lines) > 3 else [])
                for line in shown:
                    out.append(style(f"        | {line}", dim=True))
            out.append(f"        fix: {f.fix}")
        out.append("")
    if report.revisions:
        out.append(style("Phases:", bold=True))
        for r in report.revisions:
            label = (r.revision or "-")[:12]
            how = "  (read statically)" if r.capture == "static" else ""
            out.append(f"  {r.phase:<8} {label:<12} {r.file}{how}")
        out.append("")
        # One line per distinct reason, not one per revision (a missing app is one cause).
        reasons: dict[tuple[str, str], list[str]] = {}
        for r in report.revisions:
            if r.reason is not None and r.capture in ("static", "failed"):
                reasons.setdefault((r.capture, r.reason["detail"]), []).append(r.revision or r.file)
        if reasons:
            out.append(style("Not run as written:", bold=True))
            for (capture, detail), revisions in reasons.items():
                what = "read statically" if capture == "static" else "not captured"
                names = ", ".join(revisions[:5]) + (f" and {len(revisions) - 5} more" if len(revisions) > 5 else "")
                hint = " - install the app or pass --sys-path" if "No module named" in detail else ""
                out.append(f"  {len(revisions)} revision(s) {what}: {detail}{hint} ({names})")
            out.append("")
        printed = [r for r in report.revisions if r.output.strip()]
        if verbose and printed:
            out.append(style("Printed while ec ran them:", bold=True))
            for r in printed:
                out.append(f"  {r.revision or r.file}:")
                out += [f"    {line}" for line in r.output.rstrip().splitlines()]
            out.append("")
        elif printed:
            out.append(f"{len(printed)} revision(s) printed output while ec ran them (ec lint -v shows it).")
            out.append("")
        per_phase: dict[str, int] = {}
        for r in report.revisions:
            per_phase[r.phase] = per_phase.get(r.phase, 0) + 1
        rules: dict[str, int] = {}
        for f in report.findings:
            rules[f"{f.code} {f.name}"] = rules.get(f"{f.code} {f.name}", 0) + 1
        out.append("By phase: " + ", ".join(f"{count} {phase}" for phase, count in sorted(per_phase.items())))
        if rules:
            out.append("By rule:  " + ", ".join(f"{name} x{count}" for name, count in sorted(rules.items())))
        out.append("")
    counts = report.counts()
    verdict = "failed" if report.exit_code else "passed"
    out.append(
        f"{len(report.revisions)} unit(s) on {report.dialect}: {counts['error']} error(s), "
        f"{counts['warning']} warning(s), {counts['info']} info - {style(verdict, bold=True)}"
    )
    return "\n".join(out) + "\n"
