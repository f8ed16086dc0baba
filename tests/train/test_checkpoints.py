"""The run-folder rules in tasks/train/checkpoints.py: complete checkpoints, crash loop, run lock. No torch."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tasks import ui

from tasks.train import checkpoints


def make_checkpoint(out, step, complete=True):
    ck = out / f"checkpoint-{step}"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (ck / "adapter_model.safetensors").write_bytes(b"x" * 100)
    if complete:
        checkpoints.mark_complete(ck, step)
    return ck


def test_complete_marker_lists_every_file_with_its_size(tmp_path):
    ck = make_checkpoint(tmp_path, 10)
    manifest = json.loads((ck / "COMPLETE").read_text())
    assert manifest["step"] == 10
    assert manifest["files"] == {"adapter_model.safetensors": 100, "trainer_state.json": len(json.dumps({"global_step": 10}))}
    assert checkpoints.checkpoint_problem(ck) is None


def test_newest_incomplete_checkpoint_is_skipped_with_a_warning(tmp_path, capsys):
    make_checkpoint(tmp_path, 100)
    make_checkpoint(tmp_path, 200, complete=False)  # the process died while writing it
    path, step = checkpoints.latest_complete_checkpoint(tmp_path)
    assert (path.name, step) == ("checkpoint-100", 100)
    out = capsys.readouterr().out
    assert "⚠️ Skipping checkpoint" in out and "checkpoint-200" in out and "no COMPLETE marker" in out


def test_truncated_file_after_complete_counts_as_corrupt(tmp_path, capsys):
    make_checkpoint(tmp_path, 100)
    ck = make_checkpoint(tmp_path, 200)
    (ck / "adapter_model.safetensors").write_bytes(b"x" * 10)
    assert checkpoints.latest_complete_checkpoint(tmp_path)[1] == 100
    assert "has 10 bytes, 100 were written" in capsys.readouterr().out
    (tmp_path / "checkpoint-100" / "COMPLETE").write_text("{not json")
    assert checkpoints.latest_complete_checkpoint(tmp_path) is None


def test_numeric_order_not_text_order(tmp_path):
    make_checkpoint(tmp_path, 900)
    make_checkpoint(tmp_path, 1000)
    assert checkpoints.latest_complete_checkpoint(tmp_path)[1] == 1000


def test_rotation_keeps_the_newest_complete_ones(tmp_path):
    for s in (10, 20, 30):
        make_checkpoint(tmp_path, s)
    make_checkpoint(tmp_path, 5, complete=False)
    make_checkpoint(tmp_path, 40, complete=False)  # newer than every complete one: may still be being written
    checkpoints.rotate_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-20", "checkpoint-30", "checkpoint-40"]


def test_resume_count_and_crash_loop_rule(tmp_path):
    cfg = {"profile": "cpu"}
    path, step, meta = checkpoints.prepare_resume(tmp_path, "run-a", cfg)
    assert (path, step, meta["resume_count"], meta["last_step"], meta["reached_step"]) == (None, 0, 0, 0, False)
    checkpoints.mark_step_reached(tmp_path)
    make_checkpoint(tmp_path, 100)
    path, step, meta = checkpoints.prepare_resume(tmp_path, "run-b", cfg)
    # progress since the last start: a normal resume, and the run keeps its first name
    assert (path.name, step, meta["resume_count"], meta["run_name"]) == ("checkpoint-100", 100, 1, "run-a")
    checkpoints.mark_step_reached(tmp_path)  # it trained, then died before its next checkpoint: a crash
    _, _, meta = checkpoints.prepare_resume(tmp_path, "run-a", cfg)
    assert (meta["last_step"], meta["resume_count"]) == (100, 2)
    checkpoints.mark_step_reached(tmp_path)
    before = (tmp_path / checkpoints.METADATA).read_text()
    with pytest.raises(ui.CrashLoop) as exc:
        checkpoints.check_crash_loop(tmp_path)
    assert str(exc.value).startswith("ERROR: Crash loop detected") and exc.value.exit_code == 2
    assert (tmp_path / checkpoints.METADATA).read_text() == before  # the check only reads
    with pytest.raises(ui.CrashLoop):
        checkpoints.prepare_resume(tmp_path, "run-a", cfg)
    assert (tmp_path / checkpoints.METADATA).read_text() == before  # a refused start changes nothing
    make_checkpoint(tmp_path, 200)  # progress (e.g. made by hand after a fix): allowed again
    checkpoints.check_crash_loop(tmp_path)
    assert checkpoints.prepare_resume(tmp_path, "run-a", cfg)[2]["resume_count"] == 1


def test_check_crash_loop_agrees_with_prepare_resume(tmp_path):
    make_checkpoint(tmp_path, 50)
    for _ in range(5):
        try:
            checkpoints.check_crash_loop(tmp_path)
            predicted_ok = True
        except ui.CrashLoop:
            predicted_ok = False
        try:
            checkpoints.prepare_resume(tmp_path, "r", {})
            checkpoints.mark_step_reached(tmp_path)
            ok = True
        except ui.CrashLoop:
            ok = False
        assert predicted_ok == ok
    assert not ok  # the third start after two crashes is refused


def test_starts_that_fail_before_their_first_step_are_not_crashes(tmp_path):
    """A missing token, a wrong python, a preemption while the model loads: any number of them, no crash loop."""
    make_checkpoint(tmp_path, 100)
    for _ in range(6):
        checkpoints.check_crash_loop(tmp_path)
        _, step, meta = checkpoints.prepare_resume(tmp_path, "r", {})
        assert (step, meta["resume_count"], meta["reached_step"]) == (100, 1, False)
    # then real crashes: started, trained, died before the next checkpoint
    checkpoints.mark_step_reached(tmp_path)
    assert checkpoints.prepare_resume(tmp_path, "r", {})[2]["resume_count"] == 2
    checkpoints.prepare_resume(tmp_path, "r", {})  # a mistake in between counts nothing ...
    assert checkpoints.read_metadata(tmp_path)["resume_count"] == 2
    checkpoints.mark_step_reached(tmp_path)  # ... and the next crash still does
    with pytest.raises(ui.CrashLoop, match="Crash loop detected: the last 2 starts from the newest checkpoint"):
        checkpoints.prepare_resume(tmp_path, "r", {})


def test_lock_refuses_a_live_owner_and_takes_over_a_dead_one(tmp_path, capsys):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        checkpoints.acquire_lock(tmp_path, pid=sleeper.pid)
        with pytest.raises(ui.Fail, match=f"another training is running there \\(pid {sleeper.pid}"):
            checkpoints.acquire_lock(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    path = checkpoints.acquire_lock(tmp_path)  # the owner is dead now
    assert "stale lock" in capsys.readouterr().out
    assert json.loads(path.read_text())["pid"] == os.getpid()
    checkpoints.release_lock(tmp_path)
    assert not path.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary files left behind


# ----------------------------------------------------------------- the run's settings


def _cfg(tmp_path, **training):
    train, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    for p in (train, val):
        if not p.exists():
            p.write_text('{"messages": []}\n')
    t = {"per_device_batch_size": 2, "gradient_accumulation_steps": 4, "learning_rate": 2e-4, "logging_steps": 10}
    t.update(training)
    return {"profile": "cpu", "run_name": "r", "_config_path": "x.yaml", "training": t,
            "data": {"train": str(train), "validation": str(val), "max_seq_length": 2048},
            "reporting": {"report_to": "none"}}


def test_the_first_start_records_the_run_and_a_changed_resume_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    first = checkpoints.run_record(_cfg(tmp_path), 1)
    assert checkpoints.settle_run_record(out, first) == []
    recorded = json.loads((out / "run_start.json").read_text())
    assert recorded["world_size"] == 1 and "_config_path" not in recorded["config"]
    assert recorded["data"]["train"]["sha256"] == hashlib.sha256((tmp_path / "train.jsonl").read_bytes()).hexdigest()
    make_checkpoint(out, 50)
    # the same settings, or ones that only change how the run is watched: resumes
    assert checkpoints.check_run_unchanged(out, checkpoints.run_record(_cfg(tmp_path, logging_steps=1), 1)) == []

    (tmp_path / "train.jsonl").write_text('{"messages": [1]}\n')
    cfg = _cfg(tmp_path, per_device_batch_size=4, gradient_accumulation_steps=2, learning_rate=1e-4)
    cfg["data"]["max_seq_length"] = 4096
    changed = checkpoints.run_record(cfg, 2)
    before = (out / "run_start.json").read_text()
    with pytest.raises(ui.Fail) as exc:
        checkpoints.settle_run_record(out, changed)
    msg = str(exc.value)
    for line in ("training.per_device_batch_size: was 2, now 4", "training.gradient_accumulation_steps: was 4, now 2",
                 "training.learning_rate: was 0.0002, now 0.0001", "data.max_seq_length: was 2048, now 4096",
                 "world size (processes/GPUs): was 1, now 2", "data.train content: was "):
        assert line in msg, line
    assert "restore the old values" in msg and "--force" in msg and "a new output_dir" in msg
    assert (out / "run_start.json").read_text() == before  # refused: nothing written

    diffs = checkpoints.settle_run_record(out, changed, force=True)
    assert len(diffs) == 6
    now = json.loads((out / "run_start.json").read_text())
    assert now["world_size"] == 2 and now["changes"][0]["differences"] == diffs
    assert checkpoints.check_run_unchanged(out, checkpoints.run_record(cfg, 2)) == []  # the new settings hold from now on


def test_without_a_checkpoint_a_start_records_its_own_settings(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    checkpoints.settle_run_record(out, checkpoints.run_record(_cfg(tmp_path), 1))
    make_checkpoint(out, 10, complete=False)  # died while writing its first checkpoint: nothing to mix with
    assert checkpoints.settle_run_record(out, checkpoints.run_record(_cfg(tmp_path, learning_rate=1.0), 1)) == []
    assert json.loads((out / "run_start.json").read_text())["config"]["training"]["learning_rate"] == 1.0
