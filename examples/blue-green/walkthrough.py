"""The whole blue-green cycle with expandcontract, on SQLite and a file traffic backend.

    python walkthrough.py            # from this directory; needs only `pip install expandcontract`
    EC_DATABASE_URL=postgresql+psycopg://user@host/scratch python walkthrough.py   # a scratch database

It can run again and again: on SQLite it starts from a new file; on a server database it first
reverts the example's revisions (`ec downgrade base`, recorded with its reason).

Blue runs release 1 (expects revision 0001: users.name). Green is release 2 (reads
users.full_name; ships migrations up to 0005, which drops users.name). Each step runs the
`ec` command a person would type and prints what it says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def ec(*args: str, expect: int = 0) -> str:
    print(f"\n$ ec {' '.join(args)}")
    result = subprocess.run(
        [sys.executable, "-m", "expandcontract.cli", *args],
        cwd=HERE,
        capture_output=True,
        text=True,
        env={**os.environ, "EC_ACTOR": "walkthrough@example"},
    )
    output = (result.stdout + result.stderr).rstrip()
    print(output)
    if result.returncode != expect:
        sys.exit(f"walkthrough: `ec {' '.join(args)}` exited {result.returncode}, expected {expect}")
    return output


def main() -> None:
    for leftover in ("blue_green.db", "traffic.json"):
        (HERE / leftover).unlink(missing_ok=True)
    if os.environ.get("EC_DATABASE_URL"):
        print("# 0. A server database may hold an earlier run: start from an empty schema.")
        ec("downgrade", "base", "--reason", "walkthrough: start again")
    print("# 1. Blue (release 1) is live; its code expects revision 0001.")
    ec("deploy", "blue", "--version", "1.0", "--expects", "0001")
    ec("switch", "blue")
    ec("expand")  # stops before 0005: blue still needs users.name
    print("\n# 2. Deploy green (release 2) next to blue; it expects the project's head.")
    ec("deploy", "green", "--version", "2.0")
    print("\n# 3. Canary, then switch all traffic to green.")
    ec("canary", "green", "--weight", "10")
    ec("switch", "green")
    print("\n# 4. The contract revision waits: blue is not retired.")
    ec("status", expect=1)
    ec("contract", expect=1)
    print("\n# 5. Retire blue (checked: not live, no traffic, no sessions), then contract.")
    ec("retire", "blue")
    ec("contract")
    ec("status")
    print("\n# 6. Who did what, when.")
    ec("history")


if __name__ == "__main__":
    main()
