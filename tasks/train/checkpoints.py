"""Run-folder bookkeeping for training: complete checkpoints, resume metadata, crash loops, the run lock.

Not run directly; `tasks.train.train` calls it, and the launcher calls `check_crash_loop`
before it starts a detached run. The files it reads and writes are the shared
run-folder contract in docs/ARCHITECTURE.md:

- `checkpoint-<step>/` counts only when it holds `COMPLETE`, written last after
  every other file is fsynced. `COMPLETE` lists each file with its size, so a
  checkpoint truncated afterwards (a full disk, a bad copy) is caught too.
- `resume_metadata.json`: `{last_step, resume_count, last_resume_at, run_name, config, reached_step}`.
  `resume_count` counts crashes at the same checkpoint: a start that finds the
  same `last_step` as the one before counts one more only when that earlier start
  reached a training step (`reached_step`) and then died; a start that failed
  before its first step (a missing token, a wrong python, a preemption while the
  model loaded) is a mistake, not a crash, and counts nothing. A start that finds
  a newer checkpoint counts 1 again. The start that would bring it to 3 is
  refused: `❌ ERROR: Crash loop detected`, exit code 2.
- `run_start.json`: `{started_at, config, data, world_size}` recorded at the first
  start (the resolved config, sha256 of the train and validation files, the number
  of processes). A resume whose settings differ is refused with the differences
  listed, unless forced (`--force`), which records the new settings and the change.
- `train.lock`: `{pid, host, started_at}` while a training process runs.

Stdlib only: the launcher imports this without paying for torch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
RUN_RECORD = "run_start.json"
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
        # Only a start that reached a training step and died before its next checkpoint is a crash.
        # (Metadata written before `reached_step` existed counts every start, as it used to.)
        crashed = previous.get("reached_step", True)
        count = int(previous.get("resume_count", 0)) + (1 if crashed else 0)
    else:
        count = 1
    return previous, latest, count


def _crash_loop_message(output_dir: Path, step: int, count: int) -> str:
    return (
        f"ERROR: Crash loop detected: the last {count - 1} starts from the newest checkpoint (step {step} "
        f"in {output_dir}) trained and then died before their next checkpoint. Read the end of the latest log in logs/, "
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
        {"last_step": step, "resume_count": count, "last_resume_at": now_iso(), "run_name": run_name, "config": config,
         "reached_step": False}
    )
    ui.write_json_atomic(output_dir / METADATA, meta)
    return (latest[0] if latest else None), step, meta


def mark_step_reached(output_dir: str | os.PathLike) -> None:
    """Record that this start reached a training step: from now on, dying before the next checkpoint is a crash."""
    meta = read_metadata(output_dir)
    if meta is not None and not meta.get("reached_step"):
        meta["reached_step"] = True
        ui.write_json_atomic(Path(output_dir) / METADATA, meta)


# ----------------------------------------------------------------- the run's settings, fixed at its first start

# Keys that may change between the starts of one run: they change how it is watched, saved,
# evaluated or named, not what it trains. The data paths are compared through their sha256.
MAY_CHANGE = ("run_name", "output_dir", "reporting.", "training.logging_steps", "training.save_steps",
              "training.save_total_limit", "training.eval_steps", "training.eval_timeout_s", "data.max_eval_examples",
              "data.train", "data.validation", "model.cache_dir", "model.tiny.path")
_ROOT = Path(__file__).resolve().parents[2]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_record(cfg: dict, world_size: int) -> dict:
    """What a run's first start fixes: the resolved config, the data files' sha256, the number of processes."""
    data = {}
    for key in ("train", "validation"):
        path = Path(cfg["data"][key])
        path = path if path.is_absolute() else _ROOT / path
        data[key] = {"path": cfg["data"][key], "sha256": _file_sha256(path) if path.is_file() else None}
    return {"started_at": now_iso(), "config": {k: v for k, v in cfg.items() if not k.startswith("_")},
            "data": data, "world_size": int(world_size)}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def run_differences(was: dict, now: dict) -> list[str]:
    """`key: was X, now Y` for every setting that differs and shapes what the run trains."""
    diffs = []
    a, b = _flatten(was.get("config") or {}), _flatten(now.get("config") or {})
    for key in sorted(set(a) & set(b)):  # a key only one side knows came with a code update
        if a[key] != b[key] and not key.startswith(MAY_CHANGE):
            diffs.append(f"{key}: was {json.dumps(a[key])}, now {json.dumps(b[key])}")
    for key in ("train", "validation"):
        old, new = (was.get("data") or {}).get(key) or {}, (now.get("data") or {}).get(key) or {}
        if old.get("sha256") != new.get("sha256"):
            def show(d):
                return f"{d.get('path')} sha256 {d['sha256'][:12]}" if d.get("sha256") else f"{d.get('path')} (no file)"
            diffs.append(f"data.{key} content: was {show(old)}, now {show(new)}")
    if was.get("world_size") is not None and was.get("world_size") != now.get("world_size"):
        diffs.append(f"world size (processes/GPUs): was {was['world_size']}, now {now['world_size']}")
    return diffs


def check_run_unchanged(output_dir: str | os.PathLike, record: dict, force: bool = False) -> list[str]:
    """Refuse (`ui.Fail`) a resume whose settings differ from those its run started with. Reads only.

    Returns the differences (empty when none, or when there is nothing to resume or to compare with).
    """
    output_dir = Path(output_dir)
    path = output_dir / RUN_RECORD
    if latest_complete_checkpoint(output_dir, warn=False) is None or not path.is_file():
        return []
    try:
        was = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ui.Fail(f"{path}: not valid JSON ({exc}); restore it, or pass --force to record the settings of this start") from exc
    diffs = run_differences(was, record)
    if diffs and not force:
        raise ui.Fail(
            f"{output_dir}: this run started with other settings ({path.name}, {was.get('started_at')}); resuming would "
            f"mix two runs in one adapter:\n  " + "\n  ".join(diffs) + "\n"
            "Either restore the old values and start again, or keep the new ones: `--force` (make train/resume FORCE=1) "
            "continues this run with them, or a new output_dir (--set output_dir=adapters/<new-run>) starts a fresh run."
        )
    return diffs


def settle_run_record(output_dir: str | os.PathLike, record: dict, force: bool = False) -> list[str]:
    """At each start: refuse a changed resume (see `check_run_unchanged`), else record the run's settings.

    The record is written at a start from step 0, when a run folder has none, and when `force`
    accepts changes (they are appended to its `changes`).
    """
    output_dir = Path(output_dir)
    path = output_dir / RUN_RECORD
    diffs = check_run_unchanged(output_dir, record, force)
    if latest_complete_checkpoint(output_dir, warn=False) is not None and path.is_file() and not diffs:
        return []
    if diffs:
        ui.warning("Resuming with changed settings (--force): " + "; ".join(diffs))
        was = json.loads(path.read_text(encoding="utf-8"))
        record = {**record, "changes": [*was.get("changes", []), {"at": now_iso(), "differences": diffs}]}
    ui.write_json_atomic(path, record)
    return diffs


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
