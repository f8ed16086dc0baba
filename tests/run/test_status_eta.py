"""`make status` and `make eta` on synthetic run folders: every state, exit codes, and the ETA after a resume.

In-process and without training (milliseconds). The states come from the
run-folder contract (docs/ARCHITECTURE.md): metrics.jsonl events, train.lock
with a pid (this test's own pid is a live one; a reaped child's is a dead one),
FINAL with its file sizes. The real detached lifecycle is in test_launch.py.
"""

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.train import checkpoints

from tasks.run import eta, status

ROOT = Path(__file__).resolve().parents[2]
CPU_CONFIG = str(ROOT / "configs" / "training_config_cpu.yaml")


def _ts(seconds_ago: float = 0) -> str:
    return (dt.datetime.now().astimezone() - dt.timedelta(seconds=seconds_ago)).isoformat(timespec="seconds")


def _steps(a: int, b: int, per_step_s: float, total: int, t_end_ago: float = 0) -> list[dict]:
    """Step events a..b at a steady rate, the last one `t_end_ago` seconds ago; elapsed_s counts from step a-1."""
    return [{"event": "step", "step": s, "total_steps": total, "loss": 3.0 - s / 100, "elapsed_s": round((s - a + 1) * per_step_s, 3),
             "tokens_per_s": 1000.0 / per_step_s, "timestamp": _ts(t_end_ago + (b - s) * per_step_s)} for s in range(a, b + 1)]


def _write(out: Path, events: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "metrics.jsonl", "a") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _lock(out: Path, pid: int) -> None:
    import socket

    (out / "train.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started_at": _ts()}))


def _args(out: Path, logs: Path) -> list[str]:
    return ["--config", CPU_CONFIG, "--set", f"output_dir={out}", "--logs-dir", str(logs)]


@pytest.fixture
def run(tmp_path):
    out, logs = tmp_path / "out", tmp_path / "logs"
    logs.mkdir()
    return out, logs


# ----------------------------------------------------------------- eta


def test_estimate_after_a_resume_uses_only_the_steps_since_the_latest_start():
    # First start: 1 step/s for 50 steps, then a crash. Resume from checkpoint 40 at 10 steps/s.
    events = [{"event": "start", "step": 0, "total_steps": 1000, "timestamp": _ts(100)}] + _steps(1, 50, 1.0, 1000, 20)
    events += [{"event": "start", "step": 40, "resumed_from": 40, "total_steps": 1000, "timestamp": _ts(3)}]
    events += _steps(41, 60, 0.1, 1000)
    est = eta.estimate(events)
    assert est.state == "training" and est.step == 60 and est.total_steps == 1000
    assert est.measured_from == 43  # warm-up steps after the restart are left out
    assert est.steps_per_s == pytest.approx(10.0, rel=1e-6)
    assert est.remaining_s == pytest.approx(94.0, rel=1e-6)  # 940 steps at 10/s, not at the first run's 1/s
    assert not est.rough


def test_estimate_states_and_rough_rate():
    assert eta.estimate([]).state == "none"
    started = [{"event": "start", "step": 100, "total_steps": 200, "timestamp": _ts()}]
    assert eta.estimate(started).state == "started" and eta.estimate(started).step == 100
    two = started + _steps(101, 102, 0.5, 200)
    est = eta.estimate(two)
    assert est.rough and est.steps_per_s == pytest.approx(2 / 1.0)
    ended = two + [{"event": "end", "status": "interrupted", "step": 102, "timestamp": _ts()}]
    assert eta.estimate(ended).state == "ended"


def test_fmt_hm_is_always_parseable():
    assert eta.fmt_hm(0) == "0 hours 0 minutes"
    assert eta.fmt_hm(20) == "0 hours 1 minutes"  # a short remainder is never "0 minutes"
    assert eta.fmt_hm(3 * 3600 + 25 * 60) == "3 hours 25 minutes"


def test_read_events_leaves_an_unterminated_line_for_later(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"event": "start", "step": 0}\n{"event": "st')
    events, offset = eta.read_events_from(tmp_path)
    assert events == [{"event": "start", "step": 0}] and offset == len('{"event": "start", "step": 0}\n')
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('ep", "step": 1}\n')
    assert eta.read_events_from(tmp_path, offset)[0] == [{"event": "step", "step": 1}]


def test_eta_cli_running_finished_stopped_and_no_data(run, capsys):
    out, logs = run
    assert eta.main(_args(out, logs)) == 0
    assert "no data to estimate from" in capsys.readouterr().out

    _write(out, [{"event": "start", "step": 0, "total_steps": 300, "timestamp": _ts(30)}] + _steps(1, 100, 0.25, 300))
    _lock(out, os.getpid())
    assert eta.main(_args(out, logs)) == 0
    text = capsys.readouterr().out
    assert "Current: step 100/300 (33.3%), loss 2.0000" in text
    m = re.search(r"\[ETA\] Estimated completion: (\d+) hours (\d+) minutes", text)
    assert m and (int(m.group(1)), int(m.group(2))) == (0, 1)  # 200 steps at 4/s = 50 s

    _lock(out, _dead_pid())
    assert eta.main(_args(out, logs)) == 0
    assert "is not running" in capsys.readouterr().out

    (out / "FINAL").write_text(json.dumps({"step": 300, "finished_at": _ts(), "files": {}}))
    assert eta.main(_args(out, logs)) == 0
    assert "Training finished at step 300" in capsys.readouterr().out


# ----------------------------------------------------------------- status


def test_status_running_then_stalled(run, capsys):
    out, logs = run
    _write(out, [{"event": "start", "step": 0, "total_steps": 300, "timestamp": _ts(10)}] + _steps(1, 20, 0.5, 300))
    _lock(out, os.getpid())
    assert status.main(_args(out, logs)) == 0
    text = capsys.readouterr().out
    assert "✅ Status: running (pid" in text and "Last step: 20/300, loss 2.8000" in text

    old = time.time() - 600
    for name in ("metrics.jsonl", "train.lock"):
        os.utime(out / name, (old, old))
    assert status.main(_args(out, logs) + ["--stall-minutes", "5"]) == 1
    assert "Status: stalled" in capsys.readouterr().err
    assert status.main(_args(out, logs) + ["--stall-minutes", "20"]) == 0


def test_status_crashed_shows_the_failing_lines(run, capsys):
    out, logs = run
    log = logs / "training_20250101_000000.log"
    log.write_text("[TRAINING] Run x\neval_error_rate 0.1\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
                   "RuntimeError: CUDA error: an illegal memory access was encountered\n")
    _write(out, [{"event": "start", "step": 0, "total_steps": 300, "log_file": str(log), "timestamp": _ts(10)}]
           + _steps(1, 20, 0.5, 300))
    _lock(out, _dead_pid())
    assert status.main(_args(out, logs)) == 1
    cap = capsys.readouterr()
    assert "Status: crashed" in cap.err and "no end was recorded" in cap.err
    assert "RuntimeError: CUDA error: an illegal memory access was encountered" in cap.err
    assert "eval_error_rate" not in cap.err  # the failure block, not the whole log
    assert "make resume" in cap.out


def test_status_finished_and_an_incomplete_final_adapter(run, capsys):
    out, logs = run
    _write(out, [{"event": "start", "step": 0, "total_steps": 10, "timestamp": _ts(10)}] + _steps(1, 10, 0.5, 10)
           + [{"event": "end", "status": "finished", "step": 10, "timestamp": _ts()}])
    (out / "adapter_model.safetensors").write_bytes(b"\0" * 3 * 1024 * 1024)
    (out / "adapter_config.json").write_text("{}")
    (out / "FINAL").write_text(json.dumps({"step": 10, "finished_at": _ts(), "files": {
        "adapter_model.safetensors": 3 * 1024 * 1024, "adapter_config.json": 2}}))
    assert status.main(_args(out, logs)) == 0
    text = capsys.readouterr().out
    assert "Status: finished at step 10" in text and str(out) in text and "adapter_model.safetensors 3.0 MB" in text

    (out / "adapter_config.json").unlink()
    assert status.main(_args(out, logs)) == 1
    assert "adapter_config.json is missing" in capsys.readouterr().err


def test_status_with_no_run_at_all(run, capsys):
    out, logs = run
    assert status.main(_args(out, logs)) == 1
    assert "no training run found" in capsys.readouterr().err


def test_status_and_eta_find_the_run_through_the_profile_record(run, capsys):
    out, logs = run
    _write(out, [{"event": "start", "step": 0, "total_steps": 300, "timestamp": _ts(10)}] + _steps(1, 20, 0.5, 300))
    _lock(out, os.getpid())
    eta.write_record(logs, "cpu", {"config": CPU_CONFIG, "overrides": [f"output_dir={out}"], "mode": "foreground",
                                   "output_dir": str(out)})
    assert status.main(["--env", "cpu", "--logs-dir", str(logs)]) == 0
    assert f"Run folder: {out}" in capsys.readouterr().out
    assert eta.main(["--env", "cpu", "--logs-dir", str(logs)]) == 0
    assert "Estimated completion" in capsys.readouterr().out
    # A run named by its config ignores a record about another run of the profile.
    other = out.parent / "other"
    assert status.main(_args(other, logs)) == 1
    assert f"Run folder: {other}" in capsys.readouterr().out
    assert checkpoints.read_lock(other) is None


def test_eta_while_loading_and_after_a_start_that_failed_before_its_first_step(run, capsys):
    out, logs = run
    _write(out, [{"event": "end", "status": "failed", "step": 0, "timestamp": _ts()}])  # bad data: no start event
    assert eta.main(_args(out, logs)) == 0
    assert "The run ended with status 'failed' at step 0" in capsys.readouterr().out
    _write(out, [{"event": "start", "step": 0, "total_steps": 300, "timestamp": _ts()}])
    _lock(out, os.getpid())
    assert eta.main(_args(out, logs)) == 0
    text = capsys.readouterr().out
    assert "no step logged since the latest start" in text and "The training process is starting" in text
