"""Start a training run detached in tmux, tee its output to a log, and watch its first minutes.

    python -m tasks.run.launch --config configs/training_config_h100.yaml --env h100 [--gpus N]
    make train-h100 [CONFIG=path] [GPUS=n]        # the H100 pre-flight, then this
    make train CONFIG=configs/training_config_cpu.yaml DETACH=1   # the same path on any machine

In order: refuse when the tmux session already exists (attach to it or stop
it), when another training holds the run folder, or when the run is in a crash
loop (exit 2, before anything starts); announce `logs/training_<YYYYmmdd_HHMMSS>.log`;
start `python -m tasks.train.train` in tmux session `weatherman-training` with all
its output teed to that log (the run survives a lost SSH connection); then
watch the log and metrics for the first 5 minutes or 100 steps, whichever
comes first (`tasks.run.monitor`). A real failure exits 1 with the failing lines;
otherwise it prints the estimated duration, how to reattach and follow the
log, the W&B run, and `[TRAINING-H100-STARTED] Training in progress`.

tmux comes from the system PATH, never from a conda environment (a
conda-installed ncurses has broken tmux on RunPod), and runs without the
environment's library paths; the training process itself gets this shell's
whole environment back (W&B and HF settings, CUDA_VISIBLE_DEVICES) through a
private file that the session reads and deletes at once, so nothing secret
appears in a process list. Tests set `WEATHERMAN_TMUX_SESSION` to use their
own session name.
"""

from __future__ import annotations

import argparse
import functools
import glob
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from tasks import ui

from tasks.train import checkpoints

from tasks.run import eta, monitor
from tasks.config import PROFILE_CONFIGS, ROOT, load_config
from tasks.train.train import FORCE_ENV, TAGS

DEFAULT_SESSION = "weatherman-training"
WATCH_S = 300.0
WATCH_STEPS = 100
# Variables that belong to the launching shell or its terminal, not to the training
# (and bash's read-only ones, which cannot be set again).
_ENV_SKIP = {"TMUX", "TMUX_PANE", "TERM", "TERMCAP", "COLUMNS", "LINES", "PWD", "OLDPWD", "SHLVL", "_", "PS1",
             "BASHOPTS", "SHELLOPTS", "BASHPID", "UID", "EUID", "PPID", "GROUPS"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WANDB_URL = re.compile(r"https://wandb\.ai/\S+/runs/[A-Za-z0-9_-]+")


def session_name(name: str | None = None) -> str:
    return name or os.environ.get("WEATHERMAN_TMUX_SESSION") or DEFAULT_SESSION


def _is_conda_dir(d: str) -> bool:
    parts = {p.lower() for p in Path(d).parts}
    prefix = os.environ.get("CONDA_PREFIX")
    return bool(parts & {"conda", "miniconda3", "anaconda3", "miniforge3", "mambaforge", "envs"}) or bool(
        prefix and Path(d).is_relative_to(prefix))


def tmux_binary() -> str:
    """tmux from the system PATH; a conda environment's copy only as the last resort, with a warning."""
    return _find_tmux(os.environ.get("PATH", ""), os.environ.get("CONDA_PREFIX"))


@functools.lru_cache(maxsize=8)
def _find_tmux(path: str, conda_prefix: str | None) -> str:
    conda_copy = None
    for d in path.split(os.pathsep):
        cand = Path(d or ".") / "tmux"
        if not (cand.is_file() and os.access(cand, os.X_OK)):
            continue
        if _is_conda_dir(d):
            conda_copy = conda_copy or str(cand)
            continue
        return str(cand)
    if conda_copy:
        ui.warning(f"Only a conda tmux was found ({conda_copy}); conda's ncurses has broken tmux before. "
                   f"If it fails, install the system one: apt-get install -y tmux")
        return conda_copy
    raise ui.Fail("tmux: not installed (a detached run lives in tmux so it survives a lost SSH connection); "
                  "install it with `apt-get install -y tmux` (RunPod/Debian/Ubuntu) or `brew install tmux` (Mac), then rerun")


def tmux_env() -> dict:
    """The environment for tmux itself: no conda library paths or terminfo that could replace the system ncurses."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD", "TERMINFO", "TERMINFO_DIRS",
                                                              "DYLD_LIBRARY_PATH")}
    return env


def tmux(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([tmux_binary(), *args], env=tmux_env(), capture_output=True, text=True, check=check)


def session_exists(name: str) -> bool:
    # "=name" matches the name exactly; a bare name would also match any session it is a prefix of.
    return tmux("has-session", "-t", f"={name}").returncode == 0


def rel(path: Path) -> str:
    """A path as people type it: relative to the project when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _env_file() -> Path:
    """This shell's environment as `export` lines in a 0600 file, for the training inside tmux."""
    fd, name = tempfile.mkstemp(prefix="weatherman-env-", suffix=".sh")  # mode 0600
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for key, value in sorted(env.items()):
            if key in _ENV_SKIP or not _NAME_RE.match(key) or key.startswith("BASH_"):
                continue
            fh.write(f"export {key}={shlex.quote(value)}\n")
    return Path(name)


def train_command(config: str, overrides: list[str], gpus: int, log: Path) -> list[str]:
    cmd = [sys.executable, "-m", "tasks.train.train", "--config", config, "--gpus", str(gpus)]
    for o in overrides:
        cmd += ["--set", o]
    return cmd + ["--log-file", rel(log)]


def wrapper_script(cmd: list[str], log: Path, env_file: Path, tag: str) -> str:
    """The bash script the tmux session runs: environment, training teed to the log, exit code recorded."""
    exit_file = monitor.exit_file_for(log)
    q = shlex.quote
    return "\n".join([
        f"cd {q(str(ROOT))} || exit 1",
        f". {q(str(env_file))}; rm -f {q(str(env_file))}",
        # tee reads the training's output through a FIFO and ignores HUP, INT and TERM, so the last lines
        # always reach the log. The training runs as a background job of this script, which waits for it:
        # `tmux kill-session` (SIGHUP to this script) becomes a SIGTERM to the training, which writes a
        # checkpoint and exits cleanly; a Ctrl-C in the pane reaches the training directly (once).
        "trap '' HUP INT",
        'fifo=$(mktemp -u "${TMPDIR:-/tmp}/weatherman-tee.XXXXXX") && mkfifo -m 600 "$fifo" || exit 1',
        f"(trap '' HUP INT TERM; exec tee -a {q(str(log))} < \"$fifo\") &",
        "tee_pid=$!",
        f'{shlex.join(cmd)} > "$fifo" 2>&1 &',
        "pid=$!",
        'trap \'kill -TERM "$pid" 2>/dev/null\' HUP TERM',
        # `wait` returns early (status > 128) when a trap runs: keep waiting while the training lives.
        'while :; do wait "$pid"; rc=$?; if [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi; break; done',
        'wait "$tee_pid"; rm -f "$fifo"',
        f'echo "[{tag}] Training process exited with code $rc" >> {q(str(log))}',
        f'echo "[{tag}] Training process exited with code $rc"',
        f'printf "%s\\n" "$rc" > {q(str(exit_file))}.tmp && mv -f {q(str(exit_file))}.tmp {q(str(exit_file))}',
        'exit "$rc"',
    ])


def _stop_hint(session: str) -> str:
    return (f"attach to it with `tmux attach -t {session}`, or stop it with `tmux send-keys -t {session} C-c` "
            f"(it writes a checkpoint, then exits) and start again")


def wandb_line(cfg: dict, log: Path, output_dir: Path) -> str:
    """Where to follow the run on W&B: the real run URL, the offline sync command, or why there is none."""
    if cfg["reporting"]["report_to"] != "wandb" or os.environ.get("WANDB_MODE") == "disabled":
        why = "reporting.report_to: none" if cfg["reporting"]["report_to"] != "wandb" else "WANDB_MODE=disabled"
        return f"W&B: off ({why}); progress is in the log and `make eta`"
    text = "\n".join(monitor.split_lines(log.read_text(encoding="utf-8", errors="replace"))) if log.is_file() else ""
    urls = _WANDB_URL.findall(text)
    if urls:
        return f"Monitor remotely: {urls[-1]}"
    if "W&B offline" in text or os.environ.get("WANDB_MODE") == "offline":
        runs = sorted(glob.glob(str(output_dir / "wandb" / "offline-run-*")))
        target = rel(Path(runs[-1])) if runs else f"{rel(output_dir)}/wandb/offline-run-*"
        return f"W&B offline: upload the run later with `wandb sync {target}`"
    return f"W&B: the run URL is printed in the log once W&B starts (`grep wandb.ai {rel(log)}`)"


def run(config: str, overrides: list[str] | None = None, env: str | None = None, gpus: int = 1,
        session: str | None = None, logs_dir: str | None = None, watch_s: float = WATCH_S,
        watch_steps: int = WATCH_STEPS) -> int:
    overrides = list(overrides or [])
    cfg = load_config(config, overrides)
    env = env or cfg["profile"]
    tag = TAGS[env]
    output_dir = eta.output_dir_of(cfg)
    session = session_name(session)
    logs_dir = Path(logs_dir) if logs_dir else eta.LOGS_DIR
    config = rel(Path(config).resolve()) if Path(config).exists() else config

    tmux_binary()  # missing tmux fails here, before anything is written
    if session_exists(session):
        raise ui.Fail(f"tmux session '{session}' is already running a training (not touched): {_stop_hint(session)}")
    holder = checkpoints.read_lock(output_dir)
    if checkpoints.lock_owner_alive(holder):
        raise ui.Fail(f"{output_dir}: another training is running there (pid {holder['pid']} on {holder.get('host')}); "
                      f"watch it with `make status`, or stop it with `kill {holder['pid']}` (it checkpoints and exits)")
    if (output_dir / checkpoints.FINAL).is_file():
        ui.success(f"{output_dir}: already trained (FINAL present); nothing to start. "
                   f"To train again, pass another output_dir (--set output_dir=adapters/<new-run>).")
        return 0
    checkpoints.check_crash_loop(output_dir)  # ui.CrashLoop: exit 2 before a session starts
    # a resume with other settings than the run started with: refused here too, before a session starts
    checkpoints.check_run_unchanged(output_dir, checkpoints.run_record(cfg, gpus), os.environ.get(FORCE_ENV) == "1")
    latest = checkpoints.latest_complete_checkpoint(output_dir, warn=False)
    if latest:
        ui.warning(f"RESUME: Found checkpoint at step {latest[1]}. Resuming training.")

    log = eta.new_log_path(logs_dir, "training")
    log.touch()
    ui.info(tag, f"Log file: {rel(log)}")
    cmd = train_command(config, overrides, gpus, log)
    env_file = _env_file()
    offset = eta.metrics_size(output_dir)
    try:
        started = tmux("new-session", "-d", "-s", session, "-x", "220", "-y", "50", "-c", str(ROOT),
                       "/bin/bash", "-c", wrapper_script(cmd, log, env_file, tag))
        if started.returncode != 0:
            raise ui.Fail(f"tmux could not start session '{session}': {started.stderr.strip() or started.stdout.strip()} "
                          f"(try `tmux new-session -d -s test` by hand; install the system tmux with `apt-get install -y tmux`)")
        eta.write_record(logs_dir, env, {"config": config, "overrides": overrides, "gpus": gpus, "mode": "tmux",
                                         "session": session, "log_file": str(log), "output_dir": str(output_dir)})
        ui.info(tag, f"Starting training in tmux session: {session}")
        ui.info(tag, f"Watching the first {watch_s:g} s or {watch_steps} steps, whichever comes first, for failures")
        result = monitor.watch(log, output_dir, metrics_offset=offset, alive=lambda: session_exists(session),
                               window_s=watch_s, window_steps=watch_steps)
    except KeyboardInterrupt:
        raise ui.Fail(f"stopped watching (Ctrl-C); the training goes on in tmux session '{session}': "
                      f"`tmux attach -t {session}`, `make status`") from None
    finally:
        env_file.unlink(missing_ok=True)  # normally the session has already read and deleted it

    if not result.ok:
        ui.error(f"Training failed in its first minutes: {result.reason}. The failing lines of {rel(log)}:")
        monitor.print_lines(result.lines)
        if session_exists(session):
            ui.warning(f"The tmux session '{session}' is still open: {_stop_hint(session)}")
        ui.info(tag, f"Full log: {rel(log)}; after fixing the cause, `make resume` continues from the newest checkpoint")
        return 1

    ui.success(f"Training started successfully ({result.reason})")
    events, _ = eta.read_events_from(output_dir, offset)
    est = eta.estimate(events)
    if result.finished:
        ui.info(f"{tag}-COMPLETE", f"Training finished inside the watch window: adapter in {rel(output_dir)}")
        ui.info(tag, f"Log: {rel(log)}")
        return 0
    left = eta.remaining_now(est)
    if left is not None:
        ui.info(tag, f"Estimated duration: {eta.fmt_hm(left)} remaining (step {est.step}/{est.total_steps}, "
                     f"{est.steps_per_s:.3g} steps/s" + (f", {est.tokens_per_s:,.0f} tokens/s" if est.tokens_per_s else "") + ")")
    else:
        ui.info(tag, "Estimated duration: not measured yet (no steps logged in the watch window); `make eta` in a few minutes")
    ui.info(tag, f"Reconnect with: tmux attach -t {session}")
    ui.info(tag, wandb_line(cfg, log, output_dir))
    ui.info(tag, f"Follow the log: tail -f {rel(log)}")
    ui.info(tag, "Check on it from any shell: make status, make eta")
    ui.info(f"{tag}-STARTED", "Training in progress")
    return 0


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise SystemExit(f"{name}={value!r}: expected a number") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="training config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. training.max_steps=20 (repeatable)")
    parser.add_argument("--env", default=None, choices=sorted(PROFILE_CONFIGS), help="profile for the output tags (default: the config's)")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs (processes) for the training entry")
    parser.add_argument("--session", default=None, help=f"tmux session name (default: $WEATHERMAN_TMUX_SESSION or {DEFAULT_SESSION})")
    parser.add_argument("--logs-dir", default=os.environ.get("WEATHERMAN_LOGS_DIR"), help="where logs go (default: logs/)")
    parser.add_argument("--watch-seconds", type=float, default=env_number("WEATHERMAN_WATCH_S", WATCH_S),
                        help="watch window in seconds (default 300, or $WEATHERMAN_WATCH_S)")
    parser.add_argument("--watch-steps", type=int, default=int(env_number("WEATHERMAN_WATCH_STEPS", WATCH_STEPS)),
                        help="watch window in steps (default 100, or $WEATHERMAN_WATCH_STEPS)")
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error(f"--gpus {args.gpus}: expected 1 or more")
    return ui.main_guard(run, args.config, args.overrides, args.env, args.gpus, args.session, args.logs_dir,
                         args.watch_seconds, args.watch_steps)


if __name__ == "__main__":
    raise SystemExit(main())
