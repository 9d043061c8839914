"""One exception tree: every error the library raises on purpose derives from
:class:`ExpandContractError` and carries the data a caller needs, not just text."""

from __future__ import annotations

from pathlib import Path


class ExpandContractError(Exception):
    """Root of every error raised by expandcontract on purpose."""

    #: Exit code the CLI uses when this error ends a command.
    exit_code = 2


class ConfigError(ExpandContractError):
    """The configuration (pyproject, --config file or command line) is invalid."""

    def __init__(self, message: str, *, path: Path | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{message}")


class ProjectNotFoundError(ExpandContractError):
    """A path given to lint is neither an Alembic project, a versions directory nor a .sql file."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class RevisionGraphError(ExpandContractError):
    """The revision files do not form a usable history (duplicate ids, missing parents, cycles)."""

    def __init__(self, message: str, *, revisions: tuple[str, ...] = ()) -> None:
        self.revisions = revisions
        super().__init__(message)


class UnknownRuleError(ConfigError):
    """A rule code or name in --select/--ignore/config does not exist."""

    def __init__(self, selector: str) -> None:
        self.selector = selector
        super().__init__(f"unknown rule {selector!r} (run `ec rules` for the catalog)", key=selector)


class GitError(ExpandContractError):
    """`--since` needs git and a valid ref."""

    def __init__(self, ref: str, detail: str) -> None:
        self.ref = ref
        self.detail = detail
        super().__init__(f"cannot compute changes since {ref!r}: {detail}")
