"""The run-folder rules in tasks/train/checkpoints.py: complete checkpoints, crash loop, run lock. No torch."""

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
    assert (path, step, meta["resume_count"], meta["last_step"]) == (None, 0, 0, 0)
    make_checkpoint(tmp_path, 100)
    path, step, meta = checkpoints.prepare_resume(tmp_path, "run-b", cfg)
    # progress since the last start: a normal resume, and the run keeps its first name
    assert (path.name, step, meta["resume_count"], meta["run_name"]) == ("checkpoint-100", 100, 1, "run-a")
    _, _, meta = checkpoints.prepare_resume(tmp_path, "run-a", cfg)
    assert (meta["last_step"], meta["resume_count"]) == (100, 2)
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
            ok = True
        except ui.CrashLoop:
            ok = False
        assert predicted_ok == ok


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
