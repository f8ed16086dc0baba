"""make demo's code path, shortened: train, reload with PeftModel, answer per persona, evaluate, say where
things are; on the tiny random model (the pipeline) and on SmolLM2 (that it learns the tools)."""

import json
import re
import subprocess

from tests.helpers_smol import EVAL_EXAMPLES, REAL_QUESTIONS, STEPS
from tests.helpers_train import PY, ROOT, env, write_data


def _last_json(stdout: str) -> dict:
    return json.loads(next(line for line in reversed(stdout.splitlines()) if line.startswith("{")))


def _persona_answers(stdout: str) -> list[str]:
    return re.findall(r"^  \[(\w+)\] Q: .+\n    base: .*\n    adapter: ", stdout, flags=re.MULTILINE)


def test_demo_tiny_trains_reloads_answers_and_evaluates(tmp_path):
    train, val = write_data(tmp_path / "data", n_train=64, n_val=6)
    out = tmp_path / "adapter"
    sets = {"data.train": train, "data.validation": val, "output_dir": out, "data.max_seq_length": 512,
            "data.max_train_examples": 64, "training.max_steps": 40, "training.save_steps": 20,
            "training.eval_steps": "null", "training.warmup_steps": 4}
    cmd = [PY, "-m", "tasks.demo", "--config", "configs/training_config_cpu.yaml"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    proc = subprocess.run(cmd, cwd=ROOT, env={**env(), "OMP_NUM_THREADS": "2"}, capture_output=True, text=True, timeout=600)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    first, last = map(float, re.search(r"\[DEMO\] Loss ([\d.]+) at steps \d+-\d+ -> ([\d.]+) at steps \d+-40 \(falling;", text).groups())
    assert last < first
    assert f"PeftModel.from_pretrained({out})" in text
    # The helper data has two personas: one answer each, base and adapter.
    assert sorted(_persona_answers(proc.stdout)) == ["neutral", "twain"]
    result = _last_json(proc.stdout)
    for key in ("tool_call_rate", "no_call_rate", "json_valid_rate", "function_name_acc", "arguments_acc"):
        assert key in result and key in result["base"]
    assert result["turns"] > 0 and "real_questions" not in result
    assert (out / "FINAL").is_file() and (out / "adapter_model.safetensors").is_file()
    assert f"adapter      {out}" in proc.stdout


def test_smol_demo_learns_to_call_the_tools(smol_demo):
    """The property that matters: after a short run on the real pretrained model, its tool calls on held-out
    validation conversations parse and name the right function far more often than the base model's
    (the base SmolLM2 never writes `[TOOL_CALLS]`)."""
    out, proc = smol_demo
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    # The training loss is reported; at one conversation per step and 40 steps it is too noisy to judge
    # (CI saw logged values from 1.3 to 2.9), so learning is judged on held-out conversations below.
    assert re.search(rf"\[DEMO\] Loss [\d.]+ at steps \d+-\d+ -> [\d.]+ at steps \d+-{STEPS} \((NOT )?falling;", text), text[-3000:]
    assert sorted(_persona_answers(proc.stdout)) == ["franklin", "neutral", "onion", "twain"]
    r = _last_json(proc.stdout)
    base = r["base"]
    assert r["turns"] == EVAL_EXAMPLES and not r["partial"]  # first turns of held-out validation conversations
    assert base["calls_emitted"] == 0 and base["function_name_acc"] == 0.0
    assert r["calls_emitted"] >= 0.5 * r["call_turns"]
    assert r["json_valid_rate"] >= 0.8
    assert r["function_name_acc"] >= 0.5 and r["tool_call_rate"] >= 0.6
    # and the held-out final answers are likelier under the adapter, for every persona evaluated
    assert r["final_answer_loss"] and all(r["final_answer_loss"][p] < base["final_answer_loss"][p] for p in r["final_answer_loss"])
    # Real people's held-out questions: scored and reported for both, on the same questions.
    assert r["real_questions"] == REAL_QUESTIONS
    assert r["real_place_acc"] > base["real_place_acc"]
    assert "real_place_acc" in proc.stdout and "held-out SNIPS questions" in proc.stdout
    assert (out / "FINAL").is_file()


def test_smol_mix_draws_first_turns_by_kind_and_interleaves_them(tmp_path):
    """The SmolLM2 demo's training mix: the shares of SMOL_MIX, deterministic, abstentions spread over the run
    (the data's first 120 lines held too few for the adapter to learn to ask where or decline)."""
    from tasks import demo
    from tests.helpers_smol import TRAIN

    out = tmp_path / "mix.jsonl"
    counts = demo.smol_mix(TRAIN, out, 140)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == sum(counts.values()) and abs(len(rows) - 140) <= len(demo.SMOL_MIX)
    kinds = [demo._mix_kind(r) for r in rows]
    abstentions = ("no_tool/missing_place", "multi_turn/clarify_place", "unsupported/historical", "error_too_many_days")
    abstain = [k in abstentions for k in kinds]
    share = sum(w for k, w in demo.SMOL_MIX if k in abstentions) / sum(w for _, w in demo.SMOL_MIX)
    assert 0.25 <= share and abs(sum(abstain) / len(rows) - share) <= 0.02  # the mix's own share, drawn as declared
    half = len(rows) // 2
    assert abs(sum(abstain[:half]) - sum(abstain[half:])) <= 3  # spread over the run, not bunched at one end
    first = [next(m for m in r["messages"] if m["role"] == "assistant") for r in rows]
    assert all(not f.get("tool_calls") for f, a in zip(first, abstain, strict=True) if a)  # abstentions answer in words
    demo.smol_mix(TRAIN, tmp_path / "again.jsonl", 140)
    assert (tmp_path / "again.jsonl").read_bytes() == out.read_bytes()


def test_smol_mix_prefers_conversations_that_fit_whole(tmp_path):
    """With a fit rule, each kind takes the conversations trained whole first and fills with cut ones only where
    too few fit, so the weather calls keep the answer written from the weather result."""
    from tasks import demo
    from tests.helpers_smol import TRAIN

    def fits(example):
        return len(json.dumps(example, ensure_ascii=False)) <= 2400

    counts = demo.smol_mix(TRAIN, tmp_path / "fit.jsonl", 140, fits=fits)
    rows = [json.loads(line) for line in (tmp_path / "fit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == sum(counts.values())
    by_kind: dict[str, list[bool]] = {}
    for r in rows:
        by_kind.setdefault(demo._mix_kind(r), []).append(fits(r))
    calls = by_kind["geocode_then_weather/now"]
    assert len(calls) == counts["geocode_then_weather/now"] >= 10 and all(calls)  # plenty fit: only those are drawn
    assert by_kind["compare"] and not any(by_kind["compare"])  # none fits: the kind is still drawn, cut
    whole = [r for r in rows if demo._mix_kind(r) == "geocode_then_weather/now"]
    assert all(r["messages"][-1]["role"] == "assistant" and not r["messages"][-1].get("tool_calls") for r in whole)
