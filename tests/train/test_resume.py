"""kill -TERM in the middle of a real run, then resume: the same steps, schedule, data order and losses."""

import signal
import subprocess
import time

from tests.helpers_train import ROOT, env, events, overrides, run_train, train_cmd
from tasks.train import checkpoints

EXTRA = {"training.max_steps": 30, "training.save_steps": 10, "training.eval_steps": 100}


def test_sigterm_checkpoints_and_resume_matches_an_uninterrupted_run(tmp_path):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    r = run_train(overrides(tmp_path, straight, **EXTRA))
    assert r.returncode == 0, r.stdout + r.stderr

    proc = subprocess.Popen(train_cmd(overrides(tmp_path, broken, **EXTRA)), cwd=ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        steps = events(broken, "step")
        if steps and steps[-1]["step"] >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 1, out
    stopped = events(broken, "end")[-1]
    assert stopped["status"] == "interrupted" and 3 <= stopped["step"] < 30, stopped  # mid-run
    assert "Stopped at step" in out and "on SIGTERM" in out
    ck = broken / f"checkpoint-{stopped['step']}"
    assert checkpoints.checkpoint_problem(ck) is None  # written complete at the step boundary
    assert not (broken / "FINAL").exists() and not (broken / "train.lock").exists()

    r = run_train(overrides(tmp_path, broken, **EXTRA))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"⚠️ RESUME: Found checkpoint at step {stopped['step']}. Resuming training." in r.stdout
    start = events(broken, "start")[-1]
    assert (start["step"], start["resumed_from"], start["total_steps"]) == (stopped["step"], stopped["step"], 30)

    a = {e["step"]: e for e in events(straight, "step")}
    b = {e["step"]: e for e in events(broken, "step")}
    assert max(b) == max(a) == 30
    assert sorted(b) == list(range(1, 31))  # no step repeated or skipped
    for step in (stopped["step"] + 1, 20, 30):
        assert abs(a[step]["loss"] - b[step]["loss"]) < 1e-4, step
        assert abs(a[step]["learning_rate"] - b[step]["learning_rate"]) < 1e-12, step
        assert a[step]["tokens_seen"] == b[step]["tokens_seen"], step  # same batches in the same order
    meta = checkpoints.read_metadata(broken)
    assert (meta["last_step"], meta["resume_count"]) == (stopped["step"], 1)
