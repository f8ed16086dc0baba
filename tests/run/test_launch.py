"""The detached launch on the CPU profile with real tmux: start, status, eta, kill, crashed, resume, finished.

Each test uses its own tmux session name (WEATHERMAN_TMUX_SESSION) and run
folder, and kills its session and training process in teardown; no other
session is touched. The tiny model trains a few hundred steps in tens of
seconds. Skipped where tmux is not installed.
"""

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tasks.train import checkpoints

from tasks.run import launch
from tests import helpers_train as h

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _env(session: str, **extra) -> dict:
    env = h.env()
    # Two cores shared with other tests: one thread per training keeps steps steady.
    env.update({"WEATHERMAN_TMUX_SESSION": session, "OMP_NUM_THREADS": "1", **extra})
    return env


def _tmux_has(session: str) -> bool:
    return subprocess.run(["tmux", "has-session", "-t", f"={session}"], capture_output=True).returncode == 0


@pytest.fixture
def session():
    name = f"wm-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    started = []  # run folders whose training processes this test started
    yield name, started
    subprocess.run(["tmux", "kill-session", "-t", f"={name}"], capture_output=True)
    for out in started:
        lock = checkpoints.read_lock(out)
        if checkpoints.lock_owner_alive(lock):
            os.kill(int(lock["pid"]), signal.SIGKILL)


def _task(name: str, args: list[str], env: dict, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([h.PY, "-m", f"tasks.run.{name}", *args], cwd=h.ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _launch(sets: list[str], logs: Path, env: dict, *more: str) -> subprocess.CompletedProcess:
    args = ["--config", str(h.CPU_CONFIG), "--logs-dir", str(logs), *more]
    for s in sets:
        args += ["--set", s]
    return _task("launch", args, env)


def _wait(predicate, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def test_detached_run_lifecycle(tmp_path, session):
    name, started = session
    out, logs = tmp_path / "out", tmp_path / "logs"
    started.append(out)
    env = _env(name)
    sets = h.overrides(tmp_path, out, **{"training.max_steps": 150, "training.save_steps": 20, "training.logging_steps": 2})

    r = _launch(sets, logs, env, "--watch-steps", "6", "--watch-seconds", "180")
    text = r.stdout + r.stderr
    assert r.returncode == 0, text
    assert re.search(r"✅ Training started successfully \((\d+) steps done without a failure\)", r.stdout), text
    for expected in ("[TRAINING] Estimated duration: ", f"Reconnect with: tmux attach -t {name}",
                     "W&B: off (reporting.report_to: none)", "Follow the log: tail -f ", "[TRAINING-STARTED] Training in progress"):
        assert expected in r.stdout, text
    log = Path(re.search(r"\[TRAINING\] Log file: (\S+)", r.stdout).group(1))
    assert re.fullmatch(r"training_\d{8}_\d{6}\.log", log.name)
    assert "[TRAINING] Run weatherman-lora-cpu" in log.read_text()  # the training's own output is teed there
    assert _tmux_has(name)

    st = _task("status", ["--env", "cpu", "--logs-dir", str(logs)], env)
    assert st.returncode == 0 and "✅ Status: running (pid" in st.stdout, st.stdout + st.stderr
    e = _task("eta", ["--env", "cpu", "--logs-dir", str(logs)], env)
    assert e.returncode == 0 and re.search(r"\[ETA\] Estimated completion: \d+ hours \d+ minutes", e.stdout), e.stdout + e.stderr

    # A second start does not clobber the live session or its training.
    pid = checkpoints.read_lock(out)["pid"]
    again = _launch(sets, logs, env)
    assert again.returncode == 1
    assert f"tmux session '{name}' is already running" in again.stderr and f"tmux attach -t {name}" in again.stderr
    assert _tmux_has(name) and checkpoints.read_lock(out)["pid"] == pid

    # Killed hard once a checkpoint exists: status says crashed, with the exit and the last lines.
    _wait(lambda: checkpoints.latest_complete_checkpoint(out, warn=False) is not None, 120, "a complete checkpoint")
    assert not (out / "FINAL").exists(), "the run finished before the test could kill it: raise training.max_steps"
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: not _tmux_has(name), 30, "the session to end")
    st = _task("status", ["--env", "cpu", "--logs-dir", str(logs)], env)
    assert st.returncode == 1, st.stdout + st.stderr
    assert "Status: crashed" in st.stderr and "exit code 137 (killed by SIGKILL)" in st.stderr
    assert "Last lines of" in st.stdout and "Newest complete checkpoint: step" in st.stdout
    kept = checkpoints.latest_complete_checkpoint(out, warn=False)[1]

    # Resume the same way (tmux, same overrides) and let it finish.
    res = _task("resume", ["--env", "cpu", "--logs-dir", str(logs), "--watch-steps", "4"], env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"RESUME: Found checkpoint at step \d+\. Resuming training\.", res.stdout)
    assert "[TRAINING-STARTED] Training in progress" in res.stdout or "[TRAINING-COMPLETE]" in res.stdout
    _wait(lambda: (out / "FINAL").is_file() and not _tmux_has(name), 240, "the resumed run to finish")
    st = _task("status", ["--env", "cpu", "--logs-dir", str(logs)], env)
    assert st.returncode == 0 and "Status: finished at step 150" in st.stdout, st.stdout + st.stderr
    starts = h.events(out, "start")
    assert len(starts) == 2 and starts[1]["step"] >= kept and starts[1]["resumed_from"] is not None
    e = _task("eta", ["--env", "cpu", "--logs-dir", str(logs)], env)
    assert "Training finished at step 150" in e.stdout
    assert len(list(logs.glob("training_*.log"))) == 2  # each start has its own log


def test_planted_failure_is_caught_within_the_window(tmp_path, session):
    name, started = session
    out, logs = tmp_path / "out", tmp_path / "logs"
    started.append(out)
    sets = h.overrides(tmp_path, out, **{"data.train": tmp_path / "missing.jsonl"})
    t0 = time.monotonic()
    r = _launch(sets, logs, _env(name), "--watch-seconds", "120")
    assert r.returncode == 1, r.stdout + r.stderr
    assert time.monotonic() - t0 < 100  # caught by the failure, not by the end of the window
    assert "Training failed in its first minutes" in r.stderr
    assert "missing.jsonl: data file not found" in r.stderr  # the failing line itself
    _wait(lambda: not _tmux_has(name), 10, "the session to end")


def test_crash_loop_exits_2_before_any_session(tmp_path, session):
    name, _ = session
    out, logs = tmp_path / "out", tmp_path / "logs"
    ckpt = out / "checkpoint-4"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    checkpoints.mark_complete(ckpt, 4)
    (out / "resume_metadata.json").write_text('{"last_step": 4, "resume_count": 2, "run_name": "x"}')
    r = _launch(h.overrides(tmp_path, out), logs, _env(name))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "❌ ERROR: Crash loop detected" in r.stderr
    assert not _tmux_has(name) and not list(logs.glob("training_*.log"))


def test_missing_tmux_says_how_to_install_it(tmp_path, session):
    name, _ = session
    empty = tmp_path / "bin"
    empty.mkdir()
    r = _launch(h.overrides(tmp_path, tmp_path / "out"), tmp_path / "logs", _env(name, PATH=str(empty)))
    assert r.returncode == 1 and "tmux: not installed" in r.stderr and "apt-get install -y tmux" in r.stderr


def test_system_tmux_is_preferred_over_a_conda_one(tmp_path, monkeypatch):
    conda_bin = tmp_path / "miniconda3" / "envs" / "weatherman-lora" / "bin"
    system_bin = tmp_path / "usr" / "bin"
    for d in (conda_bin, system_bin):
        d.mkdir(parents=True)
        (d / "tmux").write_text("#!/bin/sh\n")
        (d / "tmux").chmod(0o755)
    monkeypatch.setenv("PATH", f"{conda_bin}{os.pathsep}{system_bin}")
    assert launch.tmux_binary() == str(system_bin / "tmux")
    monkeypatch.setenv("PATH", str(conda_bin))
    assert launch.tmux_binary() == str(conda_bin / "tmux")  # the last resort, with a warning


def test_wandb_line_names_the_real_run_or_the_sync_command(tmp_path, monkeypatch):
    from tasks.config import load_config

    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = load_config(h.CPU_CONFIG, ["reporting.report_to=wandb"])
    out, log = tmp_path / "out", tmp_path / "training_20250101_000000.log"
    log.write_text("wandb: Tracking run with wandb version 0.19\n"
                   "wandb: ⭐️ View project at \x1b[34mhttps://wandb.ai/alice/weatherman-lora\x1b[0m\n"
                   "wandb: 🚀 View run weatherman-lora-h100 at: \x1b[34mhttps://wandb.ai/alice/weatherman-lora/runs/3f9a1c2b7d4e\x1b[0m\n")
    assert launch.wandb_line(cfg, log, out) == "Monitor remotely: https://wandb.ai/alice/weatherman-lora/runs/3f9a1c2b7d4e"

    log.write_text("[TRAINING] W&B offline (no key in WANDB_API_KEY or ~/.netrc): logs go to out/wandb/\n")
    (out / "wandb" / "offline-run-20250101_000000-3f9a1c2b7d4e").mkdir(parents=True)
    line = launch.wandb_line(cfg, log, out)
    assert line.startswith("W&B offline: upload the run later with `wandb sync ") and "offline-run-20250101_000000-3f9a1c2b7d4e" in line

    assert launch.wandb_line(load_config(h.CPU_CONFIG), log, out).startswith("W&B: off (reporting.report_to: none)")


def test_resume_leaves_a_finished_or_live_run_alone(tmp_path, capsys):
    import json
    import socket

    from tasks.run import eta, resume

    out, logs = tmp_path / "out", tmp_path / "logs"
    out.mkdir()
    eta.write_record(logs, "cpu", {"config": str(h.CPU_CONFIG), "overrides": [f"output_dir={out}"], "mode": "tmux",
                                   "session": "wm-test-never-started", "output_dir": str(out)})
    (out / "train.lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    assert resume.main(["--env", "cpu", "--logs-dir", str(logs)]) == 1
    assert "the run is still going" in capsys.readouterr().err
    (out / "FINAL").write_text("{}")
    assert resume.main(["--env", "cpu", "--logs-dir", str(logs)]) == 0
    assert "already finished" in capsys.readouterr().out
    assert not _tmux_has("wm-test-never-started")


def test_killed_session_still_checkpoints_and_records_the_exit(tmp_path, session):
    """`tmux kill-session` sends SIGHUP to the pane's script, which passes a SIGTERM to the training:
    it writes a checkpoint and exits, and the log keeps its last lines and the exit code."""
    name, started = session
    out, logs = tmp_path / "out", tmp_path / "logs"
    started.append(out)
    env = _env(name)
    sets = h.overrides(tmp_path, out, **{"training.max_steps": 2000, "training.save_steps": 1000, "training.logging_steps": 2})
    r = _launch(sets, logs, env, "--watch-steps", "4", "--watch-seconds", "120")
    assert r.returncode == 0, r.stdout + r.stderr
    log = Path(re.search(r"\[TRAINING\] Log file: (\S+)", r.stdout).group(1))
    assert checkpoints.latest_complete_checkpoint(out, warn=False) is None  # save_steps is far away

    subprocess.run(["tmux", "kill-session", "-t", f"={name}"], check=True)
    _wait(lambda: not checkpoints.lock_owner_alive(checkpoints.read_lock(out)), 60, "the training to stop")
    found = checkpoints.latest_complete_checkpoint(out, warn=False)
    assert found is not None, "SIGHUP did not produce a checkpoint"
    ends = h.events(out, "end")
    assert ends and ends[-1]["status"] == "interrupted" and ends[-1]["step"] == found[1]
    text = log.read_text()  # the end still reached the log, though the pane was gone
    assert f"Stopped at step {found[1]} on SIGTERM" in text
    _wait(lambda: "Training process exited with code 1" in log.read_text(), 10, "the exit line")
