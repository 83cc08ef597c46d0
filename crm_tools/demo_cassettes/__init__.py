"""Conversations `converso demo` replays (package data, found through the ``converso.demos`` entry point)."""
