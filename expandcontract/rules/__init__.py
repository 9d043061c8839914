"""The rule catalog: every ``ecNNN_*`` module in this package defines one :class:`Rule`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from functools import cache
from typing import Any

from expandcontract.errors import UnknownRuleError
from expandcontract.rules.base import Hit, Rule

__all__ = ["Hit", "Rule", "all_rules", "get_rule", "resolve_selectors"]


@cache
def all_rules() -> tuple[Rule, ...]:
    """One instance of every rule, ordered by code."""
    rules: list[Rule] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("ec"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value is not Rule and "code" in vars(value):
                rules.append(value())
    rules.sort(key=lambda r: r.code)
    return tuple(rules)


def get_rule(selector: str) -> Rule:
    """A rule by code (``EC101``) or name (``drop-column``)."""
    wanted = selector.strip()
    for rule in all_rules():
        if rule.code.lower() == wanted.lower() or rule.name == wanted.lower():
            return rule
    raise UnknownRuleError(selector)


def resolve_selectors(selectors: tuple[str, ...] | list[str]) -> set[str]:
    """Codes matched by selectors: ``ALL``, a code, a name, or a code prefix such as ``EC1``."""
    codes: set[str] = set()
    for selector in selectors:
        wanted = selector.strip()
        if not wanted:
            continue
        if wanted.upper() == "ALL":
            codes.update(r.code for r in all_rules())
            continue
        if _verify_check(wanted):
            continue  # an `ec verify` check (EVnnn): ignored by lint, honoured by verify
        matched = {
            r.code
            for r in all_rules()
            if r.code.lower() == wanted.lower() or r.name == wanted.lower() or r.code.startswith(wanted.upper())
        }
        if not matched:
            raise UnknownRuleError(selector)
        codes.update(matched)
    return codes


def _verify_check(selector: str) -> bool:
    from expandcontract.verify.models import CHECKS

    wanted = selector.strip()
    return any(code.lower() == wanted.lower() or check.name == wanted.lower() for code, check in CHECKS.items())


class _RulesModule(types.ModuleType):
    """``expandcontract.rules`` is this package *and* the ``ec rules`` function: Python binds a
    package's attribute to its submodule once it is imported, so a plain function of that name
    would change meaning after the first lint. Calling the package calls the function."""

    def __call__(self, code: str | None = None) -> Any:
        from expandcontract.commands import rules

        return rules(code)


sys.modules[__name__].__class__ = _RulesModule
