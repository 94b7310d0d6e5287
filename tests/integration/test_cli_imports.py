"""Admin commands load neither the bot nor the web server: `loyalty apikey list` imports no
aiogram, FastAPI or uvicorn, so it starts in about a second instead of several.

Checked in a fresh interpreter by what it imported (sys.modules), not by timing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_SECRET

REPO = Path(__file__).resolve().parents[2]
# The bot's and the web server's stacks, and our packages that are built on them.
HEAVY = frozenset({"aiogram", "aiohttp", "fastapi", "starlette", "uvicorn", "bot", "api", "sandbox"})

# Runs `code`, then writes the top-level names of every module it imported to argv[1], at exit
# (Typer ends a command with SystemExit, so the listing is written after it).
CHILD = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted({m.partition(".")[0] for m in sys.modules}))))
exec(sys.argv.pop(1))
"""


def loaded_by(code: str, tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "REDIS"))},
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}",
        "SECRET_KEY": TEST_SECRET,
        "ENVIRONMENT": "test",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), code, *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


def test_importing_the_cli_loads_no_bot_and_no_web_server(tmp_path: Path) -> None:
    loaded = loaded_by("import entrypoints.cli.main", tmp_path)
    assert "typer" in loaded and "entrypoints" in loaded
    assert not loaded & HEAVY, f"loaded {sorted(loaded & HEAVY)}"


def test_an_admin_command_run_to_its_end_loads_no_bot_and_no_web_server(tmp_path: Path) -> None:
    # `apikey list` migrates a new database and reads it: the whole path of an admin command.
    loaded = loaded_by(
        "import sys; from entrypoints.cli import main; sys.argv = ['loyalty', 'apikey', 'list']; main()",
        tmp_path,
    )
    assert {"sqlalchemy", "alembic", "db", "loyalty"} <= loaded
    assert not loaded & HEAVY, f"loaded {sorted(loaded & HEAVY)}"
