"""Imports between the top-level packages point one way: entrypoints -> bot, api -> loyalty -> db,
and the sandbox stands alone.

Every .py file of the product is parsed (imports inside functions and under TYPE_CHECKING
count too: a lazy import is still a dependency), and each absolute import of one of our
packages or of a framework is checked against the graph written down here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Which of our own top-level packages each one may import.
ALLOWED: dict[str, frozenset[str]] = {
    "loyalty": frozenset({"db"}),
    "db": frozenset(),
    "bot": frozenset({"loyalty", "db"}),
    "api": frozenset({"loyalty", "db"}),
    "entrypoints": frozenset({"loyalty", "db", "bot", "api", "sandbox"}),
    # A local Telegram Bot API server, a product of its own: it imports nothing of ours (its
    # aiogram middleware is for any aiogram bot).
    "sandbox": frozenset(),
    "benchmarks": frozenset({"loyalty", "db", "bot", "entrypoints", "sandbox"}),
    "templates": frozenset(),
}
OURS = frozenset(ALLOWED) | {"tests"}

# Frameworks a package must not import, whatever the graph above allows.
FORBIDDEN: dict[str, frozenset[str]] = {
    # The rules run the same under the bot, the API, the CLI and the scheduler.
    "loyalty": frozenset({"aiogram", "aiohttp", "fastapi", "starlette", "typer", "uvicorn"}),
    "db": frozenset({"aiogram", "aiohttp", "fastapi", "starlette", "typer", "uvicorn"}),
    "bot": frozenset({"fastapi", "starlette", "typer", "uvicorn"}),
    "api": frozenset({"aiogram", "typer"}),
    "sandbox": frozenset({"fastapi", "starlette", "typer", "uvicorn"}),
    "templates": frozenset({"aiogram", "aiohttp", "fastapi", "starlette", "typer", "uvicorn"}),
}

# Single imports the graph does not otherwise allow, each with its reason.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("db/migrations/env.py", "loyalty.config"): "Alembic's own command line reads DATABASE_URL from the settings",
    ("api/webapp/auth.py", "aiogram.utils.web_app"): "Telegram's check of a Mini App's signed init data, kept in one place",
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the file; relative ones stay in the package."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def violations(package: str, root: Path = ROOT) -> list[str]:
    allowed = ALLOWED[package]
    forbidden = FORBIDDEN.get(package, frozenset())
    found = []
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for line, module in imports_of(path):
            top = module.partition(".")[0]
            if (relative, module) in EXCEPTIONS or top == package:
                continue
            if top in forbidden or (top in OURS and top not in allowed):
                found.append(f"{relative}:{line} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_the_graph_allows(package: str) -> None:
    found = violations(package)
    assert not found, (
        f"{package} may import {sorted(ALLOWED[package]) or 'none of our packages'} and none of "
        f"{sorted(FORBIDDEN.get(package, ()))}:\n  " + "\n  ".join(found)
    )


def test_the_graph_names_every_top_level_package_of_the_product() -> None:
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(ALLOWED), "a new top-level package needs its place in ALLOWED"


def test_the_graph_has_no_cycles() -> None:
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in ALLOWED[start])

    assert not [package for package in ALLOWED if reaches(package, package)]


def test_an_import_against_the_graph_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "loyalty").mkdir()
    (tmp_path / "loyalty" / "rules.py").write_text(
        "from __future__ import annotations\n"
        "from db.uow import UnitOfWork\n"
        "from . import clock\n"
        "\n"
        "def f() -> None:\n"
        "    import aiogram.types\n"
        "    from bot.render import texts_for\n"
    )
    assert violations("loyalty", tmp_path) == [
        "loyalty/rules.py:6 imports aiogram.types",
        "loyalty/rules.py:7 imports bot.render",
    ]
