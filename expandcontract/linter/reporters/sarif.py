"""``--format sarif``: SARIF 2.1.0 with full rule metadata, for GitHub code scanning.

URIs are relative to ``%SRCROOT%`` so results stay stable across checkouts.
"""

from __future__ import annotations

import hashlib
import json

from expandcontract._version import __version__
from expandcontract.linter.findings import Report
from expandcontract.rules import all_rules

_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif_document(report: Report) -> dict[str, object]:
    rules = all_rules()
    index = {rule.code: i for i, rule in enumerate(rules)}
    descriptors = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary()},
            "fullDescription": {"text": rule.doc()},
            "help": {"text": rule.fix, "markdown": rule.doc()},
            "helpUri": f"https://expandcontract.readthedocs.io/en/latest/rules/{rule.code}-{rule.name}/",
            "defaultConfiguration": {"level": _LEVEL[rule.severity], "enabled": not rule.opt_in},
            "properties": {"category": rule.category, "tags": sorted({rule.category, *rule.dialects})},
        }
        for rule in rules
    ]
    results = []
    for f in report.findings:
        fingerprint = hashlib.sha256(f"{f.code}\0{f.file}\0{f.statement or f.message}".encode()).hexdigest()
        results.append(
            {
                "ruleId": f.code,
                "ruleIndex": index[f.code],
                "level": _LEVEL[f.severity],
                "message": {"text": f"{f.message} Fix: {f.fix}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                            "region": {"startLine": f.line},
                        }
                    }
                ],
                "partialFingerprints": {"expandcontract/v1": fingerprint},
                "properties": {"category": f.category, "revision": f.revision, "dialect": f.dialect},
            }
        )
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "expandcontract",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://github.com/expandcontract/expandcontract",
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": report.root.resolve().as_uri() + "/"}},
                "results": results,
            }
        ],
    }


def render_sarif(report: Report) -> str:
    return json.dumps(sarif_document(report), indent=2) + "\n"
