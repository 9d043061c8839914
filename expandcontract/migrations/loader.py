"""Find what to lint: Alembic projects, bare versions directories and .sql files.

Revision metadata (ids, parents, branch labels, declared phase) is read from each file's
syntax tree, without importing it: a revision that fails to import is reported as such and
cannot hide the rest of the history. Reading the configuration ourselves also keeps a cached
``ec lint`` from importing Alembic and SQLAlchemy at all.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from expandcontract.errors import ProjectNotFoundError, RevisionGraphError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Phase = Literal["expand", "contract"]
PHASES: tuple[Phase, ...] = ("expand", "contract")


@dataclass
class RevisionFile:
    path: Path
    revision: str | None
    down_revisions: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    branch_labels: tuple[str, ...] = ()
    #: ``phase = "expand" | "contract"`` in the module.
    phase_attribute: Phase | None = None
    #: Line of the ``phase =`` assignment, for findings about it.
    phase_line: int | None = None
    #: Phase inherited from an ``expand``/``contract`` branch label (own or an ancestor's).
    branch_phase: Phase | None = None
    message: str | None = None
    #: The file's text, read once for metadata, suppressions and the cache key.
    text: str = field(default="", repr=False, compare=False)

    @property
    def declared_phase(self) -> Phase | None:
        return self.phase_attribute or self.branch_phase


@dataclass
class SqlFile:
    path: Path


@dataclass
class Source:
    """One linting input: an Alembic history (ordered) and/or SQL files."""

    root: Path
    kind: Literal["alembic", "versions", "sql", "revision"]
    revisions: list[RevisionFile] = field(default_factory=list)
    sql_files: list[SqlFile] = field(default_factory=list)
    sys_path: list[Path] = field(default_factory=list)
    #: When set, only these files are reported (a single revision file was named).
    only: set[Path] | None = None
    #: alembic.ini or pyproject.toml the project was read from (None for bare directories).
    config_file: Path | None = None
    script_location: Path | None = None
    version_locations: list[Path] = field(default_factory=list)


def discover(path: Path) -> Source:
    """Decide what ``path`` is and load it."""
    path = path.resolve()
    if not path.exists():
        raise ProjectNotFoundError(path, "no such file or directory")
    if path.is_file():
        if path.suffix == ".sql":
            return Source(path.parent, "sql", sql_files=[SqlFile(path)])
        if path.name == "pyproject.toml":
            return _from_pyproject(path)
        if path.suffix == ".ini":
            return _from_ini(path)
        if path.suffix == ".py":
            source = _from_versions([path.parent], path.parent, kind="revision")
            source.only = {path}
            return source
        raise ProjectNotFoundError(path, "expected an alembic.ini, a pyproject.toml, a revision .py or a .sql file")
    if (path / "alembic.ini").is_file():
        return _from_ini(path / "alembic.ini")
    pyproject = path / "pyproject.toml"
    if pyproject.is_file() and _alembic_table(pyproject) is not None:
        return _from_pyproject(pyproject)
    if _revision_files([path]):
        return _from_versions([path], path, kind="versions")
    if (path / "versions").is_dir() and _revision_files([path / "versions"]):
        return _from_versions([path / "versions"], path, kind="versions")
    sql_files = sorted(p for p in path.rglob("*.sql") if ".venv" not in p.parts)
    if sql_files:
        return Source(path, "sql", sql_files=[SqlFile(p) for p in sql_files])
    raise ProjectNotFoundError(
        path, "no alembic.ini, no [tool.alembic] in pyproject.toml, no revision files and no .sql files here"
    )


# --- configuration -------------------------------------------------------------------------------


def _alembic_table(pyproject: Path) -> dict[str, object] | None:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ProjectNotFoundError(pyproject, f"cannot read: {error}") from None
    table = data.get("tool", {}).get("alembic")
    return table if isinstance(table, dict) else None


def _from_ini(ini: Path) -> Source:
    parser = configparser.ConfigParser(defaults={"here": str(ini.parent)})
    try:
        parser.read(ini, encoding="utf-8")
    except configparser.Error as error:
        raise ProjectNotFoundError(ini, f"cannot read: {error}") from None
    except UnicodeDecodeError as error:
        raise ProjectNotFoundError(ini, f"is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    section = "alembic" if parser.has_section("alembic") else None
    if section is None:
        raise ProjectNotFoundError(ini, "has no [alembic] section")
    options = dict(parser.items(section))
    # alembic >= 1.16 lets the .ini keep only the URL and logging; sources move to pyproject.
    pyproject = ini.parent / "pyproject.toml"
    toml = _alembic_table(pyproject) if pyproject.is_file() else None
    if toml and "script_location" not in options:
        return _from_pyproject(pyproject)
    if "script_location" not in options:
        raise ProjectNotFoundError(ini, "has no script_location")
    separator = options.get("path_separator") or options.get("version_path_separator")
    script = _resolve_location(options["script_location"], ini.parent)
    versions = _split_paths(options.get("version_locations"), separator)
    sys_path = _split_paths(options.get("prepend_sys_path"), separator)
    source = _from_script_dir(
        script, [ini.parent / v for v in versions], [ini.parent / p for p in sys_path], ini.parent
    )
    source.config_file = ini
    return source


def _from_pyproject(pyproject: Path) -> Source:
    table = _alembic_table(pyproject)
    if not table or "script_location" not in table:
        raise ProjectNotFoundError(pyproject, "[tool.alembic] has no script_location")
    here = pyproject.parent

    def expand(value: object) -> str:
        return str(value).replace("%(here)s", str(here))

    script = _resolve_location(expand(table["script_location"]), here)
    versions = [expand(v) for v in _as_list(table.get("version_locations"))]
    sys_path = [expand(v) for v in _as_list(table.get("prepend_sys_path"))]
    source = _from_script_dir(script, [here / v for v in versions], [here / p for p in sys_path], here)
    source.config_file = pyproject
    return source


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _split_paths(value: str | None, separator: str | None) -> list[str]:
    if not value:
        return []
    seps = {"os": os.pathsep, "space": " ", "newline": "\n", ":": ":", ";": ";", ",": ","}
    if separator in seps:
        parts = value.split(seps[separator]) if separator != "space" else value.split()
    else:
        parts = re.split(r"[,\s]+", value)
    return [p.strip() for p in parts if p.strip()]


def _resolve_location(location: str, base: Path) -> Path:
    if ":" in location and not Path(location).is_absolute() and not re.match(r"^[A-Za-z]:[\\/]", location):
        package, _, sub = location.partition(":")
        import importlib.util

        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ProjectNotFoundError(base, f"script_location {location!r}: package {package!r} not found")
        return Path(next(iter(spec.submodule_search_locations))) / sub
    return (base / location).resolve()


def _from_script_dir(script: Path, versions: list[Path], sys_path: list[Path], root: Path) -> Source:
    if not script.is_dir():
        raise ProjectNotFoundError(script, "script_location directory does not exist")
    dirs = versions or [script / "versions"]
    for directory in dirs:
        if not directory.is_dir():
            raise ProjectNotFoundError(directory, "version location does not exist")
    source = _from_versions(dirs, root, kind="alembic")
    source.sys_path = [p.resolve() for p in sys_path]
    source.script_location = script
    source.version_locations = [d.resolve() for d in dirs]
    return source


# --- revisions -----------------------------------------------------------------------------------


_REVISION_LINE = re.compile(r"^revision\s*(?::[^=]+)?=", re.M)
_SIMPLE_ASSIGNMENT = re.compile(
    r"^(revision|down_revision|branch_labels|depends_on|phase)\s*(?::\s*[^=\n]+)?=[ \t]*(.*?)[ \t]*(?:#.*)?$", re.M
)
_KEYS = ("revision", "down_revision", "branch_labels", "depends_on", "phase")


def _revision_files(directories: Iterable[Path]) -> list[tuple[Path, str]]:
    files: list[tuple[Path, str]] = []
    for directory in directories:
        for path in sorted(directory.rglob("*.py")):
            if path.name.startswith("__") or "__pycache__" in path.parts:
                continue
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError as error:
                # Skipping it would lint (and pass) a history with a hole in it.
                raise ProjectNotFoundError(path, f"cannot read this revision file: {error.strerror or error}") from None
            if _REVISION_LINE.search(text):
                files.append((path, text))
    return files


def _from_versions(directories: list[Path], root: Path, *, kind: Literal["alembic", "versions", "revision"]) -> Source:
    revisions = [read_revision(p, text) for p, text in _revision_files(directories)]
    source = Source(root.resolve(), kind, revisions=order_revisions(revisions))
    source.version_locations = [d.resolve() for d in directories]
    return source


def _tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(str(v) for v in value)
    return (str(value),)


def read_revision(path: Path, text: str | None = None) -> RevisionFile:
    """Read a revision's identifiers (module-level literal assignments) without importing it."""
    if text is None:
        text = path.read_text(encoding="utf-8", errors="replace")
    fast = _read_simple_assignments(text)
    if fast is not None:
        values, lines = fast
        return _revision_from_values(path, text, values, lines, message=None)
    return _read_revision_tree(path, text)


def _read_simple_assignments(text: str) -> tuple[dict[str, object], dict[str, int]] | None:
    """The usual one-line ``name = literal`` form, without parsing the whole file; None when a
    key is assigned in any other way (then the syntax tree decides)."""
    values: dict[str, object] = {}
    lines: dict[str, int] = {}
    for match in _SIMPLE_ASSIGNMENT.finditer(text):
        try:
            values[match[1]] = ast.literal_eval(match[2])
        except (ValueError, SyntaxError):
            return None
        lines[match[1]] = text.count("\n", 0, match.start()) + 1
    for key in _KEYS:
        # A second assignment of a key, e.g. inside a function, needs the real tree.
        if len(re.findall(rf"^\s*{key}\s*(?::[^=\n]+)?=(?!=)", text, re.M)) > (1 if key in values else 0):
            return None
    return values, lines


def _read_revision_tree(path: Path, text: str) -> RevisionFile:
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as error:
        # The capture step reports the syntax error as a finding; keep the file in the walk.
        return RevisionFile(path, revision=None, message=f"syntax error: {error.msg}", text=text)
    values: dict[str, object] = {}
    lines: dict[str, int] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and value is not None:
                try:
                    values[target.id] = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    values[target.id] = _Unreadable(ast.unparse(value))
                lines[target.id] = node.lineno
    doc = ast.get_docstring(tree)
    return _revision_from_values(path, text, values, lines, message=doc.splitlines()[0] if doc else None)


def _revision_from_values(
    path: Path, text: str, values: dict[str, object], lines: dict[str, int], *, message: str | None
) -> RevisionFile:
    revision = values.get("revision")
    phase = values.get("phase")
    from expandcontract.errors import ConfigError

    if phase is not None and phase not in PHASES:
        raise ConfigError(f"phase = {phase!r} must be 'expand' or 'contract'", path=path, key="phase")
    for key in ("revision", "down_revision", "depends_on", "branch_labels"):
        if isinstance(values.get(key), _Unreadable):
            raise RevisionGraphError(f"{path}: {key} is not a literal ({values[key]}); ec reads it without importing")
    return RevisionFile(
        path=path,
        revision=str(revision) if revision is not None else None,
        down_revisions=_tuple(values.get("down_revision")),
        depends_on=_tuple(values.get("depends_on")),
        branch_labels=_tuple(values.get("branch_labels")),
        phase_attribute=phase,
        phase_line=lines.get("phase"),
        message=message,
        text=text,
    )


class _Unreadable(str):
    pass


def order_revisions(revisions: list[RevisionFile]) -> list[RevisionFile]:
    """Oldest first; parents (and ``depends_on``) before children; ties broken by file name."""
    by_id: dict[str, RevisionFile] = {}
    for rev in revisions:
        if rev.revision is None:
            continue
        if rev.revision in by_id:
            raise RevisionGraphError(
                f"revision id {rev.revision!r} is used by both {by_id[rev.revision].path} and {rev.path}",
                revisions=(rev.revision,),
            )
        by_id[rev.revision] = rev
    # depends_on may name a branch label instead of a revision id.
    labels = {label: rev.revision for rev in by_id.values() for label in rev.branch_labels if rev.revision}

    def parents(rev: RevisionFile) -> list[str]:
        out = []
        for ref in (*rev.down_revisions, *rev.depends_on):
            target = ref if ref in by_id else labels.get(ref)
            if target is None:
                # A missing parent is Alembic's error to raise at run time; we lint what is here.
                continue
            out.append(target)
        return out

    ordered: list[RevisionFile] = []
    state: dict[str, int] = {}

    def visit(rev_id: str, chain: tuple[str, ...]) -> None:
        mark = state.get(rev_id)
        if mark == 2:
            return
        if mark == 1:
            raise RevisionGraphError(f"revision cycle: {' -> '.join((*chain, rev_id))}", revisions=chain)
        state[rev_id] = 1
        for parent in sorted(parents(by_id[rev_id]), key=lambda r: by_id[r].path.name):
            visit(parent, (*chain, rev_id))
        state[rev_id] = 2
        ordered.append(by_id[rev_id])

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(by_id) + 100))
    for rev in sorted(by_id.values(), key=lambda r: r.path.name):
        visit(rev.revision or "", ())
    _inherit_branch_phase(ordered, by_id)
    unnamed = [rev for rev in revisions if rev.revision is None]
    return unnamed + ordered


def _inherit_branch_phase(ordered: list[RevisionFile], by_id: dict[str, RevisionFile]) -> None:
    for rev in ordered:
        own = [label for label in rev.branch_labels if label in PHASES]
        if own:
            rev.branch_phase = own[0]
            continue
        inherited = {by_id[p].branch_phase for p in rev.down_revisions if p in by_id}
        if len(inherited) == 1:
            rev.branch_phase = inherited.pop()
