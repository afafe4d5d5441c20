"""``shipyard.cli`` provides the ``shipyard`` command line.

Commands are thin: they parse, call the Python API, and render text or JSON.
A :class:`~shipyard.errors.ShipyardError` prints one clear message and exits
with code 2; anything else is an internal error (exit 1, with traceback).
"""

from __future__ import annotations

import os
import sys
import traceback


def _print_error(exc: BaseException, verbose: bool) -> None:
    from rich.markup import escape

    from shipyard.cli.render import err_console

    if verbose:
        err_console.print(escape("".join(traceback.format_exception(exc)).rstrip()))
    headline = getattr(exc, "headline", "Error")
    err_console.print(f"[red bold]{escape(headline)}:[/red bold] {escape(exc.message)}")  # type: ignore[attr-defined]
    hint = getattr(exc, "hint", None)
    if hint:
        err_console.print(escape(hint))
    user_tb = getattr(exc, "traceback", None)
    if verbose and user_tb:
        err_console.print(escape(user_tb.rstrip()))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``shipyard`` console script."""
    from shipyard.cli.app import app
    from shipyard.cli.state import state
    from shipyard.errors import ShipyardError

    verbose_env = os.environ.get("SHIPYARD_VERBOSE", "") not in ("", "0")
    # Like `python -m`: the project's own modules (custom steps, model classes)
    # import from the current folder.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        app(args=argv, prog_name="shipyard")
    except ShipyardError as exc:
        _print_error(exc, state.verbose or verbose_env)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    except Exception as exc:
        sys.stderr.write("Internal error (a bug in Shipyard; please report it):\n")
        traceback.print_exception(exc)
        sys.exit(1)


__all__ = ["main"]
