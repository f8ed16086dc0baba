"""Where the latest training run is, how far it got, and when it will finish.

    python -m tasks.run.eta --config configs/training_config_h100.yaml
    python -m tasks.run.eta --env h100          # the run `make train-h100` / `make resume` last started
    make eta

Reads `<output_dir>/metrics.jsonl` (docs/ARCHITECTURE.md): the current step,
tokens/s and the estimated completion. The rate is measured from the step
events after the latest `start` event only, leaving out the first steps after
it (warm-up), so the estimate is right after a resume too: the steps done
before the resume, and the minutes spent loading the model again, do not
inflate or deflate it. Says plainly when the run has finished, stopped, or
has logged no step yet.

Also the shared helpers of the orchestration tasks (launch, monitor, status,
resume, train_m4): the run folder of a config, the metrics events, and the
record of the latest start of each profile (`logs/last_run_<profile>.json`:
config, overrides, GPUs, tmux session or foreground, log file), which lets
`make resume`, `make status` and `make eta` find a run started with any CONFIG.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import time
from pathlib import Path

from tasks import ui

from tasks.train import checkpoints, mlx_plan
from tasks.config import PROFILE_CONFIGS, ROOT, default_profile, load_config, project_path

TAG = "ETA"
LOGS_DIR = ROOT / "logs"
METRICS = "metrics.jsonl"
# Step events right after a (re)start that the rate leaves out: the first steps pay for
# allocator warm-up and kernel selection (the training entry leaves out the same number).
WARMUP_STEPS = 3


# ----------------------------------------------------------------- run folder and records


def output_dir_of(cfg: dict) -> Path:
    """The run folder of a resolved config, relative paths taken from the project root (as tasks.train.train does)."""
    return project_path(cfg["output_dir"])


def record_path(logs_dir: Path, env: str) -> Path:
    return Path(logs_dir) / f"last_run_{env}.json"


def write_record(logs_dir: Path, env: str, record: dict) -> Path:
    """Remember how the latest run of a profile was started, for resume, status and eta."""
    path = record_path(logs_dir, env)
    ui.write_json_atomic(path, {**record, "env": env, "recorded_at": checkpoints.now_iso()})
    return path


def read_record(logs_dir: Path, env: str) -> dict | None:
    path = record_path(logs_dir, env)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ui.Fail(f"{path}: not valid JSON ({exc}); delete it (pass CONFIG=... to name the run instead)") from exc
    if not isinstance(record, dict) or "config" not in record:
        raise ui.Fail(f"{path}: not a run record (no 'config'); delete it (pass CONFIG=... to name the run instead)")
    return record


def new_log_path(logs_dir: Path, prefix: str) -> Path:
    """`<logs_dir>/<prefix>_<YYYYmmdd_HHMMSS>.log`, never an existing one (two starts in one second wait a second)."""
    logs_dir = Path(logs_dir)
    logs_dir.mkdir(parents=True, exist_ok=True)
    while True:
        path = logs_dir / f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}.log"
        if not path.exists():
            return path
        time.sleep(0.2)


@dataclasses.dataclass
class Run:
    """A training run as the orchestration tasks see it."""

    config: str
    overrides: list[str]
    cfg: dict
    env: str
    output_dir: Path
    logs_dir: Path
    record: dict | None  # how it was last started by launch/train_m4, when that was this run

    @property
    def session(self) -> str | None:
        return (self.record or {}).get("session")


def locate(config: str | None = None, overrides: list[str] | None = None, env: str | None = None,
           logs_dir: str | Path | None = None) -> Run:
    """The run named by a config (plus overrides), else the latest one started for a profile.

    Without a config, the profile's record (written at each start) supplies the
    config and overrides, so a run started with CONFIG=... is still found; with
    no record, the profile's own config is used.
    """
    logs_dir = Path(logs_dir) if logs_dir else LOGS_DIR
    if config:
        cfg = load_config(config, overrides)
        env = cfg["profile"]
        record = read_record(logs_dir, env)
        out = output_dir_of(cfg)
        if record and Path(record.get("output_dir", "")) != out:
            record = None  # the record is about another run of this profile
        return Run(config, list(overrides or []), cfg, env, out, logs_dir, record)
    env = env or default_profile()
    if env not in PROFILE_CONFIGS:
        raise ui.Fail(f"--env {env!r}: unknown profile (expected one of {', '.join(PROFILE_CONFIGS)})")
    record = read_record(logs_dir, env)
    if record:
        cfg = load_config(record["config"], record.get("overrides"))
        return Run(record["config"], list(record.get("overrides") or []), cfg, env, output_dir_of(cfg), logs_dir, record)
    config = str(PROFILE_CONFIGS[env].relative_to(ROOT))
    cfg = load_config(config)
    return Run(config, [], cfg, env, output_dir_of(cfg), logs_dir, None)


# ----------------------------------------------------------------- metrics


def metrics_size(output_dir: Path) -> int:
    try:
        return (Path(output_dir) / METRICS).stat().st_size
    except FileNotFoundError:
        return 0


def read_events_from(output_dir: Path, offset: int = 0) -> tuple[list[dict], int]:
    """(events of metrics.jsonl from byte `offset` on, the offset to read from next time).

    The training entry appends and flushes whole lines, but a reader can still
    catch the last one half-written: an unterminated last line is left for the
    next read. A malformed complete line is an error (the file was edited or
    corrupted), named with its line.
    """
    path = Path(output_dir) / METRICS
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]  # b"" when no line is complete yet
    events = []
    for n, line in enumerate(complete.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ui.Fail(f"{path}: line {n} (from byte {offset}) is not JSON ({exc}); the file was damaged") from exc
        if isinstance(row, dict) and "event" in row:
            events.append(row)
    return events, offset + len(complete)


def read_events(output_dir: Path) -> list[dict]:
    """Every complete event of a run folder's metrics.jsonl (none when it does not exist)."""
    return read_events_from(output_dir)[0]


def parse_time(stamp: str | None) -> dt.datetime | None:
    if not stamp:
        return None
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when if when.tzinfo else when.astimezone()


@dataclasses.dataclass
class Estimate:
    state: str  # "none": no start yet; "started": no step since the latest start; "training"; "ended"
    start: dict | None = None
    last: dict | None = None  # the latest step event since the latest start
    end: dict | None = None  # the end event of the latest start, if any
    steps_per_s: float | None = None
    tokens_per_s: float | None = None
    remaining_s: float | None = None
    finish_at: dt.datetime | None = None
    measured_from: int | None = None  # first step of the measurement
    rough: bool = False  # measured with warm-up steps included (too few steps yet)

    @property
    def step(self) -> int:
        if self.end is not None and self.end.get("step") is not None:
            return int(self.end["step"])
        if self.last is not None:
            return int(self.last["step"])
        return int((self.start or {}).get("step") or 0)

    @property
    def total_steps(self) -> int | None:
        src = self.last or self.start or {}
        return src.get("total_steps")


def estimate(events: list[dict]) -> Estimate:
    """Progress and completion estimate from the events of one run folder."""
    starts = [i for i, e in enumerate(events) if e["event"] == "start"]
    if not starts:
        # A start that failed before its first step (bad data, no GPU) leaves only its end.
        ends = [e for e in events if e["event"] == "end"]
        return Estimate("none", end=ends[-1] if ends else None)
    i0 = starts[-1]
    start = events[i0]
    after = events[i0 + 1:]
    steps = [e for e in after if e["event"] == "step" and e.get("step") is not None]
    ends = [e for e in after if e["event"] == "end"]
    est = Estimate("started", start=start, last=steps[-1] if steps else None, end=ends[-1] if ends else None)
    if est.end is not None:
        est.state = "ended"
    if not steps:
        return est
    if est.state != "ended":
        est.state = "training"
    last = steps[-1]
    est.tokens_per_s = last.get("tokens_per_s")
    # Rate between the first step past warm-up and the latest step, on the clock of this start
    # (`elapsed_s` counts from this start's first step). Too few steps yet: include warm-up, say so.
    warm = [e for e in steps if int(e["step"]) >= int(start.get("step") or 0) + WARMUP_STEPS and e.get("elapsed_s") is not None]
    base = warm[0] if len(warm) >= 2 else None
    if base is not None and last["elapsed_s"] > base["elapsed_s"]:
        est.steps_per_s = (last["step"] - base["step"]) / (last["elapsed_s"] - base["elapsed_s"])
        est.measured_from = int(base["step"])
    elif last.get("elapsed_s"):
        done = int(last["step"]) - int(start.get("step") or 0)
        if done > 0:
            est.steps_per_s = done / last["elapsed_s"]
            est.measured_from = int(start.get("step") or 0)
            est.rough = True
    total = last.get("total_steps") or start.get("total_steps")
    if est.steps_per_s and total:
        est.remaining_s = max(0, int(total) - int(last["step"])) / est.steps_per_s
        at = parse_time(last.get("timestamp"))
        if at is not None:
            est.finish_at = at + dt.timedelta(seconds=est.remaining_s)
    return est


def fmt_hm(seconds: float) -> str:
    """`X hours Y minutes`, minutes rounded up so that a short remainder never reads as 0 minutes.

    Always this shape (plural words included) so that agents can parse the line.
    """
    minutes = math.ceil(max(0.0, seconds) / 60)
    return f"{minutes // 60} hours {minutes % 60} minutes"


def remaining_now(est: Estimate, now: dt.datetime | None = None) -> float | None:
    """Seconds left from now: the estimate made at the latest step event, less the time since it."""
    if est.finish_at is None:
        return est.remaining_s
    now = now or dt.datetime.now().astimezone()
    return max(0.0, (est.finish_at - now).total_seconds())


def describe(est: Estimate, output_dir: Path) -> list[str]:
    """The lines `make eta` prints after the run state, each read by people and agents."""
    last, total = est.last, est.total_steps
    if est.state == "none":
        return [f"No training start recorded in {output_dir / METRICS} yet: no data to estimate from."]
    if est.last is None:
        return [f"Current: step {est.step}, no step logged since the latest start ({est.start.get('timestamp')})"]
    where = f"step {est.step}/{total}" if total else f"step {est.step}"
    if total:
        where += f" ({100 * est.step / total:.1f}%)"
    if last and last.get("loss") is not None:
        where += f", loss {last['loss']:.4f}"
    lines = [f"Current: {where}"]
    resumed = est.start.get("resumed_from")
    if resumed is not None:
        lines.append(f"Resumed from step {resumed} at {est.start.get('timestamp')}; throughput counts only the steps since then.")
    if est.tokens_per_s:
        lines.append(f"Throughput: {est.tokens_per_s:,.0f} tokens/s" + (f", {est.steps_per_s:.3g} steps/s" if est.steps_per_s else ""))
    return lines


def measured_speed_line(logs_dir: Path, profile: str) -> str | None:
    """The tokens/s `make train-m4` measured over its first steps on this Mac (logs/speed_m4.json), as one line."""
    speed = mlx_plan.read_speed(logs_dir)
    if speed is None or speed.get("profile") != profile:
        return None
    return (f"Measured by make train-m4: {float(speed['tokens_per_s']):,.1f} tokens/s over steps {speed['steps'][0] + 1}-"
            f"{speed['steps'][1]} ({speed.get('measured_at')}, checkpointing {'on' if speed.get('gradient_checkpointing') else 'off'}); "
            f"make plan uses it")


# ----------------------------------------------------------------- the verb


def run(config: str | None = None, overrides: list[str] | None = None, env: str | None = None,
        logs_dir: str | None = None) -> int:
    r = locate(config, overrides, env, logs_dir)
    est = estimate(read_events(r.output_dir))
    final = r.output_dir / checkpoints.FINAL
    ui.info(TAG, f"Run folder: {r.output_dir}")
    for line in describe(est, r.output_dir):
        ui.info(TAG, line)
    if line := measured_speed_line(r.logs_dir, r.env):
        ui.info(TAG, line)
    if final.is_file():
        done = json.loads(final.read_text(encoding="utf-8"))
        ui.success(f"Training finished at step {done.get('step')} ({done.get('finished_at')}): no time remaining.")
        return 0
    alive = checkpoints.lock_owner_alive(checkpoints.read_lock(r.output_dir))
    if alive and est.state != "training":
        ui.info(TAG, "The training process is starting (loading the model and data): no step logged since its start yet; "
                     "ask again in a minute.")
        return 0
    if est.state == "none" and est.end is None:
        return 0
    if est.state != "training" or not alive:
        how = f"ended with status '{est.end.get('status')}'" if est.end else "is not running (its process is gone)"
        ui.warning(f"The run {how} at step {est.step} without a final adapter: no completion to estimate. "
                   f"`make status` shows why it stopped; `make resume` continues it.")
        return 0
    left = remaining_now(est)
    if left is None:
        ui.info(TAG, "Not enough steps since the latest start to measure the rate yet; ask again in a minute.")
        return 0
    when = est.finish_at.astimezone().strftime("%Y-%m-%d %H:%M %Z") if est.finish_at else "unknown"
    note = " (rough: includes warm-up steps)" if est.rough else f" (rate measured from step {est.measured_from})"
    ui.info(TAG, f"Estimated completion: {fmt_hm(left)} (around {when}){note}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="the run's training config (default: the latest run of --env)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides the run was started with (repeatable)")
    parser.add_argument("--env", default=None, choices=sorted(PROFILE_CONFIGS), help="profile whose latest run to read (default: this machine's)")
    parser.add_argument("--logs-dir", default=os.environ.get("WEATHERMAN_LOGS_DIR"), help="where run logs and records live (default: logs/)")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.config, args.overrides, args.env, args.logs_dir)


if __name__ == "__main__":
    raise SystemExit(main())
