"""Performance figures for `ec verify` (printed, never asserted; targets from the issue).

1. Model check: a 200-table SQLAlchemy metadata against the schema a one-revision history
   creates (target < 1 s for the check, the history's capture counted apart).
2. Usage check: 10,000 statement digests scanned for what a contract revision removes
   (target < 2 s).
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import time
from pathlib import Path

TABLES = 200


def bench_models(tmp: Path) -> None:
    versions = tmp / "versions"
    versions.mkdir()
    creates = "\n".join(
        f'op.create_table("t{i}", sa.Column("id", sa.Integer(), primary_key=True), '
        + ", ".join(f'sa.Column("c{j}", sa.String(50))' for j in range(8))
        + ")"
        for i in range(TABLES)
    )
    (versions / "r1_rev.py").write_text(
        'import sqlalchemy as sa\nfrom alembic import op\nrevision = "r1"\ndown_revision = None\n\n\ndef upgrade():\n'
        + textwrap.indent(creates, "    ")
        + "\n",
        encoding="utf-8",
    )
    package = tmp / "benchapp"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    classes = "\n\n".join(
        f"class T{i}(Base):\n    __tablename__ = 't{i}'\n    id = sa.Column(sa.Integer, primary_key=True)\n"
        + "".join(f"    c{j} = sa.Column(sa.String(50))\n" for j in range(8))
        for i in range(TABLES)
    )
    (package / "models.py").write_text(
        "import sqlalchemy as sa\nfrom sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n"
        "    pass\n\n\n" + classes,
        encoding="utf-8",
    )
    from expandcontract.config import settings_from_mapping
    from expandcontract.verify import models as verify_models

    settings = settings_from_mapping({})
    start = time.perf_counter()
    state = verify_models.schema_at(versions, settings)
    history = time.perf_counter() - start
    metadata, _ = verify_models.load_metadata("benchapp.models:Base", [tmp])
    start = time.perf_counter()
    findings = [x for t in metadata.sorted_tables for x in verify_models._check_table(t, t.name, state, settings)]
    check = time.perf_counter() - start
    print(
        f"model check: {len(metadata.sorted_tables)} tables, {len(findings)} finding(s): check {check:.3f} s "
        f"(target < 1 s); capturing the history {history:.2f} s"
    )


def bench_usage() -> None:
    from expandcontract.verify.usage import Digest, uses

    texts = [
        "SELECT id, name FROM users WHERE id = $1",
        "UPDATE orders SET total = $1 WHERE id = $2",
        "SELECT o.id, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = $1",
        "INSERT INTO events (kind, payload) VALUES ($1, $2)",
        "SELECT count(*) FROM sessions WHERE expires_at < $1",
    ]
    before = [Digest(str(i), texts[i % len(texts)] + f" /* {i} */", 1) for i in range(10_000)]
    after = [Digest(d.id, d.text, d.calls + 1) for d in before]
    start = time.perf_counter()
    found = uses(before, after, {"r9": [("users", "name")]}, "postgresql")
    took = time.perf_counter() - start
    print(f"usage check: 10,000 digests, {len(found)} use(s) found in {took:.2f} s (target < 2 s)")


def main() -> None:
    print(f"python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="ec-bench-verify-") as tmp:
        bench_models(Path(tmp))
    bench_usage()


if __name__ == "__main__":
    main()
