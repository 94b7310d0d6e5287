"""How `loyalty ... --help` names the values a command takes.

Typer (0.2x) prints `<bool>` beside every flag, `<int range>` beside a bounded number and
`{name}` for a required argument in the usage line: artefacts of its own, not words a reader
types. Here a flag shows nothing, a value shows an upper-case word (INTEGER, TEXT, FILE, or its
choices owner|marketer) and an argument its upper-case name, as click itself writes them. The
range of a bounded number still shows ([1<=x<=200]). Applied once, when the app is built; the
test of every command's help (tests/e2e/test_cli_help.py) notices if a Typer upgrade moves these.
"""

from __future__ import annotations

from typing import Any

from typer import core


def value_name(param: Any) -> str | None:
    """The word shown for what a parameter takes; None for a flag, which takes nothing."""
    if param.metavar:
        return str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    desc = param.type_descriptor
    if desc.is_choice:
        return "|".join(str(getattr(choice, "value", choice)) for choice in desc.choices or ())
    if desc.is_file:
        return "FILE"
    if desc.is_path:
        return "PATH"
    if desc.is_ranged:
        return "INTEGER" if desc.ranged_type_name == "int" else "NUMBER"
    names = {"int": "INTEGER", "float": "NUMBER", "bool": "BOOLEAN"}
    return names.get(param.bare_type(), "TEXT")


def _display_type_rich(self: Any, ctx: Any) -> str | None:
    if isinstance(self, core.TyperArgument) and self.metavar:
        return None  # the name column already shows the metavar
    return value_name(self)


def _usage_display_name(self: core.TyperArgument) -> str:
    name = (self.metavar or self.name or "").upper()
    if not self.required:
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


def apply() -> None:
    core.TyperOption.display_type_rich = _display_type_rich  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = _display_type_rich  # type: ignore[method-assign]
    core.TyperArgument._usage_display_name = _usage_display_name  # type: ignore[method-assign]  # noqa: SLF001
