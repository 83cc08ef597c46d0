"""One clear message instead of a traceback for the mistakes a person makes on the command line.

A command raises :class:`CliError` (or lets through an error :func:`explain` recognizes: a bad app
factory, a refused option of the app, a port in use, a folder that cannot be written); the command
group prints ``Error: <what was wrong and what is accepted>`` and exits non-zero. Anything else is a
bug, and keeps its traceback. ``--debug`` (anywhere on the command line) shows the traceback always.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Any

import click
import typer
from typer.core import TyperGroup

from converso.apps import AppConfigError, AppLoadError
from converso.form_agent.turn_loop import EventLoopSettingError

DEBUG_FLAG = "--debug"
_DEBUG_META = "converso.debug"


class CliError(Exception):
    """A mistake in what the command was given: printed as one message, exit code ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The message and exit code for an error caused by the input or the environment, or None (a bug)."""
    if isinstance(exc, CliError):
        return exc.message, exc.exit_code
    if isinstance(exc, AppLoadError | AppConfigError | EventLoopSettingError):
        return str(exc), 2
    if isinstance(exc, OSError):
        return _explain_os_error(exc)
    return None


def _explain_os_error(exc: OSError) -> tuple[str, int] | None:
    if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES) and exc.filename is None:
        return f"Cannot listen there: {exc.strerror or exc}. Pick another --host/--port.", 1
    if exc.filename is not None and exc.errno in (
        errno.EACCES,
        errno.EPERM,
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EROFS,
        errno.ENOSPC,
    ):
        return f"{exc.strerror}: {exc.filename}", 1
    return None


def writable_folder(path: Any, option: str, *, create: bool = True) -> None:
    """Check that ``option``'s folder exists (or can be made inside an existing one) and takes files."""
    from pathlib import Path

    folder = Path(path).expanduser()
    if not folder.exists():
        if not create or not folder.parent.is_dir():
            raise CliError(
                f"{option} {folder}: the folder does not exist"
                + (f" (nor its parent {folder.parent})" if create else "")
                + "; create it first or give an existing folder."
            )
        try:
            folder.mkdir()
        except OSError as exc:
            raise CliError(f"{option} {folder}: cannot create it ({exc.strerror}).") from None
    if not folder.is_dir():
        raise CliError(f"{option} {folder}: not a folder; give a folder.")
    import os

    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"{option} {folder}: this user cannot write there; give a writable folder.")


class FriendlyGroup(TyperGroup):
    """A command group whose commands end in one message, not a traceback, for explained errors."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            explained = explain(exc)
            if explained is None or ctx.meta.get(_DEBUG_META):
                raise
            message, code = explained
            click.echo(f"Error: {message}", err=True)
            ctx.exit(code)


def friendly_app(**kwargs: Any) -> typer.Typer:
    """A Typer app with FriendlyGroup, a ``--debug`` option, and plain help text (flags as flags, no Rich
    markup: help shows ``name[ilike]:"%acme%"`` as written, and long option names are not cut)."""
    app = typer.Typer(cls=FriendlyGroup, rich_markup_mode=None, pretty_exceptions_enable=False, **kwargs)

    @app.callback()
    def _root(
        ctx: typer.Context,
        debug: bool = typer.Option(False, DEBUG_FLAG, help="Show the full traceback of an error."),
    ) -> None:
        ctx.meta[_DEBUG_META] = debug

    return app


def hoist_debug(argv: Sequence[str]) -> list[str]:
    """``--debug`` may come anywhere before ``--``; the group reads it in front of the command."""
    args = list(argv)
    end = args.index("--") if "--" in args else len(args)
    if DEBUG_FLAG in args[:end]:
        args = [DEBUG_FLAG, *(a for i, a in enumerate(args) if not (a == DEBUG_FLAG and i < end))]
    return args


def run(app: typer.Typer, prog_name: str) -> None:
    import sys

    app(args=hoist_debug(sys.argv[1:]), prog_name=prog_name)
