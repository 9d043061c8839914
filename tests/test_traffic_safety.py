"""The traffic switch under concurrency and failure, against real HAProxy and nginx under load:
one switch at a time, health read right, never a silent outage (issue 13)."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import expandcontract
from expandcontract.config import settings_from_mapping
from expandcontract.errors import ConcurrentRunError, ConfigError, ExpandContractError
from expandcontract.ledger.commands import resolve_target
from expandcontract.traffic.base import ProxyConfigError, SwitchError
from expandcontract.traffic.commands import traffic_lock
from expandcontract.traffic.haproxy import HaproxyConfigBackend, HaproxyRuntimeBackend, parse_health
from tests.helpers import write_revision
from tests.proxies import ColorServers, Haproxy, Load, Nginx, sample
from tests.test_traffic import _kw


def _runtime(proxy: Haproxy, **extra: Any) -> dict[str, Any]:
    return {
        "backend": "haproxy-runtime",
        "socket": str(proxy.socket),
        "servers": {"blue": "blue", "green": "green"},
        **extra,
    }


def _config(proxy: Haproxy, **extra: Any) -> dict[str, Any]:
    proxy.state_file.unlink(missing_ok=True)
    return {
        "backend": "haproxy-config",
        "config": str(proxy.config),
        "servers": {"blue": "blue", "green": "green"},
        "pidfile": str(proxy.pidfile),
        "socket": str(proxy.socket),
        **extra,
    }


def _nginx(proxy: Nginx, colors: ColorServers, **extra: Any) -> dict[str, Any]:
    return {
        "backend": "nginx",
        "upstream-file": str(proxy.upstream),
        "servers": {c: f"127.0.0.1:{colors.ports[c]}" for c in ("blue", "green")},
        "nginx-conf": str(proxy.config),
        "nginx": proxy.binary,
        **extra,
    }


def _ledger_weights(kw: dict[str, Any]) -> dict[str, int]:
    return {c.state.color: c.state.weight for c in expandcontract.status(**kw).colors}


def _actions(kw: dict[str, Any], since: int) -> list[str]:
    return [e.action for e in expandcontract.history(limit=500, **kw)[since:]]


# --- the health model ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "check", "expected"),
    [
        ("UP", "L7OK", ("ready", True)),
        ("UP", "* L7OK", ("ready", True)),  # a check in progress: the last result stands
        ("UP 1/2", "L7OK", ("ready", None)),  # just enabled: the result is from before maintenance
        ("UP 2/3", "* L7OK", ("ready", None)),
        ("UP 1/2", "INI", ("ready", None)),
        ("DOWN", "L4CON", ("ready", False)),
        ("DOWN 1/2", "* L7OK", ("ready", False)),  # coming up, not up yet
        ("NOLB", "L7OKC", ("ready", False)),
        ("MAINT", "", ("maint", None)),
        ("MAINT(via)", "", ("maint", None)),
        ("DRAIN", "L7OK", ("drain", True)),
        ("DRAIN", "* L4CON", ("drain", None)),
        ("no check", "", ("ready", None)),
    ],
)
def test_haproxy_health_states(status: str, check: str, expected: tuple[str, bool | None]) -> None:
    assert parse_health(status, check) == expected


def test_a_check_in_progress_is_never_read_as_a_change_of_routing(haproxy: Haproxy, colors: ColorServers) -> None:
    """Measured: 19 of 3,539 polls read 'blue 0%, green 0%' while a check ran ('* L7OK')."""
    colors.handlers["blue"].health_delay = 0.05  # each check is in progress for 50 ms of every 300
    backend = HaproxyRuntimeBackend(str(haproxy.socket), "app", {"blue": "blue", "green": "green"})
    seen, in_progress = set(), 0
    deadline = time.monotonic() + 5
    for _ in range(2000):
        if time.monotonic() > deadline:
            break
        state = backend.observe()
        seen.add(tuple(sorted(state.weights().items())))
        if state.detail["checking"]["blue"]:  # type: ignore[index]
            in_progress += 1
            assert state.colors["blue"].healthy is True
    assert seen == {(("blue", 100), ("green", 0))}
    assert in_progress > 0, "no poll caught a check in progress: the case was not exercised"


# --- a dead or slow green ------------------------------------------------------------------


def test_runtime_dead_green_is_refused_with_no_failed_request(
    haproxy: Haproxy, colors: ColorServers, tmp_path: Path
) -> None:
    """Day-one config (green `disabled`), green's app dead: `state ready` + weight in one
    command sent 2-5 requests to green before its first check."""
    kw = _kw(tmp_path, _runtime(haproxy, **{"ready-timeout": "1s"}))
    colors.kill("green")
    events = len(expandcontract.history(limit=500, **kw))
    with Load(haproxy.url, keep_alive=2, close=2, pace=0.001) as load:
        for _ in range(3):
            with pytest.raises(SwitchError, match=r"green showed no passing health check.*nothing was moved") as e:
                expandcontract.switch("green", **kw)
            assert e.value.exit_code == 1 and e.value.moved is False
    assert load.failures() == []
    assert len(load.results) > 200
    state = HaproxyRuntimeBackend(str(haproxy.socket), "app", {"blue": "blue", "green": "green"}).observe()
    assert state.weights() == {"blue": 100, "green": 0}
    assert state.colors["green"].admin == "maint"  # put back as it was
    assert _actions(kw, events) == ["switch-attempt", "switch-refused"] * 3
    assert _ledger_weights(kw) == {"blue": 100, "green": 0}


def test_runtime_stale_check_after_maintenance_is_not_trusted(
    haproxy: Haproxy, colors: ColorServers, tmp_path: Path
) -> None:
    """Green passed its checks, went back to maintenance, then died: on `state ready` HAProxy
    shows the old L7OK; only a fresh check may count."""
    kw = _kw(tmp_path, _runtime(haproxy, **{"ready-timeout": "1500ms"}))
    expandcontract.switch("green", **kw)
    expandcontract.switch("blue", **kw)
    backend = HaproxyRuntimeBackend(str(haproxy.socket), "app", {"blue": "blue", "green": "green"})
    backend._run(["set server app/green state maint"])
    colors.kill("green")
    with Load(haproxy.url, keep_alive=2, close=2, pace=0.001) as load, pytest.raises(SwitchError, match="nothing was"):
        expandcontract.switch("green", **kw)
    assert load.failures() == []
    assert backend.observe().weights() == {"blue": 100, "green": 0}


def test_runtime_slow_to_check_green_waits_and_loses_nothing(
    haproxy: Haproxy, colors: ColorServers, tmp_path: Path
) -> None:
    kw = _kw(tmp_path, _runtime(haproxy, **{"ready-timeout": "8s"}))
    colors.set_healthy("green", False)
    with Load(haproxy.url, keep_alive=2, close=2, pace=0.001) as load:
        threading.Timer(1.5, colors.set_healthy, ("green", True)).start()
        started = time.monotonic()
        outcome = expandcontract.switch("green", **kw)
        took = time.monotonic() - started
        time.sleep(0.3)
    assert took >= 1.4  # it waited for the check, it did not trust "UP 1/2"
    assert load.failures() == []
    assert outcome.result is not None and outcome.result.after.live == "green"


def test_config_reload_dead_green_is_refused_with_no_failed_request(
    haproxy: Haproxy, colors: ColorServers, tmp_path: Path
) -> None:
    kw = _kw(tmp_path, _config(haproxy, **{"ready-timeout": "1500ms"}))
    original = haproxy.config.read_text()
    colors.kill("green")
    with Load(haproxy.url, keep_alive=2, close=2, pace=0.001) as load:
        with pytest.raises(SwitchError, match=r"green showed no passing health check.*nothing was moved"):
            expandcontract.switch("green", **kw)
        time.sleep(0.3)
    assert load.failures() == []
    assert haproxy.config.read_text() == original
    assert sample(haproxy.url, 20) == {"blue": 20}


def test_nginx_dead_green_is_refused_by_its_check_url(nginx: Nginx, colors: ColorServers, tmp_path: Path) -> None:
    kw = _kw(tmp_path, _nginx(nginx, colors, **{"check-url": {c: colors.health_url(c) for c in ("blue", "green")}}))
    before = nginx.upstream.read_text()
    colors.kill("green")
    refused = pytest.raises(SwitchError, match=r"green's check .* failed before any traffic moved")
    with Load(nginx.url, keep_alive=0, close=2, pace=0.001) as load, refused as e:
        expandcontract.switch("green", **kw)
    assert e.value.exit_code == 1
    assert load.failures() == []
    assert nginx.upstream.read_text() == before


def test_nginx_dead_green_with_only_a_probe_is_put_back_and_confirmed(
    nginx: Nginx, colors: ColorServers, tmp_path: Path
) -> None:
    kw = _kw(tmp_path, _nginx(nginx, colors, **{"probe-url": nginx.url, "verify-timeout": "2s"}))
    colors.kill("green")
    events = len(expandcontract.history(limit=500, **kw))
    with pytest.raises(SwitchError, match=r"traffic was put back to blue 100%, green 0% \(confirmed") as e:
        expandcontract.switch("green", **kw)
    assert e.value.exit_code == 1 and e.value.restored is True
    assert sample(nginx.url, 20) == {"blue": 20}
    assert _actions(kw, events) == ["switch-attempt", "switch-rolled-back"]
    assert _ledger_weights(kw) == {"blue": 100, "green": 0}


def test_nginx_without_any_health_confirmation_is_refused_before_anything_moves(
    nginx: Nginx, colors: ColorServers, tmp_path: Path
) -> None:
    """Measured: nginx without probe-url exited 0 on a dead green (1,879 of 2,738 failed)."""
    kw = _kw(tmp_path, _nginx(nginx, colors))
    before = nginx.upstream.read_text()
    colors.kill("green")
    with pytest.raises(ConfigError, match="nothing confirms that green is healthy") as e:
        expandcontract.switch("green", **kw)
    assert e.value.exit_code == 2
    assert nginx.upstream.read_text() == before
    assert sample(nginx.url, 10) == {"blue": 10}


def test_unchecked_switch_is_allowed_only_when_configured_and_says_so(
    nginx: Nginx, colors: ColorServers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kw = _kw(tmp_path, _nginx(nginx, colors, **{"allow-unchecked": True}))
    outcome = expandcontract.switch("green", **kw)
    assert outcome.result is not None and outcome.result.unchecked == ("green",)
    assert "UNCHECKED: sending traffic to green" in caplog.text
    assert expandcontract.history(**kw)[-1].details["unchecked"] == ["green"]


# --- rollback and per-color checks ---------------------------------------------------------


def test_rollback_and_switch_back_check_the_color_they_go_to(
    haproxy: Haproxy, colors: ColorServers, tmp_path: Path
) -> None:
    """A static check-url (green's) blocked `ec rollback` and `ec switch blue` once green died."""
    kw = _kw(tmp_path, _runtime(haproxy, **{"check-url": {c: colors.health_url(c) for c in ("blue", "green")}}))
    expandcontract.switch("green", **kw)
    colors.kill("green")
    time.sleep(0.8)  # HAProxy sees green down: an outage until traffic goes back
    rolled = expandcontract.rollback(**kw)
    assert rolled.result is not None and rolled.result.after.live == "blue"
    assert sample(haproxy.url, 20) == {"blue": 20}
    assert expandcontract.switch("blue", **kw).result is not None  # a no-op switch back works too
    # --check is the health URL of the color traffic goes back to (here a dead one).
    with pytest.raises(SwitchError, match=r"blue's check http://127.0.0.1:\d+/health failed before any traffic moved"):
        expandcontract.rollback(check=colors.health_url("green"), **kw)


def test_check_url_must_name_the_color(tmp_path: Path) -> None:
    kw = _kw(tmp_path, {"backend": "file", "path": str(tmp_path / "w.json"), "check-url": "http://green:8080/health"})
    with pytest.raises(ConfigError, match="names no color"):
        expandcontract.switch("green", **kw)
    kw = _kw(tmp_path, {"backend": "file", "path": str(tmp_path / "w.json"), "check-url": "http://{color}.x:1/h"})
    with pytest.raises(SwitchError, match=r"green's check http://green.x:1/h failed before any traffic moved"):
        expandcontract.switch("green", **kw)


def test_durations_are_accepted_and_bad_ones_are_config_errors(tmp_path: Path) -> None:
    kw = _kw(tmp_path, {"backend": "file", "path": str(tmp_path / "w.json"), "verify-timeout": "5s"})
    assert expandcontract.switch("green", **kw).result is not None
    bad = {"url": kw["url"], "project": kw["project"]}
    bad["settings"] = settings_from_mapping(
        {"switch": {"default": {"backend": "file", "path": str(tmp_path / "w.json"), "verify-timeout": "soon"}}}
    )
    with pytest.raises(ConfigError, match=r"switch.default.verify-timeout must be a duration"):
        expandcontract.switch("blue", **bad)


# --- configuration mistakes: exit 2, nothing moved ----------------------------------------


def test_an_unknown_haproxy_server_is_a_configuration_error(haproxy: Haproxy, tmp_path: Path) -> None:
    kw = _kw(tmp_path, {**_runtime(haproxy), "servers": {"blue": "blue", "green": "greem"}})
    unknown = r"HAProxy has no server app/greem \(for green\); it has blue, green"
    with pytest.raises(ProxyConfigError, match=unknown) as e:
        expandcontract.switch("green", **kw)
    assert e.value.exit_code == 2
    assert "put back" not in str(e.value) and "rolling back" not in str(e.value)
    assert sample(haproxy.url, 10) == {"blue": 10}


def test_canary_of_the_live_color_is_refused_unless_forced(haproxy: Haproxy, tmp_path: Path) -> None:
    """Measured: `ec canary blue --weight 10` on the live color sent 90% to the draining one."""
    kw = _kw(tmp_path, _runtime(haproxy))
    with pytest.raises(ConfigError, match="blue is the live color"):
        expandcontract.canary("blue", 10, **kw)
    assert sample(haproxy.url, 20) == {"blue": 20}
    expandcontract.canary("green", 10, **kw)
    expandcontract.canary("green", 50, **kw)  # a canary in progress may move on
    shares = sample(haproxy.url, 400)
    assert 150 <= shares["green"] <= 250


def test_nginx_extra_may_not_add_servers(nginx: Nginx, colors: ColorServers, tmp_path: Path) -> None:
    config = _nginx(nginx, colors, **{"probe-url": nginx.url, "extra": ["server 127.0.0.1:9 backup;"]})
    kw = _kw(tmp_path, config)
    with pytest.raises(ConfigError, match="ec writes the server lines itself"):
        expandcontract.switch("green", **kw)
    ok = _nginx(nginx, colors, **{"probe-url": nginx.url, "extra": ["keepalive 16;"]})
    assert expandcontract.switch("green", **_kw(tmp_path, ok)).result is not None
    assert "keepalive 16;" in nginx.upstream.read_text()


def test_rewritten_proxy_files_keep_mode_and_owner(
    haproxy: Haproxy, nginx: Nginx, colors: ColorServers, tmp_path: Path
) -> None:
    for path in (haproxy.config, nginx.upstream):
        path.chmod(0o644)
        if os.geteuid() == 0:
            os.chown(path, 65534, 65534)
    kw = _kw(tmp_path / "h", _config(haproxy))
    expandcontract.switch("green", **kw)
    kw = _kw(tmp_path / "n", _nginx(nginx, colors, **{"probe-url": nginx.url}))
    expandcontract.switch("green", **kw)
    for path in (haproxy.config, nginx.upstream):
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o644, path
        if os.geteuid() == 0:
            assert (info.st_uid, info.st_gid) == (65534, 65534), path


def test_a_state_file_failure_after_the_move_is_recorded_and_said(haproxy: Haproxy, tmp_path: Path) -> None:
    """Measured: exit 2 with traffic moved and nothing recorded."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    kw = _kw(tmp_path, _runtime(haproxy, **{"state-file": str(blocker / "state.srv")}))
    with pytest.raises(SwitchError, match="traffic moved to blue 0%, green 100% and was recorded, but saving") as e:
        expandcontract.switch("green", **kw)
    assert e.value.exit_code == 1
    assert _ledger_weights(kw) == {"blue": 0, "green": 100}
    assert [e.action for e in expandcontract.history(**kw)[-2:]] == ["switch", "switch-persist-failed"]


def test_a_failed_put_back_is_recorded_as_such(tmp_path: Path) -> None:
    """A load balancer that half-applies the switch, then ignores the put-back: both failures
    are said, and recorded as a failed rollback."""
    state = tmp_path / "lb.json"
    state.write_text('{"weights": {"blue": 100, "green": 0}}')
    once = tmp_path / "applied-once"
    script = (
        "import sys, pathlib; sys.stdin.read(); flag = pathlib.Path(sys.argv[1]);"
        "flag.exists() or (flag.write_text('x'), pathlib.Path(sys.argv[2]).write_text("
        '\'{"weights": {"blue": 30, "green": 70}}\'))'
    )
    apply = [sys.executable, "-c", script, str(once), str(state)]
    observe = [sys.executable, "-c", f"print(open({str(state)!r}).read())"]
    kw = _kw(tmp_path, {"backend": "command", "apply": apply, "observe": observe, "verify-timeout": "300ms"})
    events = len(expandcontract.history(limit=500, **kw))
    with pytest.raises(SwitchError, match=r"putting traffic back to blue 100%, green 0% FAILED") as e:
        expandcontract.switch("green", **kw)
    assert e.value.restored is False and e.value.exit_code == 1
    assert "the proxy shows blue 30%, green 70%" in str(e.value)
    assert _actions(kw, events) == ["switch-attempt", "switch-rollback-failed"]
    assert expandcontract.history(**kw)[-1].details["observed"] == {"blue": 30, "green": 70}


# --- one switch at a time ------------------------------------------------------------------


def _race(kw: dict[str, Any], first: str, second: str) -> list[BaseException | None]:
    barrier = threading.Barrier(2)
    errors: list[BaseException | None] = [None, None]

    def run(i: int, color: str) -> None:
        barrier.wait()
        try:
            expandcontract.switch(color, **kw)
        except ExpandContractError as error:
            errors[i] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def _races(kw: dict[str, Any], observe: Any, n: int = 20) -> None:
    for i in range(n):
        first, second = ("blue", "green") if i % 2 else ("green", "blue")
        errors = _race(kw, first, second)
        assert errors == [None, None], errors
        shown = observe().weights()
        assert _ledger_weights(kw) == shown, f"race {i}: ledger and proxy disagree"
        assert sorted(shown.values()) == [0, 100]


def test_concurrent_runtime_switches_never_diverge(haproxy: Haproxy, postgres_url: Any, tmp_path: Path) -> None:
    kw = _kw(tmp_path, _runtime(haproxy), url=str(postgres_url.render_as_string(hide_password=False)))
    backend = HaproxyRuntimeBackend(str(haproxy.socket), "app", {"blue": "blue", "green": "green"})
    with Load(haproxy.url, keep_alive=2, close=1) as load:
        _races(kw, backend.observe)
    assert load.failures() == []


def test_concurrent_config_reload_switches_never_diverge(
    haproxy: Haproxy, colors: ColorServers, tmp_path: Path
) -> None:
    """Measured: two overlapping -sf reloads left a HAProxy in no pidfile serving its old config."""
    kw = _kw(tmp_path, _config(haproxy))
    backend = HaproxyConfigBackend(
        str(haproxy.config),
        "app",
        {"blue": "blue", "green": "green"},
        pidfile=str(haproxy.pidfile),
        socket_address=str(haproxy.socket),
    )
    with Load(haproxy.url, keep_alive=1, close=2) as load:
        _races(kw, backend.observe)
    assert load.failures() == []
    haproxy.pids.update(backend.serving_processes())
    # Old processes finish their connections and exit: one process serves the config.
    deadline = time.monotonic() + 15
    while len(backend.serving_processes()) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(backend.serving_processes()) == 1
    last = backend.observe().live
    assert sample(haproxy.url, 40) == {last: 40}


def test_concurrent_nginx_switches_never_diverge(nginx: Nginx, colors: ColorServers, tmp_path: Path) -> None:
    kw = _kw(tmp_path, _nginx(nginx, colors, **{"probe-url": nginx.url}))
    from expandcontract.traffic.nginx import NginxUpstreamBackend

    backend = NginxUpstreamBackend(
        str(nginx.upstream), "app", {c: f"127.0.0.1:{colors.ports[c]}" for c in ("blue", "green")}, str(nginx.config)
    )
    with Load(nginx.url, keep_alive=0, close=2) as load:
        _races(kw, backend.observe)
    assert load.failures() == []


def test_retire_racing_a_switch_never_leaves_traffic_on_a_retired_color(
    haproxy: Haproxy, postgres_url: Any, tmp_path: Path
) -> None:
    kw = _kw(tmp_path, _runtime(haproxy), url=str(postgres_url.render_as_string(hide_password=False)))
    backend = HaproxyRuntimeBackend(str(haproxy.socket), "app", {"blue": "blue", "green": "green"})
    for i in range(20):
        expandcontract.deploy("blue", version=f"v{i}", **kw)
        if backend.observe().live != "green":
            expandcontract.switch("green", **kw)
        barrier = threading.Barrier(2)
        calls = [lambda: expandcontract.retire("blue", **kw), lambda: expandcontract.switch("blue", **kw)]
        threads = [threading.Thread(target=_after, args=(barrier, call)) for call in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        blue = next(c.state for c in expandcontract.status(**kw).colors if c.state.color == "blue")
        shown = backend.observe()
        if blue.state == "retired":
            assert not shown.carries_traffic("blue"), f"race {i}: blue retired but the proxy sends it traffic"
        assert _ledger_weights(kw) == shown.weights(), f"race {i}"


def _after(barrier: threading.Barrier, call: Any) -> None:
    barrier.wait()
    with contextlib.suppress(ExpandContractError):  # one of the two is refused: that is the point
        call()


def test_a_second_traffic_change_waits_or_refuses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    kw = _kw(tmp_path, {"backend": "file", "path": str(tmp_path / "w.json")})
    target = resolve_target(**kw)
    with traffic_lock(target):
        with pytest.raises(ConcurrentRunError, match="holds the traffic lock for environment 'default'"):
            expandcontract.switch("green", wait=0.2, **kw)
        assert "waiting up to 0.2s for another ec traffic change" in caplog.text
        with pytest.raises(ConcurrentRunError):
            expandcontract.retire("blue", wait=0.1, **kw)
    assert expandcontract.switch("green", wait=0, **kw).result is not None


# --- ledger and proxy disagree -------------------------------------------------------------


def test_status_and_the_gate_see_a_ledger_proxy_mismatch(haproxy: Haproxy, tmp_path: Path) -> None:
    write_revision(tmp_path / "proj" / "versions", "r0", "pass")
    write_revision(tmp_path / "proj" / "versions", "r1", "pass", down="r0")
    write_revision(tmp_path / "proj" / "versions", "r2", "pass", down="r1", extra='phase = "contract"\n')
    kw = _kw(tmp_path, _runtime(haproxy))
    expandcontract.deploy("blue", version="v1", expects=["r0"], **kw)  # built before r1's expand
    assert expandcontract.expand(**kw).applied == ["r0", "r1"]  # r2 waits for blue
    expandcontract.switch("green", **kw)
    expandcontract.retire("blue", **kw)
    assert expandcontract.status(**kw).exit_code == 0
    # Someone moves traffic by hand, behind ec's back.
    HaproxyRuntimeBackend(str(haproxy.socket), "app", {"blue": "blue", "green": "green"})._run(
        ["set server app/blue state ready", "set weight app/blue 100", "set server app/green state drain"]
    )
    status = expandcontract.status(**kw)
    assert status.traffic_mismatch == [
        "blue is retired, recorded at 0% but the proxy sends it 100%",
        "green is live, recorded at 100% but the proxy sends it 0%",
    ]
    assert status.exit_code == 1 and status.verdict.startswith("MISMATCH")
    decision = status.pending_contract[0]
    assert not decision.open
    assert any("retired, but the proxy still sends it 100%" in b.reason for b in decision.blockers)


def test_a_reload_without_socket_handover_still_happens(
    haproxy: Haproxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`-x` needs `expose-fd listeners` on the stats socket; without it the reload must not fail."""
    text = haproxy.config.read_text().replace(" expose-fd listeners", "")
    haproxy.config.write_text(text)
    haproxy.reload()  # the running process now has a socket without fd passing
    kw = _kw(tmp_path, _config(haproxy))
    outcome = expandcontract.switch("green", **kw)
    assert outcome.result is not None and outcome.result.after.live == "green"
    assert "expose-fd listeners" in caplog.text
    assert sample(haproxy.url, 20) == {"green": 20}
