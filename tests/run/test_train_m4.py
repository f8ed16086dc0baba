"""The blocking M4 run, exercised on the CPU profile: settings, teed log, [ETA] line, completion, failure exit.

MPS is not here, so the run trains the tiny model on the CPU through the same
code path (`tasks.run.train_m4` only wraps `tasks.train.train`); the M4 settings check
is tested on the real M4 config.
"""

import re
import subprocess
from pathlib import Path

from tasks.run import train_m4
from tasks.config import load_config
from tests import helpers_train as h

M4_CONFIG = h.ROOT / "configs" / "training_config_m4.yaml"


def _run(sets: list[str], logs: Path, *more: str) -> subprocess.CompletedProcess:
    cmd = [h.PY, "-m", "tasks.run.train_m4", "--config", str(h.CPU_CONFIG), "--logs-dir", str(logs), *more]
    for s in sets:
        cmd += ["--set", s]
    env = h.env()
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(cmd, cwd=h.ROOT, env=env, capture_output=True, text=True, timeout=240)


def test_m4_settings_are_confirmed(capsys):
    train_m4.confirm_settings(load_config(M4_CONFIG))
    text = capsys.readouterr().out
    for line in ("✅ batch size: 1", "✅ gradient accumulation: 8", "✅ checkpoint every (steps): 250", "✅ sequence length: 2048"):
        assert line in text
    assert "⚠️" not in text
    assert "Settings: batch 1 x accumulation 8 = effective 8, checkpoints every 250 steps, sequence 2048" in text


def test_blocking_run_tees_its_log_prints_the_eta_and_finishes(tmp_path):
    out, logs = tmp_path / "out", tmp_path / "logs"
    sets = h.overrides(tmp_path, out, **{"training.max_steps": 40, "training.save_steps": 20})
    r = _run(sets, logs, "--eta-after-steps", "10")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "⚠️ batch size: 2 (training.per_device_batch_size); the M4 setting is 1" in r.stdout  # the CPU test config differs
    log = Path(re.search(r"\[TRAINING-M4\] Log file: (\S+)", r.stdout).group(1))
    assert re.fullmatch(r"training_m4_\d{8}_\d{6}\.log", log.name)
    assert "thermal throttling" in r.stdout
    eta = re.search(r"\[ETA\] Estimated completion: (\d+) hours (\d+) minutes", r.stdout)
    assert eta, r.stdout
    assert "[TRAINING-M4-COMPLETE] Training finished" in r.stdout and f"Adapter: {out}" in r.stdout
    text = log.read_text()
    assert "[TRAINING] Run weatherman-lora-cpu" in text and eta.group(0) in text  # the training's output and the ETA, teed
    assert (out / "FINAL").is_file()


def test_a_failing_run_exits_1_and_points_to_resume(tmp_path):
    out, logs = tmp_path / "out", tmp_path / "logs"
    r = _run(h.overrides(tmp_path, out, **{"data.train": tmp_path / "missing.jsonl"}), logs)
    assert r.returncode == 1
    assert "data file not found" in r.stdout  # the training's own message, passed through
    assert "Training stopped with exit code 1" in r.stderr and "make resume" in r.stderr
    assert "data file not found" in next(logs.glob("training_m4_*.log")).read_text()
