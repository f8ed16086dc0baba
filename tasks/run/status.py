"""Is the training running, stalled, crashed or finished? One screen, and an exit code scripts can poll.

    python -m tasks.run.status --env h100                 # the run `make train-h100` / `make resume` last started
    python -m tasks.run.status --config configs/training_config_cpu.yaml
    make status

- running: the training process is alive (its `train.lock` pid; for a detached
  run also its tmux session) and the log or metrics moved within the stall
  threshold. Exit 0.
- stalled: alive, but nothing moved for `--stall-minutes` (default 20, longer
  than the slowest bounded evaluation). Exit 1.
- crashed: the process is gone without a final adapter: its exit code, how
  the run ended, and the failing (or last) lines of the log. Exit 1.
- finished: the final adapter is present and complete (every file `FINAL`
  lists, at its size): its path and size. Exit 0.

Also the last step, loss and the time of the last log line, and the loss so far as a one-line sparkline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

from tasks import ui

from tasks.train import checkpoints, curves

from tasks.run import eta, monitor
from tasks.config import PROFILE_CONFIGS, project_path

TAG = "STATUS"
STALL_MINUTES = 20.0


def _ago(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path else None
    except FileNotFoundError:
        return None


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def final_problem(output_dir: Path) -> tuple[dict | None, str | None]:
    """(FINAL's manifest, why the final adapter is incomplete or None)."""
    path = output_dir / checkpoints.FINAL
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"unreadable {path} ({exc})"
    for name, size in files.items():
        f = output_dir / name
        if not f.is_file():
            return manifest, f"{name} is missing"
        if f.stat().st_size != size:
            return manifest, f"{name} has {f.stat().st_size} bytes, {size} were written"
    return manifest, None


def find_log(r: eta.Run, est: eta.Estimate) -> Path | None:
    """The run's newest log: the one its latest start recorded, or the one the launcher announced."""
    candidates = []
    if r.record and r.record.get("log_file"):
        candidates.append(Path(r.record["log_file"]))
    if est.start and est.start.get("log_file"):
        candidates.append(project_path(est.start["log_file"]))
    existing = [p for p in candidates if p.is_file()]
    return max(existing, key=lambda p: p.stat().st_mtime) if existing else None


def run(config: str | None = None, overrides: list[str] | None = None, env: str | None = None,
        logs_dir: str | None = None, stall_minutes: float = STALL_MINUTES) -> int:
    r = eta.locate(config, overrides, env, logs_dir)
    out = r.output_dir
    events = eta.read_events(out)
    est = eta.estimate(events)
    log = find_log(r, est)
    now = time.time()
    ui.info(TAG, f"Run folder: {out}")
    if log:
        ui.info(TAG, f"Log: {log} (last line written {_ago(now - _mtime(log))}, "
                     f"{dt.datetime.fromtimestamp(_mtime(log)).astimezone().strftime('%Y-%m-%d %H:%M:%S %Z')})")
    if est.last:
        loss = est.last.get("loss")
        ui.info(TAG, f"Last step: {est.last['step']}/{est.total_steps}" + (f", loss {loss:.4f}" if loss is not None else "")
                + f" (logged {est.last.get('timestamp')})")
    elif est.start:
        ui.info(TAG, f"Last step: none logged since the latest start at step {est.step} ({est.start.get('timestamp')})")
    spark = curves.loss_line(events)
    if spark:
        ui.info(TAG, spark + (f"; curves in {out / curves.PNG}" if (out / curves.PNG).is_file() else "; `make plot` draws the curves"))

    # finished
    if (out / checkpoints.FINAL).is_file():
        manifest, problem = final_problem(out)
        if problem is None:
            total = sum(manifest["files"].values())
            weights = manifest["files"].get("adapter_model.safetensors")
            ui.success(f"Status: finished at step {manifest.get('step')} ({manifest.get('finished_at')}): final adapter in {out} "
                       f"({len(manifest['files'])} files, {_size(total)}"
                       + (f"; adapter_model.safetensors {_size(weights)}" if weights else "") + ")")
            return 0
        ui.error(f"Status: crashed: the final adapter in {out} is incomplete ({problem}); "
                 f"delete {out / checkpoints.FINAL} and run `make resume` to save it again from the newest checkpoint")
        return 1

    # alive?
    lock = checkpoints.read_lock(out)
    alive = checkpoints.lock_owner_alive(lock)
    session = r.session if (r.record or {}).get("mode") == "tmux" else None
    session_alive = False
    if session:
        from tasks.run import launch

        try:
            session_alive = launch.session_exists(session)
        except ui.Fail:
            session_alive = False  # no tmux here: the process check alone decides
    exit_code = monitor.read_exit_code(log) if log else None
    # A session whose run has not written its start yet is still loading; once a start of this
    # log exists and the lock is gone, the process has ended whatever the session shows.
    started_here = bool(est.start and log and est.start.get("log_file") and Path(est.start["log_file"]).name == log.name)
    starting = session_alive and exit_code is None and not started_here
    if (alive or starting) and exit_code is None:
        moved = max(t for t in (_mtime(log), _mtime(out / eta.METRICS), _mtime(out / checkpoints.LOCK), 0.0) if t is not None)
        idle = now - moved
        where = f"pid {lock['pid']}" if alive else "starting"
        if session:
            where += f", tmux session {session} ({'open' if session_alive else 'gone'})"
        if idle > stall_minutes * 60:
            ui.error(f"Status: stalled: the process is alive ({where}) but neither the log nor the metrics moved for "
                     f"{_ago(idle).replace(' ago', '')} (threshold {stall_minutes:g} min). Look at the log; "
                     + (f"`tmux attach -t {session}` to see it live; " if session else "")
                     + (f"stop it with `kill {lock['pid']}` (it checkpoints and exits), then `make resume`" if alive else ""))
            if log:
                monitor.print_lines(monitor.tail(monitor.scan(log)[0], 10))
            return 1
        left = eta.remaining_now(est) if est.state == "training" else None
        ui.success(f"Status: running ({where}; last progress {_ago(idle)})"
                   + (f"; estimated completion in {eta.fmt_hm(left)}" if left is not None else ""))
        if session:
            ui.info(TAG, f"Watch it live: tmux attach -t {session}")
        return 0

    # no run at all
    if est.state == "none" and log is None:
        ui.error(f"Status: no training run found in {out} (no metrics, no log): start one with `make train-h100`, "
                 f"`make train-m4` or `make train DETACH=1`")
        return 1

    # crashed
    how = []
    if exit_code is not None:
        how.append(f"the process ended with {monitor.describe_exit(exit_code)}")
    if est.end:
        how.append(f"the run recorded status '{est.end.get('status')}' at step {est.end.get('step')}")
    else:
        how.append("no end was recorded (killed, or the machine stopped)")
    latest = checkpoints.latest_complete_checkpoint(out, warn=False)
    ui.error(f"Status: crashed: the training process is gone without a final adapter; {'; '.join(how)}.")
    if log:
        lines, failures = monitor.scan(log)
        shown = monitor.excerpt(lines, failures) if failures else monitor.tail(lines)
        ui.info(TAG, f"{'Failing' if failures else 'Last'} lines of {log}:")
        monitor.print_lines(shown)
    ui.info(TAG, (f"Newest complete checkpoint: step {latest[1]} ({latest[0]}). " if latest else "No complete checkpoint yet. ")
            + "After fixing the cause, `make resume` continues the run.")
    return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="the run's training config (default: the latest run of --env)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides the run was started with (repeatable)")
    parser.add_argument("--env", default=None, choices=sorted(PROFILE_CONFIGS), help="profile whose latest run to show (default: this machine's)")
    parser.add_argument("--logs-dir", default=os.environ.get("WEATHERMAN_LOGS_DIR"), help="where run logs and records live (default: logs/)")
    parser.add_argument("--stall-minutes", type=float, default=float(os.environ.get("WEATHERMAN_STALL_MINUTES") or STALL_MINUTES),
                        help="no log or metrics progress for this long while alive = stalled (default 20, or $WEATHERMAN_STALL_MINUTES)")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.config, args.overrides, args.env, args.logs_dir, args.stall_minutes)


if __name__ == "__main__":
    raise SystemExit(main())
