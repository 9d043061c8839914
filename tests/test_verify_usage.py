"""`ec verify --usage` on real servers with statement statistics on (a private PostgreSQL with
pg_stat_statements, a private MariaDB with performance_schema): a workload no color owns that
keeps reading a column a pending contract revision drops is found; once it stops, nothing is."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

import expandcontract
from expandcontract.config import settings_from_mapping
from expandcontract.errors import UsageUnknown
from expandcontract.verify.usage import usage_check
from tests.helpers import write_revision


@pytest.fixture(params=["postgres", "mariadb"])
def stats_url(request: pytest.FixtureRequest) -> str:
    fixture = "private_postgres_url" if request.param == "postgres" else "private_mariadb_url"
    url: URL = request.getfixturevalue(fixture)
    rendered = url.render_as_string(hide_password=False)
    if request.param == "postgres":
        engine = create_engine(rendered, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        engine.dispose()
    return rendered


def _project(tmp_path: Path, url: str) -> dict[str, Any]:
    versions = tmp_path / "versions"
    write_revision(
        versions,
        "r0",
        'op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.Text()))\n'
        "op.execute(\"INSERT INTO users (id, name) VALUES (1, 'a')\")",
    )
    write_revision(versions, "r1", 'op.drop_column("users", "name")', down="r0", extra='phase = "contract"')
    kw: dict[str, Any] = {"url": url, "project": versions, "settings": settings_from_mapping({})}
    assert expandcontract.expand(**kw).applied == ["r0"]  # r1 waits: nothing is recorded retired
    return kw


class Cron(threading.Thread):
    """A nightly job no color owns: an untagged connection reading users.name."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.runs, self.failed = url, threading.Event(), 0, False

    def run(self) -> None:
        engine = create_engine(self.url)
        deadline = time.monotonic() + 30
        with engine.connect() as conn:
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    conn.execute(text("SELECT id, name FROM users WHERE id > 0")).all()
                    conn.commit()
                except Exception:  # noqa: BLE001 - the column is gone: what the override risked
                    self.failed = True
                    return
                self.runs += 1
                time.sleep(0.05)
        engine.dispose()


def test_a_job_that_still_reads_a_dropped_column_is_found(stats_url: str, tmp_path: Path) -> None:
    kw = _project(tmp_path, stats_url)
    cron = Cron(stats_url)
    cron.start()
    try:
        time.sleep(0.3)
        report = usage_check(1.5, **kw)
    finally:
        cron.stop.set()
        cron.join()
    assert report.removes == {"r1": ["users.name"]}
    assert len(report.uses) == 1 and report.exit_code == 1
    use = report.uses[0]
    assert use.objects == ["users.name"] and use.revisions == ["r1"] and use.calls >= 5
    assert "name" in use.text.lower() and "users" in use.text.lower()
    # Once the job stops, the window sees nothing.
    quiet = usage_check(1.0, **kw)
    assert quiet.uses == [] and quiet.exit_code == 0


def test_without_statistics_it_says_so_and_how(postgres_url: URL, tmp_path: Path) -> None:
    kw = _project(tmp_path, postgres_url.render_as_string(hide_password=False))
    with pytest.raises(UsageUnknown, match="pg_stat_statements is not installed in this database"):
        usage_check(0.1, **kw)


def test_the_gate_waits_while_anything_still_uses_what_a_contract_removes(stats_url: str, tmp_path: Path) -> None:
    """With runner.usage-window set, `ec contract` watches the statistics before each contract
    revision: refused while the job runs (even with the old color gone), applied once it stops."""
    from expandcontract.errors import UsageFound

    kw = _project(tmp_path, stats_url)
    kw["settings"] = settings_from_mapping({"runner": {"usage-window": "1s"}})
    expandcontract.deploy("green", version="v2", **kw)
    expandcontract.switch("green", **kw)  # nothing else recorded: the gate itself is open
    cron = Cron(stats_url)
    cron.start()
    try:
        time.sleep(0.3)
        with pytest.raises(UsageFound, match="r1 removes what these statements still use"):
            expandcontract.contract(**kw)
    finally:
        cron.stop.set()
        cron.join()
    engine = create_engine(stats_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM users WHERE id = 1")).scalar() == "a"  # not dropped
    engine.dispose()
    assert expandcontract.contract(**kw).applied == ["r1"]  # the job stopped: the window is clean


def test_the_usage_refusal_can_be_overridden_with_a_recorded_reason(private_postgres_url: URL, tmp_path: Path) -> None:
    url = private_postgres_url.render_as_string(hide_password=False)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
    engine.dispose()
    kw = _project(tmp_path, url)
    kw["settings"] = settings_from_mapping({"runner": {"usage-window": "1s"}})
    expandcontract.deploy("green", version="v2", **kw)
    expandcontract.switch("green", **kw)
    cron = Cron(url)
    cron.start()
    try:
        time.sleep(0.3)
        report = expandcontract.contract(usage_override="the report job is being rewritten today", **kw)
    finally:
        cron.stop.set()
        cron.join()
    assert report.applied == ["r1"]
    overridden = [e for e in expandcontract.history(**kw) if e.action == "usage-overridden"]
    assert len(overridden) == 1 and overridden[0].reason == "the report job is being rewritten today"


def test_status_reports_what_still_runs(stats_url: str, tmp_path: Path) -> None:
    kw = _project(tmp_path, stats_url)
    cron = Cron(stats_url)
    cron.start()
    try:
        time.sleep(0.3)
        busy = expandcontract.status(usage_window=1.0, **kw)
    finally:
        cron.stop.set()
        cron.join()
    assert busy.usage is not None and len(busy.usage) == 1
    assert busy.exit_code == 1 and "still executed" in busy.verdict
    quiet = expandcontract.status(usage_window=0.5, **kw)
    assert quiet.usage == []
