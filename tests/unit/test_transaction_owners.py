"""Services own their transactions: routers and routes parse, call a service, render. A commit
in a handler or a route is how a half-done change, an idempotency replay or a race recovery
ends up written twice, once per front end."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONT_ENDS = ("bot/routers", "api/routes", "api/console")


def commits_in(source: str, name: str) -> list[str]:
    """`something.commit()` calls in the source, as "name:line"."""
    tree = ast.parse(source, filename=name)
    return [
        f"{name}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"
    ]


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_no_handler_or_route_commits(front_end: str) -> None:
    files = sorted((ROOT / front_end).rglob("*.py"))
    assert files, f"{front_end} holds no Python files: the test would guard nothing"
    found = [
        where for path in files for where in commits_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert found == [], f"commit in a front end (move the transaction into a service in loyalty/): {found}"


def test_the_check_sees_a_commit() -> None:
    handler = "async def handler(uow):\n    await uow.commit()\n    await uow.session.commit()\n"
    assert commits_in(handler, "handler.py") == ["handler.py:2", "handler.py:3"]
