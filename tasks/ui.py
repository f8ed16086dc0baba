"""Shared output, exit codes and atomic file writes for every task module.

Every line a task prints is read by people and by agents, so it carries a tag
(`[SETUP-H100] ...`) and one of the markers ✅ ⚠️ ❌. Colour is used only on a
TTY and never when NO_COLOR is set (https://no-color.org).

Exit codes: 0 success, 1 failure (with a one-line reason and the fix),
2 crash loop detected. Raise `Fail` (or `CrashLoop`) from task code and let
`main_guard` turn it into the message and the exit code.

Not run directly; imported as `from tasks import ui`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_CRASH_LOOP = 2

OK_MARK = "✅"
WARN_MARK = "⚠️"
ERR_MARK = "❌"

_COLOURS = {"green": "\033[0;32m", "yellow": "\033[1;33m", "red": "\033[0;31m"}
_RESET = "\033[0m"


class Fail(Exception):
    """A failure the user can fix: the message names what and how. Exit 1."""

    exit_code = EXIT_FAIL


class CrashLoop(Fail):
    """Resume keeps dying at the same step. Exit 2 so scripts can tell it apart."""

    exit_code = EXIT_CRASH_LOOP


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def _paint(text: str, colour: str, stream) -> str:
    if not use_colour(stream):
        return text
    return f"{_COLOURS[colour]}{text}{_RESET}"


def _emit(line: str, stream=None) -> None:
    stream = stream or sys.stdout
    print(line, file=stream, flush=True)


def info(tag: str, message: str) -> None:
    """`[TAG] message`."""
    _emit(f"[{tag}] {message}")


def success(message: str) -> None:
    _emit(_paint(f"{OK_MARK} {message}", "green", sys.stdout))


def warning(message: str) -> None:
    _emit(_paint(f"{WARN_MARK} {message}", "yellow", sys.stdout))


def error(message: str) -> None:
    # Errors go to stderr so that `make ... | tee` and agents both see them.
    _emit(_paint(f"{ERR_MARK} {message}", "red", sys.stderr), sys.stderr)


def main_guard(fn, *args, **kwargs) -> int:
    """Run `fn` and map `Fail`/`CrashLoop`/Ctrl-C to a message and an exit code."""
    try:
        result = fn(*args, **kwargs)
    except Fail as exc:
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error("Interrupted.")
        return EXIT_FAIL
    return EXIT_OK if result is None else int(result)


def is_interactive() -> bool:
    """True only when a person can answer a question on this terminal."""
    return sys.stdin is not None and sys.stdin.isatty() and not os.environ.get("CI")


def ask_yes_no(question: str, default: bool = False) -> bool:
    """Ask a yes/no question; without a terminal, return the default at once."""
    if not is_interactive():
        return default
    suffix = " [Y/n] " if default else " [y/N] "
    try:
        answer = input(question + suffix).strip().lower()
    except EOFError:
        return default
    if not answer:
        return default
    return answer in ("y", "yes")


# ----------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; on success rename it into place.

    A reader sees the old file or the new one, never half of one. On error
    the temporary file is removed and the old file is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def touch_stamp(path: str | os.PathLike) -> None:
    """Mark a finished step. Called as the step's last action."""
    write_text_atomic(path, "")
