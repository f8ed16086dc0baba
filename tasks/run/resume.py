"""Resume this machine's latest run from its newest complete checkpoint, the way it was started.

    python -m tasks.run.resume --env h100      # again in tmux, watched like `make train-h100`
    python -m tasks.run.resume --env m4        # again in the foreground, like `make train-m4`
    make resume [FORCE=1]

The run is the one the profile's record names (`logs/last_run_<profile>.json`,
written at each start: config, overrides, GPUs, tmux or foreground), else the
profile's own config. The training entry itself picks the newest *complete*
checkpoint, applies the crash-loop rule (exit 2) and refuses settings that
changed since the run's first start (`--force` keeps the new ones); the
detached path checks both before it opens a tmux session. A finished run is
left alone, and a run that is still alive is not started twice.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from tasks import ui

from tasks.train import checkpoints

from tasks.run import eta, launch, train_m4
from tasks.config import PROFILE_CONFIGS, ROOT, default_profile
from tasks.train.train import FORCE_ENV, TAGS


def run(env: str | None = None, logs_dir: str | None = None, session: str | None = None,
        watch_s: float = launch.WATCH_S, watch_steps: int = launch.WATCH_STEPS, force: bool = False) -> int:
    env = env or default_profile()
    if force:
        # reaches the training entry in every mode: tmux (the launcher exports the environment), M4, foreground
        os.environ[FORCE_ENV] = "1"
    r = eta.locate(env=env, logs_dir=logs_dir)
    tag = TAGS[env]
    out = r.output_dir
    record = r.record or {}
    mode = record.get("mode") or {"h100": "tmux", "m4": "m4-foreground"}.get(env, "foreground")
    if (out / checkpoints.FINAL).is_file():
        ui.success(f"{out}: the run already finished (FINAL present); nothing to resume. `make status` shows the adapter.")
        return 0
    holder = checkpoints.read_lock(out)
    if checkpoints.lock_owner_alive(holder):
        raise ui.Fail(f"{out}: the run is still going (pid {holder['pid']}); nothing to resume. `make status` and `make eta` "
                      f"follow it" + (f"; `tmux attach -t {r.session}` shows it" if r.session else ""))
    latest = checkpoints.latest_complete_checkpoint(out)  # warns about any newer incomplete checkpoint it skips
    if latest is None and checkpoints.read_metadata(out) is None and not r.record:
        raise ui.Fail(f"nothing to resume for profile {env}: no checkpoint in {out} and no record of a start "
                      f"({eta.record_path(r.logs_dir, env)}); start a run with `make train-h100`, `make train-m4` or `make train DETACH=1`")
    if latest is None:
        ui.warning(f"No complete checkpoint in {out}: the run starts again from step 0.")
    ui.info(tag, f"Resuming {r.config}" + (f" with {' '.join(r.overrides)}" if r.overrides else "")
            + f" ({'detached in tmux' if mode == 'tmux' else 'in the foreground'})")

    if mode == "tmux":
        return launch.run(r.config, r.overrides, env=env, gpus=int(record.get("gpus") or 1),
                          session=session or record.get("session") or launch.session_name(None),
                          logs_dir=str(r.logs_dir), watch_s=watch_s, watch_steps=watch_steps)
    if mode == "m4-foreground":
        return train_m4.run(r.config, r.overrides, logs_dir=str(r.logs_dir))
    # A run started with plain `make train`: the same foreground command.
    cmd = [sys.executable, "-m", "tasks.train.train", "--config", r.config, "--gpus", str(record.get("gpus") or 1)]
    for o in r.overrides:
        cmd += ["--set", o]
    return subprocess.run(cmd, cwd=ROOT).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, choices=sorted(PROFILE_CONFIGS), help="profile whose latest run to resume (default: this machine's)")
    parser.add_argument("--logs-dir", default=os.environ.get("WEATHERMAN_LOGS_DIR"), help="where run logs and records live (default: logs/)")
    parser.add_argument("--session", default=None, help="tmux session for a detached run (default: the one it ran in)")
    parser.add_argument("--watch-seconds", type=float, default=launch.env_number("WEATHERMAN_WATCH_S", launch.WATCH_S),
                        help="watch window in seconds for a detached run (default 300)")
    parser.add_argument("--watch-steps", type=int, default=int(launch.env_number("WEATHERMAN_WATCH_STEPS", launch.WATCH_STEPS)),
                        help="watch window in steps for a detached run (default 100)")
    parser.add_argument("--force", action="store_true",
                        help="resume even though the config, data or GPUs changed since the run's first start (make resume FORCE=1)")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.env, args.logs_dir, args.session, args.watch_seconds, args.watch_steps, args.force)


if __name__ == "__main__":
    raise SystemExit(main())
