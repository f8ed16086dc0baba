"""Find real failures in a training log, and watch a starting run for them.

    python -m tasks.run.monitor --log logs/training_20250101_120000.log   # exit 1 and the failing lines, else 0

A failure is a Python traceback, `CUDA out of memory`, a `RuntimeError`
exception line, a `❌` line (how every task reports a failure), a fatal Python
error, or the training process exiting non-zero. Text that merely contains the
word "error" (a metric such as `eval_error_rate`, a data sample, a W&B notice)
is not a failure: an earlier implementation of this plan grepped `error`
case-insensitively and cried wolf.

`watch()` is what `tasks.run.launch` runs after starting a detached run: it
follows the new log and the run's metrics for the first minutes or steps,
whichever comes first, and stops at the first failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

from tasks import ui

from tasks.run import eta

TAG = "MONITOR"
# A rank prefix as torchrun/accelerate write it ("[rank0]: Traceback ...").
_RANK = r"^(?:\[rank\d+\]:\s*)?"
PATTERNS = [
    ("traceback", re.compile(r"Traceback \(most recent call last\):")),
    ("out of memory", re.compile(r"CUDA out of memory|(?:torch\.(?:cuda\.)?)OutOfMemoryError")),
    ("RuntimeError", re.compile(_RANK + r"(?:[\w.]+\.)?RuntimeError\b")),
    ("failure", re.compile(_RANK + "❌")),
    ("fatal", re.compile(_RANK + r"Fatal Python error")),
]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# How far a traceback runs: frames are indented; chained tracebacks are joined by these lines.
_TB_CONTINUE = re.compile(r"^(?:\[rank\d+\]:)?(\s|Traceback|During handling|The above exception|$)")
EXCERPT_LINES = 40


@dataclasses.dataclass
class Failure:
    index: int  # line number (0-based) in the scanned lines
    kind: str
    line: str


def split_lines(text: str) -> list[str]:
    """Log text as the lines a person sees: colour codes removed, progress-bar redraws (\\r) split apart."""
    out = []
    raws = _ANSI.sub("", text).split("\n")
    if raws and raws[-1] == "":
        raws.pop()  # the newline that ends the last line starts no new one
    for raw in raws:
        parts = [p for p in raw.split("\r") if p.strip()]
        out.extend(parts or [raw.rstrip("\r")])
    return out


def find_failures(lines: list[str]) -> list[Failure]:
    found = []
    for i, line in enumerate(lines):
        for kind, pattern in PATTERNS:
            if pattern.search(line):
                found.append(Failure(i, kind, line))
                break
    return found


def excerpt(lines: list[str], failures: list[Failure], limit: int = EXCERPT_LINES) -> list[str]:
    """The failing lines: the first traceback whole (its end kept when long), else each failure with context."""
    if not failures:
        return []
    first = failures[0]
    if first.kind == "traceback":
        j = first.index + 1
        while j < len(lines) and _TB_CONTINUE.match(lines[j]):
            j += 1
        block = lines[first.index: j + 1]  # through the exception line that ends the traceback
        if len(block) > limit:
            block = block[:3] + [f"    ... ({len(block) - limit + 3} lines) ..."] + block[-(limit - 4):]
        # Lines that report the failure once more after it (a `❌` summary) are worth showing too.
        block += [f.line for f in failures[1:] if f.index > j and f.kind != "traceback"][:5]
        return block
    shown, out = set(), []
    for f in failures[:8]:
        for k in range(max(0, f.index - 2), min(len(lines), f.index + 3)):
            if k not in shown:
                shown.add(k)
                out.append(lines[k])
    return out[:limit]


def exit_file_for(log: Path) -> Path:
    """Where a detached run's wrapper writes the training process's exit code."""
    return Path(log).with_suffix(".exitcode")


def read_exit_code(log: Path) -> int | None:
    path = exit_file_for(log)
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # being written: the wrapper writes it atomically, so only a foreign file lands here


def describe_exit(code: int) -> str:
    if code > 128:
        import signal

        try:
            return f"exit code {code} (killed by {signal.Signals(code - 128).name})"
        except ValueError:
            pass
    return f"exit code {code}"


def scan(log: Path) -> tuple[list[str], list[Failure]]:
    lines = split_lines(Path(log).read_text(encoding="utf-8", errors="replace"))
    return lines, find_failures(lines)


def print_lines(lines: list[str]) -> None:
    """Log lines shown under an error, indented, on stderr beside the error itself."""
    for line in lines:
        print(f"    {line}", file=sys.stderr, flush=True)


def tail(lines: list[str], n: int = 15) -> list[str]:
    return [line for line in lines if line.strip()][-n:]


# ----------------------------------------------------------------- watching a starting run


@dataclasses.dataclass
class WatchResult:
    ok: bool
    reason: str
    lines: list[str] = dataclasses.field(default_factory=list)  # the failing lines (or the last lines)
    step: int | None = None  # the latest step seen
    start_step: int | None = None
    finished: bool = False  # the run already finished inside the window


def _result(log: Path, ok: bool, reason: str, step, start_step, finished: bool = False) -> WatchResult:
    lines, failures = scan(log) if log.is_file() else ([], [])
    shown = excerpt(lines, failures) if failures else tail(lines)
    return WatchResult(ok, reason, [] if ok else shown, step, start_step, finished)


def watch(log: Path, output_dir: Path, *, metrics_offset: int = 0, alive=None, window_s: float = 300,
          window_steps: int = 100, poll_s: float = 1.0, settle_s: float = 2.0) -> WatchResult:
    """Follow a starting run until `window_s` seconds or `window_steps` steps pass, or it fails.

    `alive()` says whether the process (the tmux session) still exists; it is
    asked only while no exit code has been written. `metrics_offset` is the
    size metrics.jsonl had before this start, so older runs' events are ignored.
    """
    log, output_dir = Path(log), Path(output_dir)
    t0 = time.monotonic()
    log_pos, pending = 0, b""
    failures_at = None
    start_step = step = None
    offset = metrics_offset
    gone_since = None
    while True:
        # New log text since the last look; an unterminated line waits for its end.
        try:
            with open(log, "rb") as fh:
                fh.seek(log_pos)
                chunk = fh.read()
            log_pos += len(chunk)
        except FileNotFoundError:
            chunk = b""
        pending += chunk
        complete, _, pending = pending.rpartition(b"\n")  # bytes: a character split between reads stays whole
        if complete and failures_at is None and find_failures(split_lines(complete.decode("utf-8", errors="replace"))):
            failures_at = time.monotonic()
        events, offset = eta.read_events_from(output_dir, offset)
        for e in events:
            if e["event"] == "start" and start_step is None:
                start_step = int(e.get("step") or 0)
            elif e["event"] == "step":
                step = int(e["step"])
        code = read_exit_code(log)
        now = time.monotonic()

        if failures_at is not None and (code is not None or now - failures_at >= settle_s):
            # A traceback is printed over several lines: give the rest a moment to arrive.
            why = f"the training process stopped with {describe_exit(code)}" if code else "the log shows a failure"
            return _result(log, False, why, step, start_step)
        if failures_at is not None:
            pass  # a failure is settling: no success verdict before it is shown
        elif code is not None:
            if code == 0:
                return _result(log, True, "the run finished inside the watch window", step, start_step, finished=True)
            return _result(log, False, f"the training process stopped with {describe_exit(code)}", step, start_step)
        elif alive is not None and not alive():
            # The wrapper writes the exit code before the session ends; allow for a slow disk once.
            gone_since = gone_since or now
            if now - gone_since >= settle_s:
                return _result(log, False, "the training session ended without recording an exit code (stopped from outside?)",
                               step, start_step)
        elif start_step is not None and step is not None and step - start_step >= window_steps:
            return _result(log, True, f"{step - start_step} steps done without a failure", step, start_step)
        elif now - t0 >= window_s:
            return _result(log, True, f"{window_s:g} s without a failure" + ("" if step is not None else " (no step logged yet)"),
                           step, start_step)
        time.sleep(poll_s)


# ----------------------------------------------------------------- the verb


def run(log: str) -> int:
    path = Path(log)
    if not path.is_file():
        raise ui.Fail(f"{log}: log file not found (logs are in logs/training_<YYYYmmdd_HHMMSS>.log)")
    lines, failures = scan(path)
    code = read_exit_code(path)
    if failures or (code not in (None, 0)):
        shown = excerpt(lines, failures) if failures else tail(lines)
        what = f"{len(failures)} failure line(s)" if failures else describe_exit(code)
        ui.error(f"{path}: {what}:")
        print_lines(shown)
        return 1
    ui.success(f"{path}: no failure in {len(lines)} lines" + ("" if code is None else f"; the run exited with code {code}"))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, help="a training log (logs/training_<YYYYmmdd_HHMMSS>.log)")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.log)


if __name__ == "__main__":
    raise SystemExit(main())
