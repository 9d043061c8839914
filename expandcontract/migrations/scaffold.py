"""``ec revision --expand|--contract``: a new revision in the right place, its phase declared.

Linear layout: on top of the single head. Two-branch layout: on the ``expand`` or ``contract``
branch; a contract revision ``depends_on`` the current expand head, the expand step it finishes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from expandcontract.errors import ConfigError
from expandcontract.migrations.project import load_project

_PHASE_LINE = re.compile(r"^phase\s*(?::[^=\n]+)?=.*$", re.M)


def revision(message: str, *, phase: str, project: str | Path | None = None, rev_id: str | None = None) -> Path:
    """Create a revision declared ``phase``; returns its path."""
    from alembic import command

    if phase not in ("expand", "contract"):
        raise ConfigError(f"phase must be expand or contract, not {phase!r}")
    if not message.strip():
        raise ConfigError("a revision needs a message (-m)")
    loaded = load_project(Path(project) if project else None)
    graph = loaded.graph
    kwargs: dict[str, Any] = {"message": message, "rev_id": rev_id}
    if graph.branched:
        labels = {label for f in graph.revisions.values() for label in f.branch_labels}
        expand_heads = _branch_heads(graph, "expand")
        if phase in labels:
            kwargs["head"] = f"{phase}@head"
        else:
            # The first revision of this branch starts from where the other branch began.
            other_root = _branch_root(graph, "expand" if phase == "contract" else "contract")
            base = graph.revisions[other_root].down_revisions if other_root else ()
            kwargs.update(head=base[0] if base else "base", branch_label=phase, splice=True)
        if phase == "contract" and expand_heads:
            kwargs["depends_on"] = expand_heads
    else:
        heads = graph.heads()
        if len(heads) > 1:
            raise ConfigError(f"the history has {len(heads)} heads ({', '.join(heads)}); merge them first")
        kwargs["head"] = "head"
    script = command.revision(loaded.config, **kwargs)
    scripts = [s for s in (script if isinstance(script, list) else [script]) if s is not None]
    if not scripts:
        raise ConfigError("Alembic created no revision (a process_revision_directives hook cancelled it?)")
    path = Path(scripts[0].path)
    _declare_phase(path, phase)
    return path


def _branch_heads(graph: Any, label: str) -> list[str]:
    return [rev for rev in graph.heads() if graph.phase(rev) == label]


def _branch_root(graph: Any, label: str) -> str | None:
    return next((rev for rev in graph.order if label in graph.revisions[rev].branch_labels), None)


def _declare_phase(path: Path, phase: str) -> None:
    text = path.read_text(encoding="utf-8")
    line = f'phase = "{phase}"'
    if _PHASE_LINE.search(text):
        text = _PHASE_LINE.sub(line, text, count=1)
    else:
        anchor = re.search(r"^depends_on\s*(?::[^=\n]+)?=.*$", text, re.M) or re.search(
            r"^revision\s*(?::[^=\n]+)?=.*$", text, re.M
        )
        comment = "# expandcontract: 'expand' runs while the old color is live; 'contract' waits for its retirement."
        insert = f"{comment}\n{line}\n"
        if anchor is None:
            text = insert + text
        else:
            text = text[: anchor.end()] + "\n" + insert.rstrip("\n") + text[anchor.end() :]
    path.write_text(text, encoding="utf-8")
