"""The Alembic project at run time: ``Config`` and ``ScriptDirectory`` for the runner, the gate
and ``ec status``, found the same way ``ec lint`` finds revisions."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expandcontract.errors import ProjectNotFoundError
from expandcontract.migrations.graph import RevisionGraph
from expandcontract.migrations.loader import Source, discover


@dataclass
class Project:
    source: Source
    config: Any
    script: Any
    graph: RevisionGraph


def load_project(path: Path | None = None) -> Project:
    """Alembic project at ``path`` (default: the current directory)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    source = discover(path or Path.cwd())
    if source.kind == "sql":
        raise ProjectNotFoundError(source.root, "this command needs an Alembic project, not .sql files")
    for entry in reversed(source.sys_path):
        if str(entry) not in sys.path:
            sys.path.insert(0, str(entry))
    if source.config_file is not None and source.config_file.suffix == ".ini":
        config = Config(str(source.config_file))
    elif source.config_file is not None:
        config = Config(toml_file=str(source.config_file))
    else:
        versions = source.version_locations[0]
        config = Config()
        config.set_main_option("script_location", str(versions.parent))
        config.set_main_option("version_locations", str(versions))
        config.set_main_option("path_separator", "os")
    try:
        script = ScriptDirectory.from_config(config)
        graph = RevisionGraph.from_script_directory(script)
    except CommandError as error:
        raise ProjectNotFoundError(source.root, f"Alembic cannot read this project: {error}") from None
    except Exception as error:  # noqa: BLE001 - a revision module that fails to import
        raise ProjectNotFoundError(
            source.root, f"cannot load the revisions ({type(error).__name__}: {error}); `ec lint` shows which"
        ) from None
    return Project(source, config, script, graph)
