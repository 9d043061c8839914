"""The revision graph at run time: parents (down revisions and ``depends_on``), declared phases,
and "is X at or after P" - the question the contract gate asks of every color."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from expandcontract.migrations.loader import RevisionFile, order_revisions


@dataclass
class RevisionGraph:
    revisions: dict[str, RevisionFile]
    #: Oldest first.
    order: list[str] = field(default_factory=list)
    #: What revisions do, judged from their content at run time (``classify_revisions``):
    #: a revision that contracts is gated as contract whatever it declares.
    content: dict[str, str] = field(default_factory=dict)
    #: Gate a revision whose content could not be read (``unknown``) as contract.
    unclassified_is_contract: bool = True
    #: The changes captured while classifying, by revision.
    captured: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def from_files(cls, files: Iterable[RevisionFile]) -> RevisionGraph:
        ordered = [r for r in order_revisions(list(files)) if r.revision]
        return cls({r.revision: r for r in ordered if r.revision}, [r.revision for r in ordered if r.revision])

    @classmethod
    def from_script_directory(cls, script: Any) -> RevisionGraph:
        """From an Alembic ``ScriptDirectory`` (modules already imported by Alembic)."""
        files = []
        for sc in script.walk_revisions():
            phase = getattr(sc.module, "phase", None)
            files.append(
                RevisionFile(
                    path=Path(sc.path),
                    revision=sc.revision,
                    down_revisions=_tuple(sc.down_revision),
                    depends_on=_tuple(sc.dependencies),
                    branch_labels=tuple(sc.branch_labels or ()),
                    phase_attribute=phase if phase in ("expand", "contract") else None,
                )
            )
        return cls.from_files(files)

    @cached_property
    def _labels(self) -> dict[str, str]:
        return {label: rev for rev, f in self.revisions.items() for label in f.branch_labels}

    def resolve(self, ref: str) -> str | None:
        if ref in self.revisions:
            return ref
        if ref in self._labels:
            return self._labels[ref]
        matches = [rev for rev in self.revisions if rev.startswith(ref)] if len(ref) >= 4 else []
        return matches[0] if len(matches) == 1 else None

    def parents(self, rev: str) -> tuple[str, ...]:
        f = self.revisions[rev]
        out = []
        for ref in (*f.down_revisions, *f.depends_on):
            resolved = self.resolve(ref)
            if resolved:
                out.append(resolved)
        return tuple(out)

    def ancestors_or_self(self, rev: str) -> set[str]:
        seen: set[str] = set()
        stack = [rev]
        while stack:
            current = stack.pop()
            if current in seen or current not in self.revisions:
                continue
            seen.add(current)
            stack.extend(self.parents(current))
        return seen

    def at_or_after(self, rev: str, target: str) -> bool:
        """``rev`` includes ``target``: the schema at ``rev`` has everything ``target`` did."""
        return target in self.ancestors_or_self(rev)

    def needed(self, expects: Iterable[str]) -> set[str]:
        """The revisions whose schema code built for ``expects`` needs: everything up to what it
        expects, less contract revisions (those remove what it no longer uses)."""
        out: set[str] = set()
        for ref in expects:
            resolved = self.resolve(ref)
            if resolved:
                out |= {r for r in self.ancestors_or_self(resolved) if not self.is_contract(r)}
        return out

    def phase(self, rev: str) -> str | None:
        return self.revisions[rev].declared_phase

    def is_contract(self, rev: str) -> bool:
        return self.contract_reason(rev) is not None

    def contract_reason(self, rev: str) -> str | None:
        """Why ``rev`` is gated as a contract revision (None: it is not)."""
        if self.phase(rev) == "contract":
            return "declared contract"
        found = self.content.get(rev)
        if found in ("contract", "mixed"):
            return f"declared {self.phase(rev) or 'nothing'}, but what it does is {found}"
        if found == "unknown" and self.unclassified_is_contract:
            return (
                f"declared {self.phase(rev) or 'nothing'}, and what it does cannot be read offline "
                '(`ec lint` says why; runner.unclassified = "declared" trusts the declaration)'
            )
        return None

    def run_phase(self, rev: str) -> str:
        """The phase a run applies ``rev`` as, for messages and the run record."""
        if self.is_contract(rev):
            return "contract"
        return self.phase(rev) or self.content.get(rev) or "undeclared"

    def classify(self, revisions: Iterable[str], settings: Any, target: Any, sys_path: Iterable[Path] = ()) -> None:
        """Judge ``revisions`` by their content (see :func:`classify_revisions`)."""
        from expandcontract.linter.engine import classify_revisions

        files = [self.revisions[r] for r in revisions if r in self.revisions]
        for f in files:
            if not f.text:
                f.text = f.path.read_text(encoding="utf-8", errors="replace")
        root = files[0].path.parent if files else None
        self.content.update(
            classify_revisions(
                files, settings, sys_path=list(sys_path), target=target, root=root, changes=self.captured
            )
        )
        self.unclassified_is_contract = settings.runner.unclassified == "contract"

    def partners(self, rev: str) -> tuple[str, ...]:
        """The expand revision(s) a contract revision finishes: its ``depends_on`` when given
        (the two-branch layout), else its parents (the linear layout)."""
        f = self.revisions[rev]
        declared = tuple(r for r in (self.resolve(d) for d in f.depends_on) if r)
        return declared or tuple(r for r in (self.resolve(d) for d in f.down_revisions) if r)

    def heads(self) -> list[str]:
        with_children = {p for rev in self.revisions for p in self.parents(rev)}
        return [rev for rev in self.order if rev not in with_children]

    def applied(self, db_heads: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for head in db_heads:
            out |= self.ancestors_or_self(head)
        return out

    def pending(self, db_heads: Iterable[str]) -> list[str]:
        done = self.applied(db_heads)
        return [rev for rev in self.order if rev not in done]

    @property
    def branched(self) -> bool:
        """The two-branch layout: some revision carries an ``expand``/``contract`` label."""
        return any({"expand", "contract"} & set(f.branch_labels) for f in self.revisions.values())


def _tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]
