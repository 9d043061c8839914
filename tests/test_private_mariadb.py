"""What needs a MariaDB with performance_schema and ROW binlogs (the shared one has neither):
counting a color's sessions by program_name, and online.alter through gh-ost's full path."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import URL

import expandcontract
from expandcontract.config import settings_from_mapping
from expandcontract.errors import RetirementRefused
from expandcontract.ledger.sessions import count_sessions
from expandcontract.online.api import alter, cutover
from tests.helpers import column_type, write_revision


@pytest.fixture
def url(private_mariadb_url: URL) -> str:
    return private_mariadb_url.render_as_string(hide_password=False)


def test_sessions_are_counted_by_program_name(url: str, tmp_path: Path) -> None:
    settings = settings_from_mapping({})
    engine = create_engine(url)
    with engine.connect() as conn:
        assert count_sessions(conn, settings.ledger, "default", "blue").count == 0
    blue = create_engine(url, connect_args={"program_name": "blue"})
    app = blue.connect()
    app.execute(text("SELECT 1"))
    try:
        with engine.connect() as conn:
            counted = count_sessions(conn, settings.ledger, "default", "blue")
        assert counted.count == 1 and counted.sessions[0].application == "blue"
        assert counted.how == ["program_name = 'blue'"]
        versions = tmp_path / "v"
        write_revision(versions, "r1", "pass")
        kw: dict[str, Any] = {"url": url, "project": versions, "settings": settings}
        expandcontract.deploy("blue", version="1", **kw)
        with pytest.raises(RetirementRefused, match=r"1 database session\(s\) from it are connected"):
            expandcontract.retire("blue", **kw)
    finally:
        app.close()
        blue.dispose()
    expandcontract.retire("blue", **kw)
    engine.dispose()


def _items(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, n INT NOT NULL, s VARCHAR(20))"))
        conn.execute(text("INSERT INTO items (n, s) SELECT seq, 'x' FROM seq_1_to_2000"))
    engine.dispose()


def test_online_alter_chooses_ghost_when_the_server_allows_it(url: str, fake_ghost: str) -> None:
    _items(url)
    settings = settings_from_mapping({"online-threshold-rows": 100})
    released: list[str] = []
    result = alter(
        "items",
        "MODIFY COLUMN n BIGINT NOT NULL",
        url=url,
        settings=settings,
        ghost_bin=fake_ghost,
        postpone=True,
        cut_over=lambda run: released.append(run.cut_over()),
    )
    assert result.plan.engine == "gh-ost" and result.state == "done"
    assert "copy online with gh-ost" in result.plan.reason
    assert released and released[0].startswith("Unpostponed")
    assert column_type(url, "items", "n") == "bigint(20)"
    history = [e.action for e in expandcontract.history(url=url, settings=settings)]
    assert history[-2:] == ["online-start", "online-done"]


def _postponed_alter_in_background(url: str, settings: Any, fake_ghost: str, into: list[Any]) -> threading.Thread:
    """gh-ost (stand-in) copies items and waits for its cut-over, in a thread."""

    def run() -> None:
        into.append(
            alter(
                "items",
                "MODIFY COLUMN n BIGINT NOT NULL",
                url=url,
                settings=settings,
                ghost_bin=fake_ghost,
                postpone=True,
            )
        )

    worker = threading.Thread(target=run)
    worker.start()
    return worker


def test_online_cutover_from_another_process_releases_a_postponed_run(url: str, fake_ghost: str) -> None:
    _items(url)
    settings = settings_from_mapping({"online-threshold-rows": 100})
    outcome: list[Any] = []
    worker = _postponed_alter_in_background(url, settings, fake_ghost, outcome)
    from expandcontract.ledger.store import Ledger

    table = Ledger(settings.ledger).t.online
    engine = create_engine(url)
    deadline = time.monotonic() + 60
    state = None
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            row = conn.execute(select(table.c.state)).first() if conn.dialect.has_table(conn, table.name) else None
        state = row[0] if row else None
        if state == "postponed":
            break
        time.sleep(0.1)
    assert state == "postponed"
    status = expandcontract.status(url=url, project=_project(url), settings=settings)
    assert status.online[0]["state"] == "postponed"
    message = cutover("items", url=url, settings=settings)
    worker.join(timeout=60)
    engine.dispose()
    assert message.startswith("cut-over of items released: Unpostponed")
    assert outcome and outcome[0].state == "done"
    assert column_type(url, "items", "n") == "bigint(20)"


def _project(url: str) -> Path:
    import tempfile

    versions = Path(tempfile.mkdtemp()) / "versions"
    write_revision(versions, "r1", "pass")
    return versions


def test_switch_cutover_releases_postponed_online_changes(url: str, fake_ghost: str, tmp_path: Path) -> None:
    _items(url)
    settings = settings_from_mapping(
        {
            "online-threshold-rows": 100,
            "switch": {"default": {"backend": "file", "path": str(tmp_path / "weights.json")}},
        }
    )
    versions = tmp_path / "v"
    write_revision(versions, "r1", "pass")
    kw: dict[str, Any] = {"url": url, "project": versions, "settings": settings}
    expandcontract.deploy("blue", version="1", **kw)
    expandcontract.deploy("green", version="2", **kw)
    expandcontract.switch("blue", **kw)
    outcome_holder: list[Any] = []
    worker = _postponed_alter_in_background(url, settings, fake_ghost, outcome_holder)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not expandcontract.status(**kw).online:
        time.sleep(0.1)
    while time.monotonic() < deadline and expandcontract.status(**kw).online[0]["state"] != "postponed":
        time.sleep(0.1)
    assert column_type(url, "items", "n") == "int(11)"  # copied, not cut over: the old code still runs
    outcome = expandcontract.switch("green", cutover=True, **kw)
    worker.join(timeout=60)
    assert outcome.cutovers == ["cut-over of items released: Unpostponed"]
    assert outcome_holder and outcome_holder[0].state == "done"
    assert column_type(url, "items", "n") == "bigint(20)"
