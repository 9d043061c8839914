"""expandcontract: safe Alembic migrations for blue-green and canary deployments.

Heavy modules (Alembic, SQLAlchemy, sqlglot) load only when they are needed, so importing
the package and ``ec --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from expandcontract._version import __version__
from expandcontract.errors import ExpandContractError

if TYPE_CHECKING:
    from expandcontract.linter.engine import lint
    from expandcontract.linter.findings import Finding, Report

__all__ = [
    "ExpandContractError",
    "Finding",
    "Report",
    "__version__",
    "backfill",
    "canary",
    "contract",
    "deploy",
    "downgrade",
    "expand",
    "forget",
    "history",
    "init",
    "lint",
    "online_abort",
    "online_alter",
    "online_cutover",
    "online_resolve",
    "online_revert",
    "require_retired",
    "resolve",
    "retire",
    "revision",
    "rollback",
    "rules",
    "status",
    "switch",
    "verify",
]

_LEDGER_COMMANDS = {"init", "deploy", "retire", "history", "status", "resolve", "forget"}
_ONLINE_COMMANDS = {
    "online_alter": "alter",
    "online_cutover": "cutover",
    "online_abort": "online_abort",
    "online_resolve": "online_resolve",
    "online_revert": "online_revert",
}


def __getattr__(name: str) -> Any:
    if name == "lint":
        from expandcontract.linter.engine import lint

        return lint
    if name in ("Finding", "Report"):
        from expandcontract.linter import findings

        return getattr(findings, name)
    if name == "rules":
        # The rules package, callable as the `ec rules` function (see expandcontract.rules).
        import expandcontract.rules as rules_package

        return rules_package
    if name in _LEDGER_COMMANDS:
        from expandcontract.ledger import commands

        return getattr(commands, name)
    if name in ("switch", "canary", "rollback"):
        from expandcontract.traffic import commands as traffic_commands

        return getattr(traffic_commands, name)
    if name in ("expand", "contract", "downgrade"):
        from expandcontract.runner import apply

        return getattr(apply, name)
    if name == "backfill":
        from expandcontract.recipes import backfill

        return backfill
    if name in _ONLINE_COMMANDS:
        from expandcontract.online import api as online_api

        return getattr(online_api, _ONLINE_COMMANDS[name])
    if name == "revision":
        from expandcontract.migrations.scaffold import revision

        return revision
    if name == "verify":
        from expandcontract.verify.models import verify

        return verify
    if name == "require_retired":
        from expandcontract.alembic import require_retired

        return require_retired
    raise AttributeError(f"module 'expandcontract' has no attribute {name!r}")
