"""Every write path keeps devices, FIFOs and symlinks as they are (measured: `ec lint -o /dev/null`
as root replaced the device with a regular 0600 file). The tests make their own device node
and FIFO under tmp_path: no test writes to a system path."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandcontract.cli import main
from expandcontract.errors import ConfigError
from expandcontract.fileio import write_text
from expandcontract.traffic.file import FileBackend
from expandcontract.traffic.haproxy import HaproxyRuntimeBackend
from tests.proxies import Haproxy

EXAMPLE = Path(__file__).parent.parent / "examples" / "rename-column"


@pytest.fixture
def null_device(tmp_path: Path) -> Path:
    """A character device like /dev/null (major 1, minor 3), owned by this test."""
    path = tmp_path / "null"
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root (CI runs as root)")
    path.chmod(0o666)  # mknod applies the umask
    return path


def _is_char_device(path: Path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


def test_a_device_is_written_into_never_replaced(null_device: Path) -> None:
    write_text(null_device, "report\n")
    assert _is_char_device(null_device)
    assert stat.S_IMODE(os.lstat(null_device).st_mode) == 0o666


def test_a_symlink_to_a_device_keeps_both(null_device: Path, tmp_path: Path) -> None:
    link = tmp_path / "out.sarif"
    link.symlink_to(null_device)
    write_text(link, "{}")
    assert link.is_symlink() and _is_char_device(null_device)


def test_a_fifo_is_written_into(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_text(fifo, "hello\n")
    reader.join(5)
    assert received == ["hello\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlinked_file_is_replaced_at_its_target_keeping_mode_and_owner(tmp_path: Path) -> None:
    real = tmp_path / "conf" / "haproxy.cfg"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(real, 65534, 65534)
    link = tmp_path / "haproxy.cfg"
    link.symlink_to(real)
    write_text(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    info = real.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (65534, 65534)


def test_a_new_file_gets_the_umask_mode_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = write_text(tmp_path / "sub" / "report.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_dangling_symlinks_and_directories_are_clear_errors(tmp_path: Path) -> None:
    dangling = tmp_path / "gone"
    dangling.symlink_to(tmp_path / "missing" / "file")
    with pytest.raises(ConfigError, match=r"is a symlink to .*, which does not exist"):
        write_text(dangling, "x")
    with pytest.raises(ConfigError, match="is a directory"):
        write_text(tmp_path, "x")


def test_ec_lint_output_onto_a_device_keeps_the_device(null_device: Path) -> None:
    result = CliRunner().invoke(main, ["lint", str(EXAMPLE), "--format", "sarif", "-o", str(null_device)])
    assert result.exit_code == 0, result.output
    assert _is_char_device(null_device)


def test_ec_lint_output_onto_a_device_in_a_real_process(null_device: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "expandcontract.cli", "lint", str(EXAMPLE), "-o", str(null_device)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert _is_char_device(null_device)


def test_traffic_write_paths_keep_a_device(null_device: Path, tmp_path: Path, haproxy: Haproxy) -> None:
    link = tmp_path / "weights.json"
    link.symlink_to(null_device)
    FileBackend(link).apply({"blue": 0, "green": 100})  # the file backend's weights file
    assert _is_char_device(null_device)
    backend = HaproxyRuntimeBackend(str(haproxy.socket), "app", {"blue": "blue"}, state_file=str(null_device))
    backend.persist()  # the HAProxy state file
    assert _is_char_device(null_device)


def test_only_the_write_helper_replaces_files() -> None:
    """Every write path goes through fileio.write_text (the lint cache writes only files it
    names itself, inside its own folder)."""
    package = Path(__file__).parent.parent / "expandcontract"
    users = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "os.replace(" in path.read_text(encoding="utf-8") or "os.rename(" in path.read_text(encoding="utf-8")
    )
    assert users == ["fileio.py", "linter/cache.py"]
