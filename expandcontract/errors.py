"""One exception tree: every error the library raises on purpose derives from
:class:`ExpandContractError` and carries the data a caller needs, not just text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class ExpandContractError(Exception):
    """Root of every error raised by expandcontract on purpose."""

    #: Exit code the CLI uses when this error ends a command.
    exit_code = 2

    def details(self) -> dict[str, object]:
        """What the error knows, as JSON-ready data (``--format json`` prints it)."""
        return {}

    def to_dict(self) -> dict[str, object]:
        return {"kind": type(self).__name__, "message": str(self), "exit_code": self.exit_code, **self.details()}


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


class DatabaseError(ExpandContractError):
    """The database could not be reached or answered with an error ec cannot handle."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url  # already rendered without its password
        self.detail = detail
        super().__init__(f"database {url}: {detail}")


class LedgerMissingError(ExpandContractError):
    """The ledger tables do not exist in this database (run `ec init`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"no expandcontract ledger in {url}; run `ec init` first")


class UnknownColorError(ExpandContractError):
    def __init__(self, environment: str, color: str, known: tuple[str, ...], *, hint: str = "") -> None:
        self.environment = environment
        self.color = color
        self.known = known
        listed = ", ".join(known) if known else "none yet; `ec deploy COLOR` registers one"
        super().__init__(f"no color {color!r} in environment {environment!r} (known: {listed}){hint}")


class RetirementRefused(ExpandContractError):
    """`ec retire` found the color still in use; ``reasons`` says how."""

    exit_code = 1

    def details(self) -> dict[str, object]:
        return self._details

    def __init__(self, environment: str, color: str, reasons: list[str]) -> None:
        self.environment = environment
        self.color = color
        self.reasons = reasons
        self._details: dict[str, object] = {"environment": environment, "color": color, "reasons": reasons}
        super().__init__(
            f"refusing to retire {color} in {environment}: "
            + "; ".join(reasons)
            + ". Fix that, or override with --force --reason '...' (recorded in the event log)."
        )


class GateClosed(ExpandContractError):
    """A contract revision would run while a color that needs the old schema is not retired."""

    exit_code = 1

    def details(self) -> dict[str, object]:
        return {"decisions": [d.to_dict() if hasattr(d, "to_dict") else str(d) for d in self.decisions]}

    def __init__(self, decisions: Sequence[object]) -> None:
        self.decisions = list(decisions)
        lines = []
        for decision in decisions:
            lines.append(str(decision))
        super().__init__("contract gate is closed:\n" + "\n".join(f"  {line}" for line in lines))


class DowngradeRefused(ExpandContractError):
    """A downgrade would revert revisions that a color still running (not retired) needs:
    ``reverted`` are the revisions it would undo, ``blockers`` one line per such color."""

    exit_code = 1

    def details(self) -> dict[str, object]:
        return {"reverted": self.reverted, "blockers": self.blockers}

    def __init__(self, reverted: Sequence[str], blockers: Sequence[str]) -> None:
        self.reverted = list(reverted)
        self.blockers = list(blockers)
        super().__init__(
            "downgrade refused: "
            + "; ".join(self.blockers)
            + ". Retire the color first, or force it with a reason (recorded): `ec downgrade TARGET --reason "
            "'why'`, or `-x ec-force-downgrade='why'` under alembic"
        )


class ConcurrentRunError(ExpandContractError):
    """Another ec process holds a lock: the migration lock (one per database, shared by every
    environment that uses it) or an environment's traffic lock."""

    def __init__(self, environment: str, waited: float, kind: str = "migration") -> None:
        self.environment = environment
        self.waited = waited
        self.kind = kind
        scope = f"environment {environment!r}" if kind == "traffic" else "this database (all environments)"
        super().__init__(f"another ec run holds the {kind} lock for {scope}; gave up after {waited:g}s")


class MigrationFailed(ExpandContractError):
    """A revision failed; ``partial`` is True when some of its statements were already applied
    (MySQL/MariaDB DDL commits as it goes), so the database needs a look before any retry.
    Exit code 4: distinct from a refusal (1, nothing ran) and a usage error (2)."""

    exit_code = 4

    def details(self) -> dict[str, object]:
        return {"revision": self.revision, "detail": self.detail, "partial": self.partial, "attempts": self.attempts}

    def __init__(self, revision: str, detail: str, *, partial: bool, attempts: int = 1) -> None:
        self.revision = revision
        self.detail = detail
        self.partial = partial
        self.attempts = attempts
        tail = (
            " Some of its statements were applied before the failure; `ec status` shows it in progress. Inspect "
            "the schema, finish or undo those statements by hand, then `ec resolve REVISION`."
            if partial
            else " Nothing of it was applied."
        )
        super().__init__(f"revision {revision} failed after {attempts} attempt(s): {detail}.{tail}")


class InterruptedRunError(ExpandContractError):
    """A revision's earlier run started and never finished (the process was killed, the host
    went away): what it did is in the database but the version table does not say so, so
    running it again could do twice what it already did."""

    exit_code = 1

    def details(self) -> dict[str, object]:
        return {"revision": self.revision, "found": self.debris, "steps": self.steps}

    def __init__(self, revision: str, started: str, actor: str, steps: list[str], debris: list[str]) -> None:
        self.revision = revision
        self.steps = steps
        self.debris = debris
        lines = [
            f"revision {revision} was started by {actor} at {started} and never finished; what it did before "
            "it stopped may be in the database, so ec will not run it again blindly."
        ]
        lines += [f"  found: {d}" for d in debris]
        lines.append("Do one of:")
        lines += [f"  - {s}" for s in steps]
        super().__init__("\n".join(lines))


class UsageUnknown(ExpandContractError):
    """The database keeps no statement statistics, so ec cannot tell whether anything still runs
    the SQL a contract revision breaks; the message says how to turn them on."""

    def __init__(self, how: str) -> None:
        super().__init__(f"cannot check which statements still run: {how}")


class UsageFound(ExpandContractError):
    """Statements still run that use what a contract revision removes (``ec verify --usage``)."""

    exit_code = 1

    def __init__(self, revision: str, uses: Sequence[object]) -> None:
        self.revision = revision
        self.uses = list(uses)
        lines = [f"  {getattr(u, 'calls', '?')} call(s): {getattr(u, 'text', u)}" for u in self.uses[:5]]
        super().__init__(
            f"{revision} removes what these statements still use (a job or a query no color owns?):\n"
            + "\n".join(lines)
            + "\nStop them, or run anyway with --force-usage --reason '...' (recorded)"
        )

    def details(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "uses": [u.to_dict() if hasattr(u, "to_dict") else str(u) for u in self.uses],
        }
