"""nox sessions: tests, lint, typecheck, docs, bench (`nox -l` lists them)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (database tests need EC_TEST_POSTGRES_URL / EC_TEST_MYSQL_URL, or Docker)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".", "mypy>=1.10")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Fail if the generated pages (rules, CLI) are stale; build the site with warnings as errors."""
    session.install("-e", ".[docs]")
    session.run("python", "-m", "expandcontract._docgen", "--check")
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        str(session.create_tmp()) + "/site",
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Print performance figures: lint throughput vs squawk, 500-revision cold/warm lint, start-up,
    and write availability during migrations (needs EC_BENCH_POSTGRES_URL or EC_TEST_POSTGRES_URL)."""
    session.install("-e", ".[postgresql,mysql]", "squawk-cli")
    session.run("python", "bench/bench_lint.py", *session.posargs)
    session.run("python", "bench/bench_runner.py")
    session.run("python", "bench/bench_verify.py")
    session.run("python", "bench/bench_switch.py")  # needs haproxy and nginx installed
    session.run("python", "bench/bench_online.py")  # needs EC_BENCH_MYSQL_URL and percona-toolkit
