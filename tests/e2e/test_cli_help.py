"""Every `loyalty ... --help` reads as written: whole paragraphs the terminal wraps, value names a
reader would type (TEXT, INTEGER, NAME), never Typer's `<bool>`, `<int range>` or `{name}`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from entrypoints.cli import app


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_every_command_is_enumerated() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "chat", "stores import", "staff add", "campaigns send", "apikey create", "secret rotate"} <= paths


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(path) or "loyalty" for path, _ in COMMANDS])
def test_help_reads_as_written(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    out = result.output
    for artefact in ("<bool>", "<int", "<str>", "<float", "<FileText>", "<owner"):
        assert artefact not in out
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert "{" not in usage and "<" not in usage
    # Paragraphs after the first keep no line breaks of the source: Typer prints those as they
    # are, so a docstring wrapped at 100 columns comes out ragged in a terminal of any other width.
    help_text = command.help or ""
    for paragraph in help_text.split("\n\n")[1:]:
        assert "\n" not in paragraph.strip(), f"{' '.join(path)}: a paragraph wrapped in the source: {paragraph!r}"
    first = " ".join(help_text.split("\n\n")[0].split())
    assert first[:60] in " ".join(out.split()), "the first sentence is shown whole"


def test_the_store_csv_help_names_every_column() -> None:
    result = CliRunner().invoke(app, ["stores", "import", "--help"], env={"COLUMNS": "100"})
    flat = re.sub(r"[\s│]+", "", result.output)
    assert "code,name,city,timezone,address,latitude,longitude,hours" in flat


def test_counts_agree_with_their_noun() -> None:
    from entrypoints.cli.common import plural

    assert [plural(n, "store") for n in (0, 1, 2, 1000)] == ["0 stores", "1 store", "2 stores", "1,000 stores"]
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"
