"""Finding revisions: alembic.ini, pyproject [tool.alembic], bare versions dirs, order, branches."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandcontract.errors import ConfigError, ProjectNotFoundError, RevisionGraphError
from expandcontract.migrations.loader import discover
from tests.helpers import write_revision

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_alembic_ini_project() -> None:
    source = discover(EXAMPLES / "rename-column")
    assert source.kind == "alembic"
    assert [r.revision for r in source.revisions] == ["0001", "0002", "0003", "0004", "0005"]
    assert [r.declared_phase for r in source.revisions] == ["expand"] * 4 + ["contract"]
    assert source.sys_path == [(EXAMPLES / "rename-column").resolve()]


def test_pyproject_tool_alembic(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic]\nscript_location = "%(here)s/db"\nversion_locations = ["%(here)s/db/v1", "%(here)s/db/v2"]\n',
        encoding="utf-8",
    )
    write_revision(tmp_path / "db" / "v1", "a", "pass")
    write_revision(tmp_path / "db" / "v2", "b", "pass", down="a")
    source = discover(tmp_path)
    assert source.kind == "alembic"
    assert [r.revision for r in source.revisions] == ["a", "b"]


def test_versions_directory_order_follows_the_graph_not_file_names(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "c3", "pass", down="b2")
    write_revision(versions, "a1", "pass", down="c3")
    write_revision(versions, "b2", "pass")
    assert [r.revision for r in discover(versions).revisions] == ["b2", "c3", "a1"]


def test_branches_and_merges(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "base", "pass")
    write_revision(versions, "ex1", "pass", down="base", extra='branch_labels = ("expand",)')
    write_revision(versions, "ex2", "pass", down="ex1")
    write_revision(versions, "co1", "pass", down="base", extra='branch_labels = ("contract",)\ndepends_on = "ex2"')
    write_revision(versions, "merge", "pass", down=("ex2", "co1"))  # type: ignore[arg-type]
    revs = discover(versions).revisions
    order = [r.revision for r in revs]
    assert order.index("ex2") < order.index("co1") < order.index("merge")
    phases = {r.revision: r.declared_phase for r in revs}
    assert phases == {"base": None, "ex1": "expand", "ex2": "expand", "co1": "contract", "merge": None}


def test_phase_attribute_beats_branch_label(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "a", "pass", extra='branch_labels = ("expand",)\nphase = "contract"')
    assert discover(versions).revisions[0].declared_phase == "contract"


def test_invalid_phase_is_a_config_error(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "a", "pass", extra='phase = "shrink"')
    with pytest.raises(ConfigError, match="phase = 'shrink' must be 'expand' or 'contract'"):
        discover(versions)


def test_duplicate_revision_id(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "a", "pass")
    (versions / "copy_rev.py").write_text((versions / "a_rev.py").read_text(), encoding="utf-8")
    with pytest.raises(RevisionGraphError, match="revision id 'a' is used by both"):
        discover(versions)


def test_cycle(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "a", "pass", down="b")
    write_revision(versions, "b", "pass", down="a")
    with pytest.raises(RevisionGraphError, match="revision cycle"):
        discover(versions)


def test_not_a_project(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(ProjectNotFoundError, match=r"no alembic\.ini"):
        discover(tmp_path)
    with pytest.raises(ProjectNotFoundError, match="no such file"):
        discover(tmp_path / "missing")


def test_single_revision_file_reports_only_that_file(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "a", "op.drop_column('t', 'x')")
    b = write_revision(versions, "b", "op.drop_column('t', 'y')", down="a")
    source = discover(b)
    assert source.only == {b}
    assert [r.revision for r in source.revisions] == ["a", "b"]


def test_typed_one_line_assignments_use_the_fast_path(tmp_path: Path) -> None:
    from expandcontract.migrations.loader import _read_simple_assignments, read_revision

    text = (
        '"""doc"""\nfrom typing import Sequence, Union\n\nrevision: str = "abc"  # the id\n'
        'down_revision: Union[str, None] = "xyz"\nbranch_labels: Union[str, Sequence[str], None] = None\n'
        'depends_on = None\nphase = "contract"\n'
    )
    assert _read_simple_assignments(text) is not None
    rev = read_revision(tmp_path / "r.py", text)
    assert (rev.revision, rev.down_revisions, rev.declared_phase, rev.phase_line) == ("abc", ("xyz",), "contract", 8)


def test_multi_line_values_fall_back_to_the_syntax_tree(tmp_path: Path) -> None:
    from expandcontract.migrations.loader import _read_simple_assignments, read_revision

    text = 'revision = "m"\ndown_revision = (\n    "a",\n    "b",\n)\n'
    assert _read_simple_assignments(text) is None
    assert read_revision(tmp_path / "r.py", text).down_revisions == ("a", "b")


def test_reassignment_inside_a_function_falls_back_and_is_ignored(tmp_path: Path) -> None:
    from expandcontract.migrations.loader import _read_simple_assignments, read_revision

    text = 'revision = "a"\ndown_revision = None\n\ndef upgrade():\n    phase = "contract"\n'
    assert _read_simple_assignments(text) is None
    assert read_revision(tmp_path / "r.py", text).declared_phase is None
