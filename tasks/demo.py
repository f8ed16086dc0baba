"""The whole pipeline on a CPU in minutes, no download: data, tiny model, LoRA training, reload, answers.

    python -m tasks.demo [--config configs/training_config_cpu.yaml] [--set key=value ...]
    make demo

1. builds the dataset when it is missing (`python -m tasks.data.generate`, then `python -m tasks.data.links`);
2. builds the tiny Mistral-architecture model (random init, fixed seed, the real v0.2 tokenizer);
3. trains the CPU profile (`tasks.train.train`: a few hundred steps; resumes or skips when already done)
   and prints the first and last logged loss;
4. loads the adapter back with `PeftModel.from_pretrained` and answers sample prompts from the
   validation set (greedy, bounded length);
5. evaluates base vs adapter on a few validation turns (`tasks.serve.evaluate`, bounded in tokens and
   time) and prints the table and its JSON;
6. prints where everything is. A random tiny model learns the format, not the weather: the answers
   show the pipeline works end to end, not a useful forecaster.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from tasks import ui
from tasks.config import ROOT, load_config, project_path

TAG = "DEMO"
SAMPLE_PROMPTS = 3
MAX_NEW_TOKENS = 64
# A small evaluation: a handful of validation conversations, short generations, a hard time limit.
EVAL_EXAMPLES = 4
EVAL_NEW_TOKENS = 48
EVAL_BUDGET_S = 90.0



def ensure_data(cfg: dict) -> None:
    """Link the dataset when the configured files are missing, generating it first if needed."""
    train, val = project_path(cfg["data"]["train"]), project_path(cfg["data"]["validation"])
    if train.is_file() and val.is_file():
        ui.info(TAG, f"Data present: {train}, {val}")
        return
    final = [ROOT / "data" / "synthetic" / name for name in ("final_train.jsonl", "final_validation.jsonl", "merge_metadata.json")]
    # The final files are tracked in git: a fresh clone only needs the links.
    modules = ["data.links"] if all(p.is_file() for p in final) else ["data.generate", "data.links"]
    ui.info(TAG, "Data missing: " + ", then ".join(f"python -m tasks.{m}" for m in modules))
    for module in modules:
        r = subprocess.run([sys.executable, "-m", f"tasks.{module}"], cwd=ROOT)
        if r.returncode != 0:
            raise ui.Fail(f"python -m tasks.{module} failed (exit {r.returncode}); see its output above")
    if not (train.is_file() and val.is_file()):
        raise ui.Fail(f"{train}: still missing after linking the data (the config's data paths must be data/processed/*.jsonl)")


def loss_curve(output_dir: Path) -> list[tuple[int, float]]:
    from tasks.run import eta

    return [(r["step"], r["loss"]) for r in eta.read_events(output_dir) if r["event"] == "step"]


def answer_samples(base: str, adapter: Path, validation: Path, n: int) -> list[tuple[str, str]]:
    """Reload base + adapter with PeftModel.from_pretrained and answer the first user turns of `n` validation lines."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tasks.train import template

    tok = AutoTokenizer.from_pretrained(str(adapter))  # the tokenizer and chat template saved with the adapter
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(adapter)).eval()
    answers = []
    with open(validation, encoding="utf-8") as fh:
        for line in fh:
            if len(answers) >= n:
                break
            example = json.loads(line)
            first_answer = next(i for i, m in enumerate(example["messages"]) if m["role"] == "assistant")
            messages, tools = template.prompt_before(example, first_answer)
            ids = tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True, return_tensors="pt")
            with torch.no_grad():
                out = model.generate(**ids, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, pad_token_id=tok.pad_token_id)
            reply = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
            question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
            answers.append((question, reply))
    return answers


def run(config: str, overrides: list[str]) -> int:
    from tasks.train import train

    started = time.monotonic()
    cfg = load_config(config, overrides)
    if cfg["model"]["base"] != "tiny":
        raise ui.Fail(f"{config}: the demo trains the tiny CPU model (model.base: tiny); got {cfg['model']['base']!r}")
    ensure_data(cfg)
    base = train.resolve_base(cfg)
    ui.info(TAG, f"Tiny Mistral model: {base}")
    code = train.run(config, overrides)
    if code != 0:
        return code
    output_dir = project_path(cfg["output_dir"])
    curve = loss_curve(output_dir)
    if curve:
        (s0, l0), (s1, l1) = curve[0], curve[-1]
        mark = ui.success if l1 < l0 else ui.warning
        mark(f"[{TAG}] Loss {l0:.3f} at step {s0} -> {l1:.3f} at step {s1} ({'falling' if l1 < l0 else 'NOT falling'})")
    train.quiet_libraries()
    ui.info(TAG, f"Reloading the adapter with PeftModel.from_pretrained({output_dir})")
    for question, reply in answer_samples(base, output_dir, project_path(cfg["data"]["validation"]), SAMPLE_PROMPTS):
        print(f"  Q: {question}\n  A: {reply or '(empty)'}\n")
    from tasks.serve import evaluate

    ui.info(TAG, f"Evaluating base vs adapter on {EVAL_EXAMPLES} validation conversations (make eval runs more)")
    result = evaluate.evaluate(cfg, output_dir, max_examples=EVAL_EXAMPLES, max_new_tokens=EVAL_NEW_TOKENS,
                               time_budget_s=EVAL_BUDGET_S, progress=False)
    evaluate.report(result)
    print(json.dumps(evaluate.last_line(result), sort_keys=True))
    ui.info(TAG, "Where everything is:")
    for name, path in (("data", f"{project_path(cfg['data']['train'])}, {project_path(cfg['data']['validation'])}"), ("base model", base),
                       ("adapter", output_dir), ("metrics", output_dir / "metrics.jsonl"),
                       ("checkpoints", ", ".join(sorted(p.name for p in output_dir.glob("checkpoint-*"))) or "none"),
                       ("config used", output_dir / "training_config.resolved.yaml")):
        print(f"  {name:<12} {path}")
    ui.success(f"[{TAG}] Finished in {time.monotonic() - started:.0f} s.")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/training_config_cpu.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable)")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.config, args.overrides)


if __name__ == "__main__":
    raise SystemExit(main())
