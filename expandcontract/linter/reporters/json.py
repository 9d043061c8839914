"""``--format json``: a stable document that tools downstream depend on (``version`` 1)."""

from __future__ import annotations

import json

from expandcontract._version import __version__
from expandcontract.linter.findings import Report


def report_document(report: Report) -> dict[str, object]:
    return {
        "version": 1,
        "tool": {"name": "expandcontract", "version": __version__},
        "revisions": [r.to_dict() for r in report.revisions],
        "findings": [f.to_dict() for f in report.findings],
    }


def render_json(report: Report) -> str:
    return json.dumps(report_document(report), indent=2) + "\n"
