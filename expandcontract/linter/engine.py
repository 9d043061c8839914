"""The lint pipeline: load sources, capture changes (cached), run rules, classify, suppress."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from expandcontract.config import Settings, find_config, load_settings
from expandcontract.dialects import Target, normalize_dialect
from expandcontract.errors import ConfigError, GitError
from expandcontract.linter.cache import AnalysisCache
from expandcontract.linter.context import ProjectFacts, UnitContext
from expandcontract.linter.findings import Finding, Report, RevisionSummary, Severity, UnitPhase
from expandcontract.linter.suppression import Suppression, python_suppressions, sql_declared_phase, sql_suppressions
from expandcontract.migrations.loader import RevisionFile, Source, discover
from expandcontract.migrations.worker import CaptureResult, CaptureWorker, capture_environment, shared_worker
from expandcontract.rules import Hit, Rule, all_rules, resolve_selectors
from expandcontract.sql import changes as c
from expandcontract.sql.types import canonical

UNUSED_SUPPRESSION = "EC005"
NO_REASON = "EC006"


def lint(
    paths: Sequence[str | os.PathLike[str]] = (),
    *,
    dialect: str | None = None,
    config: str | os.PathLike[str] | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    extend_select: Sequence[str] | None = None,
    since: str | None = None,
    use_cache: bool = True,
    settings: Settings | None = None,
    progress: Callable[[int, int], None] | None = None,
    schema: str | os.PathLike[str] | None = None,
    url: str | None = None,
    sys_path: Sequence[str | os.PathLike[str]] = (),
) -> Report:
    """Lint Alembic projects, versions directories or .sql files; the engine behind ``ec lint``.

    Args:
        paths: what to lint; default the current directory.
        dialect: ``postgresql``, ``mysql`` or ``mariadb``; overrides the configuration.
        config: a pyproject.toml or TOML file; default the nearest pyproject.toml with
            ``[tool.expandcontract]``.
        select: rule codes, names or code prefixes to run instead of the configured selection.
        ignore: rules to skip, added to the configured ones.
        extend_select: rules to run besides the selection (opt-in rules such as EC501).
        since: a git ref; only revisions added or changed since it are reported.
        use_cache: reuse captured analysis of unchanged files.
        settings: ready-made settings (skips configuration discovery).
        progress: called as ``progress(done, total)`` while revisions missing from the cache are
            analysed (only when there are at least 20 of them).
        schema: a DDL dump (``pg_dump --schema-only``, ``mysqldump --no-data``) describing the
            database before the first linted change; default the ``schema-file`` setting.
        url: a database whose catalog is that starting point instead (read only); its server
            flavor and version apply unless ``dialect`` is given. Default ``schema-url``.
        sys_path: directories revisions import from (the app's helper modules), besides the
            project's ``prepend_sys_path`` and the ``sys-path`` setting.

    Raises:
        ConfigError, ProjectNotFoundError, RevisionGraphError, GitError: bad input.
    """
    targets = [Path(p) for p in paths] or [Path.cwd()]
    if settings is None:
        config_path = Path(config) if config is not None else find_config(targets[0].resolve())
        settings = load_settings(config_path)
    if dialect is not None:
        try:
            settings = replace(settings, dialect=normalize_dialect(dialect))
        except ValueError as error:
            raise ConfigError(str(error), key="dialect") from None
    if select is not None:
        settings = replace(settings, select=tuple(select))
    if ignore is not None:
        settings = replace(settings, ignore=(*settings.ignore, *ignore))
    if extend_select is not None:
        settings = replace(settings, extend_select=(*settings.extend_select, *extend_select))
    # The capture worker outlives this run (see shared_worker): nothing to close here. It is
    # started now, so that it imports Alembic while this process reads the project.
    capturer = _Capturer(settings)
    if any(_may_capture(p) for p in targets):
        capturer.start()
    from expandcontract.schema.sources import starting_point

    starting, settings = starting_point(settings, url=url, schema=schema, dialect_given=dialect is not None)
    enabled = enabled_codes(settings)

    sources = [discover(p) for p in targets]
    extra = [Path(p).resolve() for p in (*settings.sys_path, *sys_path)]
    for source in sources:
        source.sys_path = [*source.sys_path, *(p for p in extra if p not in source.sys_path)]
    changed = _changed_since(since, sources) if since else None
    base = Path.cwd()
    report = Report(dialect=settings.dialect, root=base)
    capturer.settings = settings
    for source in sources:
        cache = AnalysisCache.for_root(source.root, use_cache)
        facts = ProjectFacts(schema=starting.copy()) if starting is not None else ProjectFacts()
        try:
            _lint_source(source, settings, enabled, cache, changed, report, base, capturer, progress, facts)
        finally:
            cache.flush()
    report.findings.sort(key=lambda f: (f.file, f.line, f.code, f.message))
    return report


def classify_revisions(
    revisions: Sequence[RevisionFile],
    settings: Settings,
    *,
    sys_path: Sequence[Path] = (),
    target: Target | None = None,
    root: Path | None = None,
    use_cache: bool = False,
    changes: dict[str, list[c.Change]] | None = None,
    inherit_env: bool = True,
    config_file: Path | None = None,
) -> dict[str, UnitPhase]:
    """What each revision does, judged from its content as ``ec lint`` judges it: ``expand``,
    ``contract``, ``mixed``, ``unknown`` (part of it could not be read) or ``empty``. The runner
    and the env.py guard use it so a revision cannot pass the gate on its declaration alone.
    ``changes``, when given, receives each revision's captured changes."""
    if target is not None:
        versions = {**settings.versions, target.dialect: target.version}
        settings = replace(settings, dialect=target.dialect, versions=versions)
    source = Source(kind="revision", root=root or Path.cwd(), sys_path=list(sys_path), config_file=config_file)
    # No cache by default: a deployed app's directory may be read-only, and a handful of
    # pending revisions is quick to capture.
    cache = AnalysisCache.for_root(source.root, use_cache)
    facts = ProjectFacts()
    out: dict[str, UnitPhase] = {}
    # The runner's revisions are about to run for real anyway: their capture keeps the
    # environment (an app's settings module may need it), but still runs in the worker.
    capturer = _Capturer(settings, inherit_env=inherit_env)
    found = _lookup([r for r in revisions if r.revision is not None], source, settings.target, cache, capturer)
    for rev in revisions:
        if rev.revision is None:
            continue
        unit = _revision_unit(rev, source, settings, found[id(rev)], capturer)
        ctx = _context(unit, settings, facts)
        out[rev.revision] = ctx.phase or "empty"
        if changes is not None:
            changes[rev.revision] = unit.changes
    cache.flush()
    return out


def enabled_codes(settings: Settings) -> set[str]:
    rules = all_rules()
    if settings.select:
        codes = resolve_selectors(settings.select)
    else:
        codes = {r.code for r in rules if not r.opt_in}
    codes |= resolve_selectors(settings.extend_select)
    codes -= resolve_selectors(settings.ignore)
    for code in settings.severity:
        resolve_selectors([code])  # unknown codes in `severity` are an error too
    return codes


def _changed_since(ref: str, sources: list[Source]) -> set[Path]:
    changed: set[Path] = set()
    for root in {s.root for s in sources}:
        try:
            top = _git(root, "rev-parse", "--show-toplevel").strip()
            _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
            names = _git(root, "diff", "--name-only", "--no-renames", ref, "--", ".")
            names += _git(root, "ls-files", "--others", "--exclude-standard", "--full-name", ".")
        except FileNotFoundError:
            raise GitError(ref, "git is not installed") from None
        for name in names.splitlines():
            if name.strip():
                changed.add((Path(top) / name.strip()).resolve())
    return changed


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = result.stderr.strip() or f"git {' '.join(args)} failed"
        if "--verify" in args:
            detail = f"unknown git ref ({detail or 'not found'})"
        raise GitError(args[-1] if "--verify" in args else "HEAD", detail)
    return result.stdout


@dataclass
class _Unit:
    path: Path
    revision: str | None
    declared_phase: str | None
    changes: list[c.Change]
    suppressions: list[Suppression]


def _lint_source(
    source: Source,
    settings: Settings,
    enabled: set[str],
    cache: AnalysisCache,
    changed: set[Path] | None,
    report: Report,
    base: Path,
    capturer: _Capturer,
    progress: Callable[[int, int], None] | None = None,
    facts: ProjectFacts | None = None,
) -> None:
    facts = facts or ProjectFacts()
    target = settings.target
    found = _lookup(source.revisions, source, target, cache, capturer, progress)
    for rev in source.revisions:
        unit = _revision_unit(rev, source, settings, found[id(rev)], capturer)
        _analyse(unit, settings, enabled, facts, report, base, reported=_reported(rev.path, source, changed))
    for sql in source.sql_files:
        text = sql.path.read_text(encoding="utf-8", errors="replace")
        key = cache.key(text.encode(), target.dialect, "sql")
        changes = cache.get(key)
        if changes is None:
            from expandcontract.sql.normalize import parse_sql

            changes = parse_sql(text, target)
            _assign_transactions(changes)
            cache.put(key, changes)
        phase = sql_declared_phase(text)
        if phase not in (None, "expand", "contract"):
            raise ConfigError(f"-- ec: phase={phase} must be expand or contract", path=sql.path, key="phase")
        unit = _Unit(sql.path, None, phase, changes, sql_suppressions(changes))
        _analyse(unit, settings, enabled, facts, report, base, reported=_reported(sql.path, source, changed))


def _may_capture(path: Path) -> bool:
    """Whether linting ``path`` may run revisions (a Python file, or a directory that looks
    like an Alembic project or versions directory)."""
    if path.suffix == ".py":
        return True
    if not path.is_dir():
        return False
    markers = ("alembic.ini", "versions", "migrations", "alembic", "pyproject.toml")
    try:
        return any(entry.suffix == ".py" or entry.name in markers for entry in path.iterdir())
    except OSError:
        return False


def _reported(path: Path, source: Source, changed: set[Path] | None) -> bool:
    if source.only is not None and path.resolve() not in {p.resolve() for p in source.only}:
        return False
    return changed is None or path.resolve() in changed


class _Capturer:
    """Captures through the worker (see :func:`shared_worker`). :meth:`prefetch` captures the
    revisions missing from the cache at once (in parallel); a call then takes the prefetched
    result."""

    def __init__(self, settings: Settings, *, inherit_env: bool = False) -> None:
        self.settings = settings
        self.inherit_env = inherit_env
        self.ready: dict[Path, list[c.Change]] = {}

    def start(self) -> None:
        self._worker().start()

    def _worker(self) -> CaptureWorker:
        env = capture_environment(self.settings.capture_env, inherit=self.inherit_env)
        return shared_worker(env, self.settings.capture_timeout, self.settings.dialect)

    def prefetch(
        self,
        revs: list[RevisionFile],
        target: Target,
        sys_path: list[Path],
        config_file: Path | None = None,
        progress: Callable[[int, int], None] | None = None,
        on_each: Callable[[RevisionFile, CaptureResult], None] | None = None,
    ) -> None:
        """Capture ``revs`` at once; ``on_each`` sees each result as it arrives (the cache is
        written then, while the worker is still busy)."""
        done = 0

        def on_result(index: int, result: CaptureResult) -> None:
            nonlocal done
            done += 1
            if on_each is not None:
                on_each(revs[index], result)
            if progress is not None and len(revs) >= 20 and (done % 10 == 0 or done == len(revs)):
                progress(done, len(revs))

        results = self._worker().capture_many(revs, target, sys_path, config_file, on_result)
        for rev, result in zip(revs, results, strict=True):
            self.ready[rev.path] = result.changes

    def __call__(
        self, rev: RevisionFile, target: Target, sys_path: list[Path], config_file: Path | None = None
    ) -> list[c.Change]:
        if rev.path in self.ready:
            return self.ready.pop(rev.path)
        return self._worker().capture(rev, target, sys_path, config_file).changes


def _lookup(
    revisions: Sequence[RevisionFile],
    source: Source,
    target: Target,
    cache: AnalysisCache,
    capturer: _Capturer,
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, list[c.Change] | None]:
    """Each revision's cached changes (None: not cached, or stale); those not cached are
    captured at once, in parallel, and stored, for :func:`_revision_unit` to take."""
    keys = {id(rev): cache.key(rev.text.encode("utf-8"), target.dialect, "revision") for rev in revisions}
    found = {id(rev): cache.get(keys[id(rev)]) for rev in revisions}

    def store(rev: RevisionFile, result: CaptureResult) -> None:
        # A capture that failed or fell back to reading the source depends on what is installed
        # (the app, a package): installing it must change the result, so it is not cached.
        if not any(isinstance(ch, (c.RenderFailed, c.CaptureInfo)) for ch in result.changes):
            cache.put(keys[id(rev)], result.changes, result.deps)

    missing = [rev for rev in revisions if found[id(rev)] is None]
    capturer.prefetch(missing, target, source.sys_path, source.config_file, progress, store)
    return found


def _revision_unit(
    rev: RevisionFile,
    source: Source,
    settings: Settings,
    cached: list[c.Change] | None,
    capturer: _Capturer,
) -> _Unit:
    target = settings.target
    # Not cached: captured (and stored in the cache) by _lookup's prefetch.
    changes = cached if cached is not None else capturer(rev, target, source.sys_path, source.config_file)
    text = rev.text
    sql_changes = [ch for ch in changes if ch.source == "sql"]
    suppressions = python_suppressions(text) + sql_suppressions(sql_changes)
    return _Unit(rev.path, rev.revision, rev.declared_phase, changes, suppressions)


def _assign_transactions(changes: list[c.Change]) -> None:
    """In a .sql file, statements between BEGIN and COMMIT/ROLLBACK share a transaction."""
    in_tx, segment = False, 0
    for change in changes:
        if isinstance(change, c.Transaction):
            segment += 1
            in_tx = change.verb == "BEGIN"
        change.in_transaction, change.segment = in_tx, segment


def _analyse(
    unit: _Unit,
    settings: Settings,
    enabled: set[str],
    facts: ProjectFacts,
    report: Report,
    base: Path,
    *,
    reported: bool,
) -> None:
    ctx = _context(unit, settings, facts)
    hits: list[tuple[Rule, Hit]] = list(ctx.hits)
    rules = [r for r in all_rules() if r.applies_to(settings.target.dialect)]
    for rule in rules:
        for hit in rule.check_unit(ctx):
            hits.append((rule, hit))
    if not reported:
        return
    file = _display_path(unit.path, base)
    capture, reason = _capture_of(unit)
    printed = "".join(ch.text for ch in unit.changes if isinstance(ch, c.Printed))
    summary = RevisionSummary(
        unit.revision,
        file,
        unit.declared_phase,  # type: ignore[arg-type]
        ctx.phase or "empty",
        capture,
        reason,
        printed,
    )
    report.revisions.append(summary)
    findings = _findings(hits, unit, settings, enabled, file)
    report.findings.extend(findings)


def _capture_of(unit: _Unit) -> tuple[str, dict[str, str] | None]:
    """How the unit was read, and why not fully (see :class:`RevisionSummary`)."""
    failed = next((ch for ch in unit.changes if isinstance(ch, c.RenderFailed)), None)
    static = next((ch for ch in unit.changes if isinstance(ch, c.CaptureInfo)), None)
    unverified = next((ch for ch in unit.changes if isinstance(ch, c.Unverified)), None)
    capture = "sql" if unit.revision is None else "failed" if failed else "static" if static else "offline"
    source = failed or static
    if source is not None:
        return capture, {"kind": reason_kind(source.reason), "detail": source.reason}
    if unverified is not None:
        kind = "raised" if "caught it itself" in unverified.reason else "unparsable-sql"
        if "MockConnection" in unverified.reason or "NoInspectionAvailable" in unverified.reason:
            kind = "needs-connection"
        return capture, {"kind": kind, "detail": unverified.reason}
    return capture, None


def reason_kind(reason: str) -> str:
    """``import-error``, ``needs-connection``, ``timeout`` or ``raised``, from a capture's reason."""
    if "timed out" in reason:
        return "timeout"
    if "needs a live database connection" in reason or "MockConnection" in reason or "NoInspection" in reason:
        return "needs-connection"
    if "importing the revision failed" in reason and ("ModuleNotFoundError" in reason or "ImportError" in reason):
        return "import-error"
    return "raised"


def _context(unit: _Unit, settings: Settings, facts: ProjectFacts) -> UnitContext:
    """Run the per-change rules over ``unit`` and classify it; the hits are kept on the context."""
    target = settings.target
    ctx = UnitContext(
        target=target,
        settings=settings,
        path=unit.path,
        revision=unit.revision,
        declared_phase=unit.declared_phase,
        changes=unit.changes,
        facts=facts,
    )
    rules = [r for r in all_rules() if r.applies_to(target.dialect)]
    hits: list[tuple[Rule, Hit]] = []
    for change in unit.changes:
        for rule in rules:
            for hit in rule.check(change, ctx):
                hit.change = hit.change or change
                hits.append((rule, hit))
        if _restates_type(change, ctx):
            ctx.unchanged.add(id(change))
        ctx.observe(change)
        facts.schema.apply(change)  # the next change (and revision) is judged against this
    _classify(ctx, hits)
    ctx.hits = hits
    return ctx


def _restates_type(change: c.Change, ctx: UnitContext) -> bool:
    """A type "change" to the type the column has (MySQL MODIFY restating it to change only
    nullability, say): no expansion of the schema."""
    if not isinstance(change, c.AlterColumnType) or change.new_type is None:
        return False
    old = ctx.previous_type(change)
    family = ctx.target.family
    return old is not None and canonical(old, family) == canonical(change.new_type, family)


def _classify(ctx: UnitContext, hits: list[tuple[Rule, Hit]]) -> None:
    contract = [hit.change for rule, hit in hits if rule.category == "contract" and rule.phase == "contract"]
    contract_ids = {id(ch) for ch in contract if ch is not None}
    ctx.contract_changes = _unique(ch for ch in contract if ch is not None)
    # A constraint or index the unit drops again is a temporary helper (the CHECK that lets
    # SET NOT NULL skip its scan), not an expansion of the schema.
    dropped = {ch.name for ch in ctx.changes if isinstance(ch, (c.DropConstraint, c.DropIndex)) and ch.name}
    ctx.expand_changes = [
        ch
        for ch in ctx.changes
        if ch.additive
        and id(ch) not in contract_ids
        and id(ch) not in ctx.unchanged
        and not (isinstance(ch, (c.AddConstraint, c.CreateIndex)) and ch.name and ch.name in dropped)
    ]
    unverified = any(isinstance(ch, (c.Unverified, c.RenderFailed)) for ch in ctx.changes)
    phase: UnitPhase
    if ctx.contract_changes and ctx.expand_changes:
        phase = "mixed"
    elif ctx.contract_changes:
        phase = "contract"
    elif unverified:
        # What could not be read may hide a contract change.
        phase = "unknown"
    elif ctx.expand_changes:
        phase = "expand"
    elif any(isinstance(ch, c.DataChange) for ch in ctx.changes) and all(
        isinstance(ch, (c.DataChange, *_INERT)) for ch in ctx.changes
    ):
        phase = "data"  # only rows change (a backfill, a fix-up): no schema change at all
    elif any(not isinstance(ch, _INERT) for ch in ctx.changes):
        # Dropped indexes or constraints, maintenance: the old color lives with them.
        phase = "expand"
    else:
        phase = "empty"
    ctx.phase = phase


#: Records that change nothing in the database: a unit of only these is "empty".
_INERT = (c.Other, c.Transaction, c.SetSetting, c.CaptureInfo, c.Printed)


def _unique(changes: Iterable[c.Change]) -> list[c.Change]:
    seen: set[int] = set()
    out = []
    for ch in changes:
        if id(ch) not in seen:
            seen.add(id(ch))
            out.append(ch)
    return out


def _findings(
    hits: list[tuple[Rule, Hit]], unit: _Unit, settings: Settings, enabled: set[str], file: str
) -> list[Finding]:
    out: list[Finding] = []
    seen: set[tuple[str, int, str]] = set()
    by_code = {r.code: r for r in all_rules()}
    for rule, hit in hits:
        if rule.code not in enabled:
            continue
        change = hit.change
        line = hit.line or (change.line if change else 1)
        end_line = change.end_line if change else line
        if _suppressed(unit.suppressions, rule, line, end_line):
            continue
        severity: Severity = (
            hit.severity or settings.severity.get(rule.code) or settings.severity.get(rule.name) or rule.severity
        )
        message = hit.message
        if (
            unit.declared_phase == "contract"
            and rule.category == "contract"
            and rule.phase == "contract"
            and (rule.code not in ("EC003", "EC004"))
        ):
            # The gate holds declared contract revisions until the old color is retired.
            severity = "info"
            message += " Declared contract: ec runs it only after the old color is retired."
        key = (rule.code, line, message)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            Finding(
                code=rule.code,
                name=rule.name,
                severity=severity,
                category=rule.category,
                file=file,
                line=line,
                revision=unit.revision,
                dialect=settings.dialect,
                statement=change.statement if change else None,
                message=message,
                fix=hit.fix or rule.fix,
            )
        )
    unused = by_code[UNUSED_SUPPRESSION]
    if UNUSED_SUPPRESSION in enabled:
        out.extend(_unused_suppressions(unit, unused, enabled, settings, file))
    if NO_REASON in enabled:
        rule = by_code[NO_REASON]
        for suppression in unit.suppressions:
            if not suppression.reason:
                out.append(
                    _meta_finding(
                        rule,
                        unit,
                        settings,
                        file,
                        suppression.line,
                        "Suppression comment gives no reason for ignoring the rule.",
                    )
                )
    return out


def _meta_finding(rule: Rule, unit: _Unit, settings: Settings, file: str, line: int, message: str) -> Finding:
    return Finding(
        code=rule.code,
        name=rule.name,
        severity=settings.severity.get(rule.code) or rule.severity,
        category=rule.category,
        file=file,
        line=line,
        revision=unit.revision,
        dialect=settings.dialect,
        statement=None,
        message=message,
        fix=rule.fix,
    )


def _suppressed(suppressions: list[Suppression], rule: Rule, line: int, end_line: int) -> bool:
    hit = False
    for suppression in suppressions:
        if not suppression.covers(line, end_line):
            continue
        selectors = suppression.selectors
        if not selectors:
            suppression.used.add("*")
            hit = True
            continue
        for selector in selectors:
            if selector.upper() == rule.code or selector.lower() == rule.name:
                suppression.used.add(selector)
                hit = True
    return hit


def _unused_suppressions(unit: _Unit, rule: Rule, enabled: set[str], settings: Settings, file: str) -> list[Finding]:
    out = []
    for suppression in unit.suppressions:
        unknown = []
        unused = []
        for selector in suppression.selectors:
            try:
                codes = resolve_selectors([selector])
            except ConfigError:
                unknown.append(selector)
                continue
            if selector not in suppression.used and codes & enabled:
                unused.append(selector)
        if not suppression.selectors and not suppression.used:
            unused.append("all rules")
        if not unused and not unknown:
            continue
        parts = []
        if unused:
            parts.append(f"suppresses nothing here ({', '.join(unused)})")
        if unknown:
            parts.append(f"names unknown rule(s) {', '.join(unknown)}")
        out.append(
            _meta_finding(rule, unit, settings, file, suppression.line, f"Suppression comment {' and '.join(parts)}.")
        )
    return out


def _display_path(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
