"""Two CPU processes (gloo) under accelerate launch: the ranks agree and only rank 0 writes."""

import re

from tests.helpers_train import events, overrides, run_train


def test_two_processes_agree_and_rank0_writes(tmp_path):
    out = tmp_path / "out"
    r = run_train(overrides(tmp_path, out, **{"training.max_steps": 4, "training.save_steps": 2}), "--gpus", "2", timeout=300)
    text = r.stdout + r.stderr
    assert r.returncode == 0, text
    assert "accelerate launch --config_file configs/accelerate_ddp.yaml --num_processes 2" in text
    sums = dict(re.findall(r"rank (\d)/2: step 4, adapter checksum (\S+)", text))
    assert set(sums) == {"0", "1"} and sums["0"] == sums["1"], text
    starts = events(out, "start")
    assert len(starts) == 1 and starts[0]["world_size"] == 2  # one writer
    assert len(events(out, "end")) == 1 and len(events(out, "step")) == 4
    assert text.count("[TRAINING-COMPLETE]") == 1 and text.count("Checkpoint complete") == 2
    assert sorted(p.name for p in (out / "checkpoint-4").glob("rng_state_*.pth")) == ["rng_state_0.pth", "rng_state_1.pth"]
    assert (out / "FINAL").is_file()
