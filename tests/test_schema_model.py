"""The schema model: each change judged against the schema as everything before it left it -
the replayed history, a DDL dump (--schema) or a live catalog (--url) on real servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from expandcontract.config import settings_from_mapping
from expandcontract.errors import ConfigError, DatabaseError
from expandcontract.linter.engine import lint
from expandcontract.linter.findings import Report
from tests.helpers import write_revision

CREATE_USERS = (
    'op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True), '
    'sa.Column("n", sa.Integer(), nullable=False), sa.Column("s", sa.String(10)), sa.Column("f", sa.Float()), '
    'sa.Column("e", sa.String(50), nullable=False))'
)


def _history(tmp_path: Path, *bodies: str) -> Path:
    """Revisions r0 (creates users) and then one per body, in order."""
    versions = tmp_path / "versions"
    write_revision(versions, "r0", CREATE_USERS)
    down = "r0"
    for i, body in enumerate(bodies, start=1):
        write_revision(versions, f"r{i}", body, down=down)
        down = f"r{i}"
    return versions


def _lint(paths: list[Path], dialect: str = "postgresql", **kw: object) -> Report:
    return lint(paths, settings=settings_from_mapping({"dialect": dialect}), use_cache=False, **kw)  # type: ignore[arg-type]


def _found(report: Report, revision: str) -> list[str]:
    return sorted(f.code for f in report.findings if f.revision == revision)


def _phase(report: Report, revision: str) -> str:
    return next(r.phase for r in report.revisions if r.revision == revision)


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_a_widening_judged_against_the_replayed_type_is_not_contract(tmp_path: Path, dialect: str) -> None:
    """Measured: int -> bigint and varchar(10) -> varchar(20) were contract ("previous type
    unknown"); FLOAT -> FLOAT(53) was "not a widening"."""
    versions = _history(
        tmp_path,
        'op.alter_column("users", "n", type_=sa.BigInteger(), existing_nullable=False)',
        'op.alter_column("users", "s", type_=sa.String(20))',
        'op.alter_column("users", "f", type_=sa.Float(53))',
    )
    report = _lint([versions], dialect)
    assert [_phase(report, r) for r in ("r1", "r2", "r3")] == ["expand", "expand", "expand"]
    contract = [f for f in report.findings if f.category == "contract"]
    assert contract == []
    if dialect == "postgresql":
        # int -> bigint does rewrite the table (a lock finding, true); varchar and FLOAT do not.
        assert (_found(report, "r1"), _found(report, "r2"), _found(report, "r3")) == (["EC208"], [], [])
    else:
        assert _found(report, "r2") == []  # 40 -> 80 bytes: still a 1-byte length prefix, in place


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_set_not_null_on_a_column_already_not_null_is_no_change(tmp_path: Path, dialect: str) -> None:
    """Measured: nullable=False with existing_nullable=False, and SET NOT NULL on a column
    created NOT NULL, were contract (EC106/EC209/EC301) and made the revision mixed."""
    versions = _history(
        tmp_path,
        'op.alter_column("users", "e", nullable=False, existing_nullable=False, existing_type=sa.String(50))',
        'op.alter_column("users", "e", nullable=False, existing_type=sa.String(50))\n'
        'op.add_column("users", sa.Column("x", sa.Integer()))',
    )
    report = _lint([versions], dialect)
    assert _found(report, "r1") == [] and _found(report, "r2") == []
    assert _phase(report, "r2") == "expand"


def test_dropping_the_default_of_a_not_null_column_is_contract(tmp_path: Path) -> None:
    """Measured (51 indico revisions): a NOT NULL column added with a temporary server default
    that is then dropped broke every insert of the old color and was never flagged."""
    versions = _history(
        tmp_path,
        'op.add_column("users", sa.Column("tier", sa.Text(), nullable=False, server_default="free"))\n'
        'op.alter_column("users", "tier", server_default=None)',
    )
    report = _lint([versions])
    assert "EC111" in _found(report, "r1")
    assert _phase(report, "r1") == "mixed"


def test_tables_are_told_apart_by_schema(tmp_path: Path) -> None:
    """Measured: create_table("affiliations", schema="indico") hid an unsafe index on the
    existing users.affiliations in the same revision."""
    versions = tmp_path / "versions"
    write_revision(
        versions,
        "r1",
        'op.create_table("affiliations", sa.Column("id", sa.Integer(), primary_key=True), schema="indico")\n'
        'op.create_index("ix_aff_name", "affiliations", ["name"], schema="users")',
    )
    assert _found(_lint([versions]), "r1") == ["EC201"]


def test_a_column_index_is_the_index_it_creates(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "r1", 'op.add_column("users", sa.Column("code", sa.Text(), index=True))')
    assert _found(_lint([versions]), "r1") == ["EC201"]


def test_a_single_revision_is_judged_against_the_history_before_it(tmp_path: Path) -> None:
    versions = _history(tmp_path, 'op.alter_column("users", "s", type_=sa.String(20))')
    report = _lint([versions / "r1_rev.py"])
    assert [r.revision for r in report.revisions] == ["r1"]
    assert report.findings == []


def test_an_unknown_previous_type_says_how_to_tell_ec(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "r1", 'op.alter_column("users", "s", type_=sa.String(20))')
    messages = [f.message for f in _lint([versions]).findings if f.code == "EC105"]
    assert len(messages) == 1 and "pass existing_type=, or --schema/--url" in messages[0]


# --- starting points: a dump and a live catalog, on the real servers ---------------------------

SQL_CHANGES = {
    "postgresql": (
        "ALTER TABLE accounts ALTER COLUMN name TYPE varchar(200);\n"
        "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;\n"
    ),
    "mariadb": (
        "ALTER TABLE accounts MODIFY name VARCHAR(60) NULL;\nALTER TABLE accounts MODIFY email VARCHAR(100) NOT NULL;\n"
    ),
}


def _seed(url: str, dialect: str, rows: int = 0) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name VARCHAR(50), email VARCHAR(100) NOT NULL, "
                "kind VARCHAR(10) NOT NULL DEFAULT 'x')"
            )
        )
        if rows:
            if dialect == "postgresql":
                conn.execute(text(f"INSERT INTO accounts SELECT g, 'n', 'e', 'k' FROM generate_series(1, {rows}) g"))
                conn.execute(text("ANALYZE accounts"))
            else:
                conn.execute(text(f"INSERT INTO accounts SELECT seq, 'n', 'e', 'k' FROM seq_1_to_{rows}"))
                conn.execute(text("ANALYZE TABLE accounts"))
    engine.dispose()


def _dump(url: URL, dialect: str, path: Path) -> Path:
    if dialect == "postgresql":
        argv = ["pg_dump", "--schema-only", "-h", url.host or "127.0.0.1", "-U", url.username or "postgres"]
        argv += ["-p", str(url.port or 5432), url.database or ""]
    else:
        argv = ["mariadb-dump", "--no-data", "-h", url.host or "127.0.0.1", "-u", url.username or "root"]
        argv += ["-P", str(url.port or 3306), url.database or ""]
    path.write_text(subprocess.run(argv, capture_output=True, text=True, check=True).stdout, encoding="utf-8")
    return path


@pytest.fixture(params=["postgresql", "mariadb"])
def seeded(request: pytest.FixtureRequest) -> tuple[URL, str]:
    dialect = request.param
    url: URL = request.getfixturevalue("postgres_url" if dialect == "postgresql" else "mysql_url")
    _seed(url.render_as_string(hide_password=False), dialect)
    return url, dialect


def test_a_dump_tells_ec_the_previous_definitions(seeded: tuple[URL, str], tmp_path: Path) -> None:
    url, dialect = seeded
    migration = tmp_path / "m.sql"
    migration.write_text(SQL_CHANGES[dialect], encoding="utf-8")
    blind = _lint([migration], dialect)
    assert "EC105" in [f.code for f in blind.findings] or "EC401" in [f.code for f in blind.findings]
    dump = _dump(url, dialect, tmp_path / "schema.sql")
    report = _lint([migration], dialect, schema=dump)
    codes = sorted({f.code for f in report.findings})
    # A widening of name and SET NOT NULL on a column that already is: nothing to report.
    assert codes == [], [(f.code, f.message) for f in report.findings]


def test_the_live_catalog_tells_ec_types_sizes_and_the_server(seeded: tuple[URL, str], tmp_path: Path) -> None:
    url, dialect = seeded
    migration = tmp_path / "m.sql"
    migration.write_text(SQL_CHANGES[dialect], encoding="utf-8")
    live = url.render_as_string(hide_password=False)
    report = lint([migration], url=live, use_cache=False, settings=settings_from_mapping({}))
    assert report.dialect == dialect  # the server's flavor, without --dialect
    assert sorted({f.code for f in report.findings}) == []


def test_table_sizes_from_the_catalog_feed_the_large_table_rule(mysql_url: URL, tmp_path: Path) -> None:
    live = mysql_url.render_as_string(hide_password=False)
    _seed(live, "mariadb", rows=3000)
    migration = tmp_path / "m.sql"
    migration.write_text("ALTER TABLE accounts MODIFY name VARCHAR(200) NULL;\n", encoding="utf-8")
    settings = settings_from_mapping({"online-threshold-rows": 1000})
    report = lint([migration], url=live, use_cache=False, settings=settings)
    found = [f for f in report.findings if f.code == "EC404"]
    assert len(found) == 1 and "about 3,000 rows" in found[0].message


def test_bad_starting_points_are_clear_errors(tmp_path: Path) -> None:
    migration = tmp_path / "m.sql"
    migration.write_text("SELECT 1;\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read the schema dump"):
        _lint([migration], schema=tmp_path / "missing.sql")
    broken = tmp_path / "broken.sql"
    broken.write_text("SET x = 1;\n\nCREATE TABLE t (a int b c d);\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3: cannot read this CREATE TABLE"):
        _lint([migration], schema=broken)
    with pytest.raises(DatabaseError) as failed:
        _lint([migration], url="postgresql+psycopg://app:s3cret@127.0.0.1:1/nope")
    assert "s3cret" not in str(failed.value)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "expandcontract.cli",
            "lint",
            str(migration),
            "--url",
            "mysql+pymysql://u:s3cret@127.0.0.1:1/x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_no_lock_or_data_noise_on_objects_made_moot_earlier_in_the_revision(tmp_path: Path) -> None:
    """A table dropped earlier in the revision, or a column it just added (all NULL)."""
    versions = tmp_path / "versions"
    write_revision(
        versions,
        "r1",
        'op.drop_table("legacy")\nop.drop_index("ix_legacy_a", table_name="legacy")\n'
        'op.add_column("users", sa.Column("code", sa.Text()))\n'
        'op.create_unique_constraint("uq_users_code", "users", ["code"])',
        extra='phase = "contract"',
    )
    found = sorted(f.code for f in _lint([versions]).findings if f.severity != "info")
    # mixed (the add and the drop), and the unique build still locks (EC206); no EC202 on the
    # dropped table, no EC301 for a column that is NULL in every existing row.
    assert found == ["EC003", "EC206"]


def _seed_enum_and_check(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TYPE mood AS ENUM ('happy', 'sad')"))
        conn.execute(text("CREATE TABLE people (id integer PRIMARY KEY, m mood, d integer)"))
        conn.execute(text("ALTER TABLE people ADD CONSTRAINT d_nn CHECK (d IS NOT NULL) NOT VALID"))
        conn.execute(text("ALTER TABLE people VALIDATE CONSTRAINT d_nn"))
        conn.execute(text("ALTER TABLE people ADD CONSTRAINT id_pos CHECK (id > 0) NOT VALID"))
    engine.dispose()


ENUM_AND_CHECK = (
    "ALTER TABLE people ALTER COLUMN m TYPE text;\n"  # every label fits: a widening (EC208 stays: it rewrites)
    "ALTER TABLE people ALTER COLUMN d SET NOT NULL;\n"  # the validated CHECK proves it: no scan
)


@pytest.mark.postgres
@pytest.mark.parametrize("source", ["dump", "catalog"])
def test_enum_labels_and_validated_checks_come_from_the_database(
    postgres_url: URL, tmp_path: Path, source: str
) -> None:
    """Measured (tests/test_ddl_matrix.py): enum -> text breaks nothing, and SET NOT NULL with a
    validated CHECK (d IS NOT NULL) reads no row; both were reported when ec could not see them."""
    live = postgres_url.render_as_string(hide_password=False)
    _seed_enum_and_check(live)
    migration = tmp_path / "m.sql"
    migration.write_text(ENUM_AND_CHECK, encoding="utf-8")
    blind = {f.code for f in _lint([migration], "postgresql").findings}
    assert {"EC105", "EC209"} <= blind
    if source == "dump":
        report = _lint([migration], "postgresql", schema=_dump(postgres_url, "postgresql", tmp_path / "s.sql"))
    else:
        report = lint([migration], url=live, use_cache=False, settings=settings_from_mapping({}))
    codes = {f.code for f in report.findings}
    assert "EC105" not in codes and "EC209" not in codes, [(f.code, f.message) for f in report.findings]
    assert "EC208" in codes and "EC106" in codes


def test_the_model_follows_enum_labels_and_check_validation() -> None:
    from expandcontract.dialects import Target
    from expandcontract.schema.model import SchemaModel
    from expandcontract.sql.normalize import parse_sql
    from expandcontract.sql.types import parse_type

    model = SchemaModel()
    script = (
        "CREATE TYPE public.mood AS ENUM ('a', 'it''s');\n"
        "ALTER TYPE mood ADD VALUE 'c';\nALTER TYPE mood RENAME VALUE 'a' TO 'z';\n"
        "CREATE TABLE t (id int, d int, CONSTRAINT inline_nn CHECK ((d IS NOT NULL)));\n"
        "ALTER TABLE t ADD CONSTRAINT later CHECK (id IS NOT NULL) NOT VALID;\n"
    )
    for change in parse_sql(script, Target.default("postgresql")):
        model.apply(change)
    assert model.enum_labels(parse_type("mood")) == ("z", "it's", "c")
    table = model.table("t")
    assert table is not None and table.proves_not_null("d") and not table.proves_not_null("id")
    for change in parse_sql("ALTER TABLE t VALIDATE CONSTRAINT later; DROP TYPE mood", Target.default("postgresql")):
        model.apply(change)
    assert table.proves_not_null("id") and model.enum_labels(parse_type("mood")) is None


@pytest.mark.mysql
def test_the_catalog_tells_the_sql_mode_and_the_rules_say_what_it_means(
    mysql_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expandcontract.schema import sources

    live = mysql_url.render_as_string(hide_password=False)
    _seed(live, "mariadb")
    model, _ = sources.from_catalog(live)
    assert model.sql_mode is not None and "STRICT_TRANS_TABLES" in model.sql_mode  # MariaDB 10.11's default
    migration = tmp_path / "m.sql"
    migration.write_text("ALTER TABLE accounts ADD COLUMN tenant INT NOT NULL;\n", encoding="utf-8")
    strict = lint([migration], url=live, use_cache=False, settings=settings_from_mapping({}))
    assert [f.message for f in strict.findings if f.code == "EC107"] == [
        "Column accounts.tenant is NOT NULL without a default: the old color's inserts will fail."
    ]
    relaxed = model.copy()
    relaxed.sql_mode = "NO_ENGINE_SUBSTITUTION"
    monkeypatch.setattr(sources, "from_catalog", lambda url, timeout=10.0: (relaxed.copy(), _))
    loose = lint([migration], url=live, use_cache=False, settings=settings_from_mapping({}))
    messages = [f.message for f in loose.findings if f.code == "EC107"]
    assert len(messages) == 1 and "(NO_ENGINE_SUBSTITUTION, not strict)" in messages[0], messages
    assert loose.revisions[0].phase == "contract"
