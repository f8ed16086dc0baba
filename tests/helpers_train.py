"""Small training data and a fast config for the training tests (not a test module).

The conversations follow the data contract (OpenAI chat format, tool calls,
tool results, persona tags) but carry one short tool so each line is about
150 tokens: a training step of the tiny model then takes milliseconds.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CPU_CONFIG = ROOT / "configs" / "training_config_cpu.yaml"

_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Current weather at a place.",
        "parameters": {
            "type": "object",
            "properties": {"latitude": {"type": "number"}, "longitude": {"type": "number"}},
            "required": ["latitude", "longitude"],
        },
    },
}
_CITIES = [("Paris", 48.85, 2.35), ("Boston", 42.36, -71.06), ("Lima", -12.05, -77.04), ("Oslo", 59.91, 10.75),
           ("Cairo", 30.04, 31.24), ("Tokyo", 35.68, 139.69), ("Perth", -31.95, 115.86), ("Denver", 39.74, -104.99)]
_PERSONAS = {
    "twain": "You are Mark Twain, answering weather questions with dry wit.",
    "neutral": "You are a plain, accurate weather forecaster.",
}


def conversation(i: int, rng: random.Random) -> dict:
    city, lat, lon = _CITIES[rng.randrange(len(_CITIES))]
    persona = rng.choice(sorted(_PERSONAS))
    temp = rng.randint(-5, 35)
    sky = rng.choice(["clear", "cloudy", "rainy", "windy"])
    answer = (f"It is {temp} degrees and {sky} in {city}." if persona == "neutral"
              else f"{city} is {sky} at {temp} degrees, which is more than I can say for my prospects.")
    return {
        "messages": [
            {"role": "system", "content": _PERSONAS[persona]},
            {"role": "user", "content": f"What is the weather in {city} right now?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": f"call{i:05d}", "type": "function", "function": {
                "name": "get_current_weather", "arguments": json.dumps({"latitude": lat, "longitude": lon})}}]},
            {"role": "tool", "tool_call_id": f"call{i:05d}", "content": json.dumps({"temperature": temp, "sky": sky})},
            {"role": "assistant", "content": answer},
        ],
        "tools": [_TOOL],
        "tags": {"persona": persona, "scenario": "current"},
    }


def write_data(folder: Path, n_train: int = 64, n_val: int = 8, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, n in (("train.jsonl", n_train), ("val.jsonl", n_val)):
        p = folder / name
        p.write_text("".join(json.dumps(conversation(i, rng)) + "\n" for i in range(n)), encoding="utf-8")
        paths.append(p)
    return paths[0], paths[1]


def overrides(tmp: Path, out: Path, **extra) -> list[str]:
    """`--set` values for a run of a few seconds on the tiny model."""
    train, val = write_data(tmp / "data")
    values = {
        "data.train": train, "data.validation": val, "output_dir": out,
        "data.max_seq_length": 256, "data.max_eval_examples": 4,
        "training.max_steps": 12, "training.per_device_batch_size": 2, "training.warmup_steps": 2,
        "training.logging_steps": 1, "training.save_steps": 4, "training.eval_steps": 100,
        "training.learning_rate": 1e-3, "reporting.report_to": "none",
    }
    values.update(extra)
    return [f"{k}={v}" for k, v in values.items()]


def train_cmd(sets: list[str], *more: str) -> list[str]:
    cmd = [PY, "-m", "tasks.train.train", "--config", str(CPU_CONFIG)]
    for s in sets:
        cmd += ["--set", s]
    return cmd + list(more)


def env() -> dict:
    e = dict(os.environ)
    e.update({"NO_COLOR": "1", "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
              "PYTHONUNBUFFERED": "1"})
    return e


def run_train(sets: list[str], *more: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(train_cmd(sets, *more), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)


def events(out: Path, kind: str | None = None) -> list[dict]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if kind is None or r["event"] == kind]


def sigterm_when(sets: list[str], ready, timeout: float = 120) -> subprocess.CompletedProcess:
    """Start a training run, send it SIGTERM once `ready()` holds (or it ended, or `timeout` passed), and wait."""
    import signal
    import time

    proc = subprocess.Popen(train_cmd(sets), cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def reached_step(out: Path, step: int):
    """A `ready` for sigterm_when: the run in `out` has logged `step`."""
    def ready() -> bool:
        steps = events(out, "step")
        return bool(steps) and steps[-1]["step"] >= step
    return ready
