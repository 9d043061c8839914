"""Blue-green and canary switching through real HAProxy and nginx, under a bounded load."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import expandcontract
from expandcontract.config import Settings, settings_from_mapping
from expandcontract.errors import ConfigError, RetirementRefused
from expandcontract.ledger.commands import record_weights, resolve_target
from expandcontract.traffic.base import ProxyConfigError, SwitchError, check_name
from expandcontract.traffic.command import CommandBackend
from expandcontract.traffic.file import FileBackend
from expandcontract.traffic.haproxy import HaproxyRuntimeBackend, HaproxySocket
from expandcontract.traffic.switcher import set_weights
from tests.helpers import write_revision
from tests.proxies import Haproxy, Load, Nginx, sample


def _project(tmp_path: Path) -> Path:
    versions = tmp_path / "proj" / "versions"
    write_revision(versions, "r1", "pass")
    return versions


def _kw(tmp_path: Path, switch: dict[str, Any], *, url: str | None = None) -> dict[str, Any]:
    """Ledger keywords for a blue (live) / green (deployed) environment switched by ``switch``."""
    versions = tmp_path / "proj" / "versions"
    project = versions if versions.exists() else _project(tmp_path)
    settings: Settings = settings_from_mapping({"switch": {"default": switch}})
    kw = {"url": url or f"sqlite:///{tmp_path / 'ledger.db'}", "project": project, "settings": settings}
    expandcontract.deploy("blue", version="v1", **kw)
    expandcontract.deploy("green", version="v2", **kw)
    record_weights(resolve_target(**kw), {"blue": 100}, action="switch")
    return kw


def _runtime(proxy: Haproxy, **extra: Any) -> dict[str, Any]:
    return {
        "backend": "haproxy-runtime",
        "socket": str(proxy.socket),
        "backend-name": "app",
        "servers": {"blue": "blue", "green": "green"},
        **extra,
    }


def test_runtime_api_switch_loses_no_request(haproxy: Haproxy, tmp_path: Path) -> None:
    kw = _kw(tmp_path, _runtime(haproxy))
    with Load(haproxy.url) as load:
        time.sleep(0.5)
        outcome = expandcontract.switch("green", **kw)
        returned = time.monotonic()
        time.sleep(0.5)
    assert load.failures() == []
    assert len(load.results) > 100
    assert load.counts(since=returned + 0.1).keys() == {"green"}
    assert outcome.result is not None and outcome.result.after.live == "green"
    event = [e for e in expandcontract.history(**kw) if e.action == "switch"][-1]
    assert event.details["observed"] == {"blue": 0, "green": 100}
    assert event.details["before"] == {"blue": 100, "green": 0}


def test_canary_weights_and_rollback(haproxy: Haproxy, tmp_path: Path) -> None:
    kw = _kw(tmp_path, _runtime(haproxy))
    expandcontract.canary("green", 10, **kw)
    shares = sample(haproxy.url, 1000)
    assert set(shares) == {"blue", "green"}
    assert 70 <= shares["green"] <= 130  # 10% of 1000, within a few percent
    rolled = expandcontract.rollback(**kw)
    assert rolled.result is not None and rolled.result.after.weights() == {"blue": 100, "green": 0}
    assert sample(haproxy.url, 100) == {"blue": 100}
    status = expandcontract.status(**kw)
    assert {c.state.color: (c.state.state, c.state.weight) for c in status.colors} == {
        "blue": ("live", 100),
        "green": ("draining", 0),
    }  # it took canary traffic


def test_runtime_switch_survives_a_reload_with_saved_state(haproxy: Haproxy, tmp_path: Path) -> None:
    kw = _kw(tmp_path, _runtime(haproxy, **{"state-file": str(haproxy.state_file)}))
    expandcontract.switch("green", **kw)
    assert haproxy.state_file.read_text().startswith("1\n")
    haproxy.reload()  # the config file still says blue live, green disabled
    assert sample(haproxy.url, 40) == {"green": 40}


def test_config_reload_backend(haproxy: Haproxy, tmp_path: Path) -> None:
    config = {
        "backend": "haproxy-config",
        "config": str(haproxy.config),
        "backend-name": "app",
        "servers": {"blue": "blue", "green": "green"},
        "pidfile": str(haproxy.pidfile),
        "socket": str(haproxy.socket),
        "verify-timeout": 10,
    }
    kw = _kw(tmp_path, config)
    haproxy.state_file.unlink(missing_ok=True)
    with Load(haproxy.url, keep_alive=1, close=2) as load:
        time.sleep(0.5)
        expandcontract.switch("green", **kw)
        returned = time.monotonic()
        time.sleep(0.5)
    haproxy._remember()
    text = haproxy.config.read_text()
    assert "server green 127.0.0.1" in text and "weight 100" in text
    assert next(line for line in text.splitlines() if "server blue" in line).endswith("disabled")
    assert load.counts(since=returned + 0.3).keys() == {"green"}
    # New connections never fail; with option idle-close-on-response keep-alive ones do not either.
    assert load.failures() == []


def test_nginx_backend(nginx: Nginx, colors: Any, tmp_path: Path) -> None:
    config = {
        "backend": "nginx",
        "upstream-file": str(nginx.upstream),
        "upstream": "app",
        "servers": {"blue": f"127.0.0.1:{colors.ports['blue']}", "green": f"127.0.0.1:{colors.ports['green']}"},
        "nginx-conf": str(nginx.config),
        "nginx": nginx.binary,
        "probe-url": nginx.url,
        "verify-timeout": 10,
    }
    kw = _kw(tmp_path, config)
    with Load(nginx.url, keep_alive=0, close=2) as load:
        time.sleep(0.5)
        outcome = expandcontract.switch("green", **kw)
        returned = time.monotonic()
        time.sleep(0.5)
    assert load.failures() == []
    assert load.counts(since=returned).keys() == {"green"}  # confirmed by probing before returning
    assert outcome.result is not None and outcome.result.after.weights() == {"blue": 0, "green": 100}
    expandcontract.canary("blue", 10, **kw)
    shares = sample(nginx.url, 500)
    assert 30 <= shares["blue"] <= 70


def test_an_invalid_nginx_config_never_reaches_the_running_proxy(nginx: Nginx, colors: Any, tmp_path: Path) -> None:
    config = {
        "backend": "nginx",
        "upstream-file": str(nginx.upstream),
        "upstream": "app",
        "servers": {"blue": f"127.0.0.1:{colors.ports['blue']}", "green": "127.0.0.1:99999"},
        "nginx-conf": str(nginx.config),
        "nginx": nginx.binary,
        "allow-unchecked": True,  # reach nginx -t: the bad address is what is tested
    }
    kw = _kw(tmp_path, config)
    before = nginx.upstream.read_text()
    events = len(expandcontract.history(**kw))
    with pytest.raises(ProxyConfigError, match="does not validate, the running nginx is untouched") as raised:
        expandcontract.switch("green", **kw)
    assert raised.value.exit_code == 2  # a configuration error: nothing moved
    assert nginx.upstream.read_text() == before
    assert sample(nginx.url, 10) == {"blue": 10}
    # The attempt and its refusal are in the log; no switch is recorded.
    assert [e.action for e in expandcontract.history(**kw)[events:]] == ["switch-attempt", "switch-refused"]


def test_an_invalid_haproxy_config_never_reaches_the_running_proxy(haproxy: Haproxy, tmp_path: Path) -> None:
    config = {
        "backend": "haproxy-config",
        "config": str(haproxy.config),
        "backend-name": "app",
        "servers": {"blue": "blue", "green": "green"},
        "pidfile": str(haproxy.pidfile),
        "allow-unchecked": True,
    }
    kw = _kw(tmp_path, config)
    haproxy.config.write_text(haproxy.config.read_text() + "\nbackend broken\n    bogus-keyword 1\n")
    before = haproxy.config.read_text()
    # haproxy -c's own words reach the user (it was hidden by -q).
    with pytest.raises(ProxyConfigError, match=r"does not validate, the running proxy is untouched: .*bogus-keyword"):
        expandcontract.switch("green", **kw)
    assert haproxy.config.read_text() == before
    assert sample(haproxy.url, 10) == {"blue": 10}


def test_failed_verification_puts_traffic_back(haproxy: Haproxy, colors: Any, tmp_path: Path) -> None:
    for server in colors.servers:
        if server.server_address[1] == colors.ports["green"]:
            server.shutdown()
            server.server_close()  # green's app is down: it never comes UP
    backend = HaproxyRuntimeBackend(str(haproxy.socket), "app", {"blue": "blue", "green": "green"}, ready_timeout=1.5)
    with pytest.raises(SwitchError, match=r"green showed no passing health check within 1.5s.*nothing was moved$"):
        set_weights(backend, {"green": 100})
    assert backend.observe().live == "blue"
    assert sample(haproxy.url, 10) == {"blue": 10}


def test_retire_is_refused_while_the_proxy_sends_traffic(haproxy: Haproxy, tmp_path: Path) -> None:
    kw = _kw(tmp_path, _runtime(haproxy))
    # The ledger is told green took over, but the proxy was never changed.
    record_weights(resolve_target(**kw), {"green": 100}, action="switch")
    with pytest.raises(RetirementRefused, match="haproxy-runtime proxy still sends it 100% of new requests"):
        expandcontract.retire("blue", **kw)
    expandcontract.switch("green", **kw)
    expandcontract.retire("blue", **kw)


@pytest.mark.parametrize(
    "name",
    ["blue\nshutdown sessions server app/blue", "app/blue", "blue; disable server app/green", "", "a" * 65, "x y"],
)
def test_names_that_could_inject_are_rejected(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        check_name(name, "server")
    with pytest.raises(ConfigError):
        HaproxyRuntimeBackend("/nonexistent.sock", "app", {"blue": name, "green": "green"})
    with pytest.raises(ConfigError):
        HaproxyRuntimeBackend("/nonexistent.sock", name, {"blue": "blue"})
    with pytest.raises(SwitchError, match="line break"):
        HaproxySocket("/nonexistent.sock").send("show stat\nshutdown sessions server app/blue")


def test_unreachable_socket_is_a_clear_error(tmp_path: Path) -> None:
    backend = HaproxyRuntimeBackend(
        str(tmp_path / "missing.sock"), "app", {"blue": "blue", "green": "green"}, timeout=0.5
    )
    with pytest.raises(SwitchError, match="cannot reach the HAProxy socket"):
        backend.observe()


def test_file_backend_round_trip(tmp_path: Path) -> None:
    kw = _kw(tmp_path, {"backend": "file", "path": str(tmp_path / "weights.json")})
    expandcontract.canary("green", 25, **kw)
    document = json.loads((tmp_path / "weights.json").read_text())
    assert document["weights"] == {"blue": 75, "green": 25} and document["generation"] == 1
    assert FileBackend(tmp_path / "weights.json").observe().weights() == {"blue": 75, "green": 25}
    expandcontract.switch("green", **kw)
    assert expandcontract.rollback(**kw).result.after.weights() == {"blue": 75, "green": 25}  # type: ignore[union-attr]


def test_command_hook_contract(tmp_path: Path) -> None:
    state = tmp_path / "lb.json"
    state.write_text('{"weights": {"blue": 100, "green": 0}}')
    apply = [sys.executable, "-c", f"import sys, pathlib; pathlib.Path({str(state)!r}).write_text(sys.stdin.read())"]
    observe = [sys.executable, "-c", f"print(open({str(state)!r}).read())"]
    kw = _kw(tmp_path, {"backend": "command", "apply": apply, "observe": observe})
    outcome = expandcontract.switch("green", **kw)
    assert outcome.result is not None and outcome.result.after.weights() == {"blue": 0, "green": 100}
    failing = CommandBackend([sys.executable, "-c", "import sys; sys.stderr.write('denied'); sys.exit(3)"], observe)
    with pytest.raises(SwitchError, match="exited 3: denied"):
        failing.apply({"blue": 100, "green": 0})


def test_weights_must_sum_to_100(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "w.json")
    with pytest.raises(ConfigError, match="sum to 100"):
        set_weights(backend, {"blue": 50, "green": 20})
    with pytest.raises(ConfigError, match=r"file backend has no color red \(it knows blue, green\)"):
        set_weights(backend, {"red": 100})


def test_smoke_check_must_pass_before_traffic_moves(haproxy: Haproxy, colors: Any, tmp_path: Path) -> None:
    from tests.proxies import free_port

    kw = _kw(tmp_path, _runtime(haproxy))
    events = len(expandcontract.history(**kw))
    with pytest.raises(SwitchError, match=r"green's check .* failed before any traffic moved"):
        expandcontract.switch("green", check=f"http://127.0.0.1:{free_port()}/health", **kw)
    assert sample(haproxy.url, 10) == {"blue": 10}
    assert [e.action for e in expandcontract.history(**kw)[events:]] == ["switch-attempt", "switch-refused"]
    outcome = expandcontract.switch("green", check=colors.url("green"), **kw)
    assert outcome.result is not None and outcome.result.after.live == "green"


def test_an_undeployed_or_retired_color_gets_no_traffic(tmp_path: Path) -> None:
    from expandcontract.errors import UnknownColorError

    kw = _kw(tmp_path, {"backend": "file", "path": str(tmp_path / "w.json"), "colors": ["blue", "green", "red"]})
    with pytest.raises(UnknownColorError, match="no color 'red'"):
        expandcontract.switch("red", **kw)
    assert FileBackend(tmp_path / "w.json", ("blue", "green", "red")).observe().weights()["red"] == 0
    expandcontract.switch("green", **kw)
    expandcontract.retire("blue", **kw)
    with pytest.raises(ConfigError, match="blue is retired"):
        expandcontract.canary("blue", 10, **kw)
    assert FileBackend(tmp_path / "w.json", ("blue", "green", "red")).observe().weights() == {
        "blue": 0,
        "green": 100,
        "red": 0,
    }


def test_errors_name_the_real_configuration_key(tmp_path: Path) -> None:
    settings = settings_from_mapping({})
    kw = {"url": f"sqlite:///{tmp_path / 'l.db'}", "project": _project(tmp_path), "settings": settings}
    with pytest.raises(ConfigError, match=r"\[tool\.expandcontract\.switch\.default\]"):
        expandcontract.canary("green", 10, **kw)
