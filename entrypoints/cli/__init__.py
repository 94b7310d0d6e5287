"""The `loyalty` command: one Typer app with a sub-app per area (API keys, stores, staff,
campaigns). Commands import what they run inside their bodies, so `loyalty --help` and the
admin commands start without loading the bot or the web server."""

from entrypoints.cli.main import app, main

__all__ = ["app", "main"]
