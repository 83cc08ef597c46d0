"""`converso demo`: replay the bundled conversations against a fresh embedded CRM (no key, no network)."""

from __future__ import annotations

import typer


def demo() -> None:
    """Replay the bundled demo conversations against a fresh embedded CRM (no key, no network)."""
    typer.echo("converso demo: coming shortly.")
