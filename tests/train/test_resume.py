"""kill -TERM in the middle of a real run, then resume: the same steps, schedule, data order and losses."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers_train import CPU_CONFIG, ROOT, env, events, overrides, reached_step, run_train, sigterm_when, train_cmd
from tasks.train import checkpoints

EXTRA = {"training.max_steps": 30, "training.save_steps": 10, "training.eval_steps": 100}


def test_sigterm_checkpoints_and_resume_matches_an_uninterrupted_run(tmp_path):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    r = run_train(overrides(tmp_path, straight, **EXTRA))
    assert r.returncode == 0, r.stdout + r.stderr

    stopped_run = sigterm_when(overrides(tmp_path, broken, **EXTRA), reached_step(broken, 3))
    assert stopped_run.returncode == 1, stopped_run.stdout
    stopped = events(broken, "end")[-1]
    assert stopped["status"] == "interrupted" and 3 <= stopped["step"] < 30, stopped  # mid-run
    assert "Stopped at step" in stopped_run.stdout and "on SIGTERM" in stopped_run.stdout
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


def _died_after_step_4(tmp_path, out, **extra):
    """A finished 8-step run turned back into one that died after its checkpoint at step 4."""
    sets = overrides(tmp_path, out, **{"training.max_steps": 8, **extra})
    r = run_train(sets)
    assert r.returncode == 0, r.stdout + r.stderr
    (out / "FINAL").unlink()
    shutil.rmtree(out / "checkpoint-8")
    return sets


def test_a_resume_with_changed_settings_is_refused_until_forced(tmp_path):
    out = tmp_path / "out"
    _died_after_step_4(tmp_path, out)
    assert json.loads((out / "run_start.json").read_text())["world_size"] == 1
    meta = (out / "resume_metadata.json").read_text()
    starts = len(events(out, "start"))
    changed = overrides(tmp_path, out, **{"training.max_steps": 8, "training.per_device_batch_size": 4,
                                          "training.learning_rate": 5e-4, "data.max_seq_length": 200})
    r = run_train(changed)
    assert r.returncode == 1, r.stdout + r.stderr
    for line in ("training.per_device_batch_size: was 2, now 4", "training.learning_rate: was 0.001, now 0.0005",
                 "data.max_seq_length: was 256, now 200", "--force", "a new output_dir"):
        assert line in r.stderr, line
    assert (out / "resume_metadata.json").read_text() == meta  # refused before anything was written
    assert len(events(out, "start")) == starts and not (out / "train.lock").exists()

    # the same path with other content (the data was regenerated meanwhile): refused too
    sets = overrides(tmp_path, out, **{"training.max_steps": 8})
    data = Path(next(s for s in sets if s.startswith("data.train=")).split("=", 1)[1])
    data.write_text("".join(data.read_text().splitlines(keepends=True)[::-1]))
    r = run_train(sets)
    assert r.returncode == 1 and f"data.train content: was {data} sha256 " in r.stderr, r.stdout + r.stderr
    assert (out / "resume_metadata.json").read_text() == meta

    changed = overrides(tmp_path, out, **{"training.max_steps": 8, "training.per_device_batch_size": 4,
                                          "training.learning_rate": 5e-4, "data.max_seq_length": 200})
    # --force keeps the new settings, says so, and the Trainer's own mismatch warning is not silenced
    r = run_train(changed, "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Resuming with changed settings (--force): " in r.stdout and "training.per_device_batch_size: was 2, now 4" in r.stdout
    assert "do not match the ones in the `trainer_state.json`" in r.stdout + r.stderr
    record = json.loads((out / "run_start.json").read_text())
    assert record["config"]["training"]["per_device_batch_size"] == 4 and len(record["changes"]) == 1


def test_starts_that_fail_before_the_first_step_never_make_a_crash_loop(tmp_path):
    """Starts that never reach a step (the model cannot be written, a preemption while it loads) are no crashes."""
    out = tmp_path / "out"
    sets = _died_after_step_4(tmp_path, out)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for _ in range(2):
        r = run_train(sets + [f"model.tiny.path={blocker / 'tiny'}"])  # cannot create a folder under a file
        assert r.returncode == 1, r.stdout + r.stderr  # a failure, never the crash-loop exit 2
        meta = checkpoints.read_metadata(out)
        assert (meta["last_step"], meta["resume_count"], meta["reached_step"]) == (4, 1, False)
    # a spot preemption while the model loads (the third start in a row at step 4, refused as a crash loop before):
    # SIGTERM after the start is recorded, before the first step
    stamp = (out / "resume_metadata.json").stat().st_mtime_ns
    r = sigterm_when(sets, lambda: (out / "resume_metadata.json").stat().st_mtime_ns != stamp)
    assert r.returncode == 1 and "on SIGTERM" in r.stdout, r.stdout
    meta = checkpoints.read_metadata(out)
    assert (meta["last_step"], meta["resume_count"], meta["reached_step"]) == (4, 1, False)
    r = run_train(sets)  # the cause fixed: it resumes and finishes
    assert r.returncode == 0, r.stdout + r.stderr
    assert "RESUME: Found checkpoint at step 4" in r.stdout and checkpoints.read_metadata(out)["reached_step"] is True


def _big_validation(tmp_path: Path, n: int) -> Path:
    from tests.helpers_train import write_data

    return write_data(tmp_path / "big", n_train=8, n_val=n, seed=3)[1]


@pytest.mark.parametrize("save_steps", [4, 100], ids=["checkpoint-due-with-the-evaluation", "no-checkpoint-due"])
def test_a_stop_during_evaluation_stops_it_and_keeps_the_step(tmp_path, save_steps):
    """SIGTERM while a long evaluation runs: it stops within a batch, the step's checkpoint is complete, exit 1."""
    out, n_val = tmp_path / "out", 1000
    sets = overrides(tmp_path, out, **{"training.max_steps": 8, "training.eval_steps": 4, "training.save_steps": save_steps,
                                       "data.validation": _big_validation(tmp_path, n_val), "data.max_eval_examples": n_val,
                                       "training.eval_timeout_s": 600})
    ck = out / "checkpoint-4"
    # the evaluation at step 4 has begun: after the step's log line, and after its checkpoint when one is due
    r = sigterm_when(sets, lambda: any(e["step"] == 4 for e in events(out, "step")) and (save_steps == 100 or (ck / "COMPLETE").is_file()),
                     timeout=180)
    assert r.returncode == 1, r.stdout
    evals = events(out, "eval")
    assert len(evals) == 1 and evals[0]["step"] == 4 and evals[0]["eval_stopped"] is True, evals
    assert evals[0]["eval_examples"] < n_val and not evals[0]["eval_timed_out"]
    end = events(out, "end")[-1]
    assert (end["status"], end["step"]) == ("interrupted", 4)
    assert checkpoints.checkpoint_problem(ck) is None
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-4"]
    assert "Stopped at step 4 on SIGTERM" in r.stdout


def test_a_resume_on_a_restarted_pod_needs_neither_the_hub_nor_a_token(tmp_path):
    """The model complete on the volume (setup's marker), ~/.cache wiped, no HF_TOKEN, the Hub unreachable:
    the run and its resume load everything from the snapshot, and the adapter still names the Hub id."""
    from tasks.config import load_config
    from tasks.train import model_cache, tiny_model

    repo = "weatherman-test/tiny-mistral"
    cache = tmp_path / "volume" / "hf-cache"
    snapshot = model_cache.repo_folder(cache, repo) / "snapshots" / ("0123456789abcdef" * 3)[:40]
    shutil.copytree(tiny_model.build(load_config(CPU_CONFIG)["model"]["tiny"]), snapshot)
    model_cache.write_marker(cache, repo, snapshot)
    out = tmp_path / "out"
    sets = overrides(tmp_path, out, **{"model.base": repo, "model.cache_dir": cache, "training.max_steps": 8})
    pod = {k: v for k, v in env().items() if not k.startswith("HF_")}
    pod.update({"HOME": str(tmp_path / "home"), "HF_ENDPOINT": "http://127.0.0.1:9"})  # nothing listens on port 9
    r = subprocess.run(train_cmd(sets), cwd=ROOT, env=pod, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    (out / "FINAL").unlink()
    shutil.rmtree(out / "checkpoint-8")
    r = subprocess.run(train_cmd(sets), cwd=ROOT, env=pod, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Resuming training." in r.stdout and (out / "FINAL").is_file()
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == repo
    assert not (tmp_path / "home" / ".cache" / "huggingface" / "hub").exists()  # nothing fetched into the wiped cache
