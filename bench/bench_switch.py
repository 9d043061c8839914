"""Blue -> green switches under load, per backend (printed figures, never asserted).

For each backend: requests sent during the switch window, failed requests (keep-alive and
new-connection clients separately), and the time from the call to the last response from
the old color; then the same with green's app dead (the switch must be refused, costing no
request on HAProxy and, with a check URL, on nginx). Targets: 0 failed on the runtime API and
on new connections everywhere; keep-alive drops per reload reported. Time to 100% includes the
wait for green's first fresh passing health check (HAProxy `inter 300ms` here).

Everything runs on 127.0.0.1: two color servers, HAProxy and nginx started here and stopped
by PID; each load loop is bounded in count and time.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from expandcontract.traffic.base import SwitchError
from expandcontract.traffic.haproxy import HaproxyConfigBackend, HaproxyRuntimeBackend
from expandcontract.traffic.nginx import NginxUpstreamBackend
from expandcontract.traffic.switcher import set_weights
from tests.proxies import ColorServers, Load, color_servers, running_haproxy, running_nginx

RUNS = 3


def measure(url: str, backend: object, keep_alive: bool, colors: ColorServers, dead: bool) -> tuple[int, int, float]:
    clients = {"keep_alive": 2, "close": 0} if keep_alive else {"keep_alive": 0, "close": 2}
    checks = {"green": colors.health_url("green")} if dead and isinstance(backend, NginxUpstreamBackend) else None
    if dead:
        colors.kill("green")
    with Load(url, max_seconds=20, pace=0.002, **clients) as load:
        time.sleep(1.0)
        start = time.monotonic()
        try:
            set_weights(backend, {"green": 100}, verify_timeout=10, checks=checks)  # type: ignore[arg-type]
        except SwitchError:
            if not dead:
                raise
        time.sleep(1.0)
    window = [(t, o) for t, o in load.results if t >= start - 1.0]
    failed = sum(1 for _, o in window if o not in ("blue", "green"))
    last_blue = max((t for t, o in window if o == "blue" and t >= start), default=start)
    return len(window), failed, last_blue - start


def main() -> None:
    haproxy, nginx = shutil.which("haproxy") or "/usr/sbin/haproxy", shutil.which("nginx") or "/usr/sbin/nginx"
    print(f"{'backend':<16} {'green':<6} {'clients':<11} {'requests':>8} {'failed':>6} {'to 100% green':>14}")
    for name, dead, keep_alive in (
        (n, d, k) for n in ("haproxy-runtime", "haproxy-config", "nginx") for d in (False, True) for k in (True, False)
    ):
        figures = []
        for _ in range(RUNS):
            with tempfile.TemporaryDirectory(prefix="ec-bench-") as tmp, color_servers() as colors:
                directory = Path(tmp) / "proxy"
                if name == "nginx":
                    with running_nginx(nginx, colors, directory) as proxy:
                        servers = {c: f"127.0.0.1:{p}" for c, p in colors.ports.items()}
                        backend = NginxUpstreamBackend(
                            str(proxy.upstream), "app", servers, str(proxy.config), nginx=nginx, probe_url=proxy.url
                        )
                        figures.append(measure(proxy.url, backend, keep_alive, colors, dead))
                else:
                    with running_haproxy(haproxy, colors, directory) as hp:
                        servers = {"blue": "blue", "green": "green"}
                        backend = (
                            HaproxyRuntimeBackend(str(hp.socket), "app", servers)
                            if name == "haproxy-runtime"
                            else HaproxyConfigBackend(
                                str(hp.config),
                                "app",
                                servers,
                                haproxy=haproxy,
                                pidfile=str(hp.pidfile),
                                socket_address=str(hp.socket),
                            )
                        )
                        hp.state_file.unlink(missing_ok=True)
                        figures.append(measure(hp.url, backend, keep_alive, colors, dead))
                        hp._remember()
        requests = sum(f[0] for f in figures) // RUNS
        failed = sum(f[1] for f in figures)
        worst = max(f[2] for f in figures)
        label = "keep-alive" if keep_alive else "new conns"
        to_green = "refused" if dead else f"{worst * 1000:.0f} ms"
        print(
            f"{name:<16} {'dead' if dead else 'up':<6} {label:<11} {requests:>8} {failed:>6} {to_green:>14}"
            f"   ({RUNS} runs; failed summed, time worst)"
        )


if __name__ == "__main__":
    main()
