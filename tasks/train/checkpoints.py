"""Run-folder bookkeeping for training: complete checkpoints, resume metadata, crash loops, the run lock.

Not run directly; `tasks.train.train` calls it, and the launcher calls `check_crash_loop`
before it starts a detached run. The files it reads and writes are the shared
run-folder contract in docs/ARCHITECTURE.md:

- `checkpoint-<step>/` counts only when it holds `COMPLETE`, written last after
  every other file is fsynced. `COMPLETE` lists each file with its size, so a
  checkpoint truncated afterwards (a full disk, a bad copy) is caught too.
- `resume_metadata.json`: `{last_step, resume_count, last_resume_at, run_name, config}`.
  `resume_count` counts the starts in a row that found the same `last_step`
  (a start that finds a newer checkpoint counts 1 again). The start that would
  bring it to 3 is refused: `❌ ERROR: Crash loop detected`, exit code 2.
- `train.lock`: `{pid, host, started_at}` while a training process runs.

Stdlib only: the launcher imports this without paying for torch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
from pathlib import Path

from tasks import ui

TAG = "TRAINING"
COMPLETE = "COMPLETE"
FINAL = "FINAL"
METADATA = "resume_metadata.json"
LOCK = "train.lock"
CRASH_LOOP_LIMIT = 3
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


# ----------------------------------------------------------------- checkpoints


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mark_complete(checkpoint: str | os.PathLike, step: int) -> None:
    """Fsync every file of a finished checkpoint, then write `COMPLETE` (atomically) last."""
    checkpoint = Path(checkpoint)
    files = {}
    for f in sorted(p for p in checkpoint.rglob("*") if p.is_file() and p.name != COMPLETE):
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
        files[str(f.relative_to(checkpoint))] = f.stat().st_size
    for d in [checkpoint, *(p for p in checkpoint.rglob("*") if p.is_dir())]:
        _fsync_dir(d)
    ui.write_json_atomic(checkpoint / COMPLETE, {"step": step, "files": files, "written_at": now_iso()})
    _fsync_dir(checkpoint)


def checkpoint_problem(checkpoint: str | os.PathLike) -> str | None:
    """Why a checkpoint folder cannot be resumed from, or None when it is complete."""
    checkpoint = Path(checkpoint)
    marker = checkpoint / COMPLETE
    if not marker.is_file():
        return f"no {COMPLETE} marker (the process stopped while writing it)"
    try:
        manifest = json.loads(marker.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"unreadable {COMPLETE} marker ({exc})"
    for name, size in files.items():
        f = checkpoint / name
        if not f.is_file():
            return f"{name} is missing"
        if f.stat().st_size != size:
            return f"{name} has {f.stat().st_size} bytes, {size} were written"
    if "trainer_state.json" not in files:
        return "no trainer_state.json"
    return None


def list_checkpoints(output_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Every `checkpoint-<step>` folder, complete or not, oldest first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = []
    for p in output_dir.iterdir():
        m = _CHECKPOINT_RE.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_complete_checkpoint(output_dir: str | os.PathLike, warn: bool = True) -> tuple[Path, int] | None:
    """(path, step) of the newest complete checkpoint; newer incomplete or corrupt ones are skipped with a warning."""
    for step, path in reversed(list_checkpoints(output_dir)):
        problem = checkpoint_problem(path)
        if problem is None:
            return path, step
        if warn:
            ui.warning(f"Skipping checkpoint {path}: {problem}. Using the one before it.")
    return None


def rotate_checkpoints(output_dir: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest `keep` complete checkpoints, and incomplete ones older than the newest complete one.

    Only complete checkpoints count towards `keep`, so a half-written newest one
    never pushes out the last good one.
    """
    checkpoints = list_checkpoints(output_dir)
    complete = [(s, p) for s, p in checkpoints if checkpoint_problem(p) is None]
    if not complete:
        return []
    newest = complete[-1][0]
    kept = {p for _, p in complete[-keep:]}
    removed = []
    for step, path in checkpoints:
        if path not in kept and step <= newest:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


# ----------------------------------------------------------------- resume metadata and crash loop


def read_metadata(output_dir: str | os.PathLike) -> dict | None:
    path = Path(output_dir) / METADATA
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ui.Fail(f"{path}: not valid JSON ({exc}); delete it to start the counter again (checkpoints are kept)") from exc
    if not isinstance(meta, dict):
        raise ui.Fail(f"{path}: expected a JSON object; delete it to start the counter again (checkpoints are kept)")
    return meta


def _next_start(output_dir: str | os.PathLike, warn: bool) -> tuple[dict | None, tuple[Path, int] | None, int]:
    """(previous metadata, checkpoint to resume from, resume_count this start would record)."""
    previous = read_metadata(output_dir)
    latest = latest_complete_checkpoint(output_dir, warn=warn)
    step = latest[1] if latest else 0
    if previous is None:
        count = 1 if latest else 0
    elif step == int(previous.get("last_step", 0)):
        count = int(previous.get("resume_count", 0)) + 1
    else:
        count = 1
    return previous, latest, count


def _crash_loop_message(output_dir: Path, step: int, count: int) -> str:
    return (
        f"ERROR: Crash loop detected: {count} starts in a row found the newest checkpoint at step {step} "
        f"in {output_dir}; training keeps dying before its next checkpoint. Read the end of the latest log in logs/, "
        f"fix the cause, then delete {output_dir / METADATA} to allow a new start (checkpoints are kept)."
    )


def check_crash_loop(output_dir: str | os.PathLike) -> None:
    """Raise `ui.CrashLoop` exactly when the next start would be refused. Reads only; writes nothing."""
    output_dir = Path(output_dir)
    _, latest, count = _next_start(output_dir, warn=False)
    if count >= CRASH_LOOP_LIMIT:
        raise ui.CrashLoop(_crash_loop_message(output_dir, latest[1] if latest else 0, count))


def prepare_resume(output_dir: str | os.PathLike, run_name: str, config: dict) -> tuple[Path | None, int, dict]:
    """Decide how this start begins and record it in resume_metadata.json (atomically).

    Returns (checkpoint to resume from or None, its step, the metadata written).
    Raises `ui.CrashLoop` before touching anything when the start must be refused.
    A resumed run keeps the run name it started with.
    """
    output_dir = Path(output_dir)
    previous, latest, count = _next_start(output_dir, warn=True)
    step = latest[1] if latest else 0
    if count >= CRASH_LOOP_LIMIT:
        raise ui.CrashLoop(_crash_loop_message(output_dir, step, count))
    if previous and previous.get("run_name"):
        run_name = previous["run_name"]
    meta = dict(previous or {})
    meta.update(
        {"last_step": step, "resume_count": count, "last_resume_at": now_iso(), "run_name": run_name, "config": config}
    )
    ui.write_json_atomic(output_dir / METADATA, meta)
    return (latest[0] if latest else None), step, meta


# ----------------------------------------------------------------- run lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def read_lock(output_dir: str | os.PathLike) -> dict | None:
    path = Path(output_dir) / LOCK
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        return {}  # half-written by a process that died at that instant: no live owner to protect


def lock_owner_alive(lock: dict | None) -> bool:
    """True when the lock's process is alive on this host (a lock from another host counts as alive)."""
    if not lock or "pid" not in lock:
        return False
    if lock.get("host") not in (None, socket.gethostname()):
        return True
    return _pid_alive(int(lock["pid"]))


def acquire_lock(output_dir: str | os.PathLike, pid: int | None = None) -> Path:
    """Create train.lock for this process; refuse while a live process holds it; take over a stale one."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / LOCK
    mine = {"pid": pid or os.getpid(), "host": socket.gethostname(), "started_at": now_iso()}
    for _ in range(3):
        tmp = output_dir / f".{LOCK}.{mine['pid']}.tmp"
        tmp.write_text(json.dumps(mine) + "\n", encoding="utf-8")
        try:
            # link() fails when the lock exists: two starts cannot both win.
            os.link(tmp, path)
            return path
        except FileExistsError:
            holder = read_lock(output_dir)
            if lock_owner_alive(holder):
                raise ui.Fail(
                    f"{output_dir}: another training is running there (pid {holder['pid']} on {holder.get('host')}, "
                    f"started {holder.get('started_at')}); wait for it, watch it with `make status`, or stop it with "
                    f"`kill {holder['pid']}` (it checkpoints and exits)"
                ) from None
            ui.warning(f"Taking over a stale lock {path} (pid {(holder or {}).get('pid')} is not running).")
            # rename is atomic: of two starts taking over, one renames it, the other retries link().
            try:
                os.replace(path, output_dir / f".{LOCK}.stale.{mine['pid']}")
                os.unlink(output_dir / f".{LOCK}.stale.{mine['pid']}")
            except FileNotFoundError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    raise ui.Fail(f"{path}: could not take the run lock; another start is racing for it (try again)")


def release_lock(output_dir: str | os.PathLike, pid: int | None = None) -> None:
    """Remove train.lock if this process holds it."""
    path = Path(output_dir) / LOCK
    holder = read_lock(output_dir)
    if holder and int(holder.get("pid", -1)) == (pid or os.getpid()):
        path.unlink(missing_ok=True)
