"""make demo's code path, shortened: train, reload with PeftModel, answer, evaluate, say where things are."""

import json
import re
import subprocess

from tests.helpers_train import PY, ROOT, env, write_data


def test_demo_trains_reloads_answers_and_evaluates(tmp_path):
    train, val = write_data(tmp_path / "data", n_train=64, n_val=6)
    out = tmp_path / "adapter"
    sets = {"data.train": train, "data.validation": val, "output_dir": out, "data.max_seq_length": 512,
            "data.max_train_examples": 64, "training.max_steps": 40, "training.save_steps": 20,
            "training.eval_steps": "null", "training.warmup_steps": 4}
    cmd = [PY, "-m", "tasks.demo"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    proc = subprocess.run(cmd, cwd=ROOT, env={**env(), "OMP_NUM_THREADS": "2"}, capture_output=True, text=True, timeout=600)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    first, last = map(float, re.search(r"\[DEMO\] Loss ([\d.]+) at step \d+ -> ([\d.]+) at step 40 \(falling\)", text).groups())
    assert last < first
    assert f"PeftModel.from_pretrained({out})" in text
    assert len(re.findall(r"^  Q: .+\n  A: ", proc.stdout, flags=re.MULTILINE)) == 3
    result = json.loads(next(line for line in reversed(proc.stdout.splitlines()) if line.startswith("{")))
    for key in ("tool_call_rate", "no_call_rate", "json_valid_rate", "function_name_acc", "arguments_acc"):
        assert key in result and key in result["base"]
    assert result["turns"] > 0
    assert (out / "FINAL").is_file() and (out / "adapter_model.safetensors").is_file()
    assert f"adapter      {out}" in proc.stdout
