"""Evaluate tool calling with and without the adapter on validation conversations; bounded in time.

    python -m tasks.serve.evaluate --config configs/training_config_h100.yaml [--adapter adapters/weatherman-lora-h100]
                             [--max-examples N] [--max-new-tokens 128] [--time-budget-s 900] [--set key=value]
    make eval ADAPTER=adapters/weatherman-lora-h100

Each validation conversation is cut before each assistant turn (`template.prompt_before`); the model
continues greedily for at most --max-new-tokens tokens. A turn that should call tools must start
with ` [TOOL_CALLS] [...]` (the training format); one that should answer must not. Reported for
the base model and the base + adapter, on the same turns:

- tool_call_rate: turns expecting a call where the model called;
- no_call_rate: turns expecting an answer where the model did not call;
- json_valid_rate: emitted calls whose list parses as JSON objects with a name and an arguments object;
- function_name_acc: turns expecting a call with exactly the expected function names, in order;
- arguments_acc: ... and equal arguments (numbers within --tolerance, `days` equal, strings case-blind);
- final_answer_loss by persona: mean cross-entropy on the last answer's tokens (teacher forcing);
- e2e_*: whole conversations (tool loop, replayed tool results) on validation conversations and real
  questions: grounded numbers, the question answered in the first sentence, the persona recognised by a
  naive Bayes classifier (persona_classifier_acc: its own held-out accuracy), abstention (tasks/serve/e2e.py;
  --e2e N, --e2e-real N; --engine openai --base-url URL adds an OpenAI-compatible server's column and the
  agreement of its verdicts with the local adapter's);
- real_*: first moves on real people's held-out questions (tasks.serve.real_questions, --real-questions N):
  a geocode call naming the place the person named, or no call where no place or no answerable time
  was given. The same generation limits apply; their own time budget is --time-budget-s again.
- bfcl_irrelevance, bfcl_simple_python: the public BFCL v4 benchmark (tasks.serve.bfcl, --bfcl N items per
  subset, 0 skips; needs `pip install --no-deps bfcl-eval==2026.3.23`): no call where no function fits, and
  the right call (AST match) where one does. Its own time budget is --time-budget-s again.

--first-turns scores only each conversation's first assistant turn (what a short run such as the
SmolLM2 demo trains on: configs/training_config_smol.yaml cuts conversations after it).

Never hangs: each generation has a token limit and a wall-time limit, and once --time-budget-s
is spent the remaining turns are skipped and the report says so (`partial`). The last line printed
is one JSON object with the adapter's numbers (and the base's under "base").
`evaluate()` is the same run as a function, for `make demo`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import time
from pathlib import Path

from tasks import ui
from tasks.config import load_config, project_path

TAG = "EVAL"
CALL_PREFIX = "[TOOL_CALLS]"
METRICS = ("tool_call_rate", "no_call_rate", "json_valid_rate", "function_name_acc", "arguments_acc")
DEFAULT_TOLERANCE = 0.05  # degrees of latitude/longitude: about 5 km
EXACT_ARGUMENTS = ("days",)
DEFAULT_BFCL_ITEMS = 50  # per BFCL subset (tasks.serve.bfcl); the full sets are 240 and 400 items


# ----------------------------------------------------------------- parsing and scoring (pure)


def parse_output(text: str) -> dict:
    """{'called', 'valid', 'calls', 'text'} for a model continuation; `calls` is [{'name', 'arguments'}] when valid.

    The template trains text before a call (" Let me check. [TOOL_CALLS] [...]", bring-your-own OpenAI data),
    and Ollama finds the tag anywhere in the output, so the tag is looked for anywhere too; `text` is what
    stands before it (the whole output when there is no call)."""
    s = text.strip()
    at = s.find(CALL_PREFIX)
    if at < 0:
        return {"called": False, "valid": False, "calls": [], "text": s}
    before, payload = s[:at].strip(), s[at + len(CALL_PREFIX):].strip()
    try:
        value, end = json.JSONDecoder().raw_decode(payload)
    except json.JSONDecodeError:
        return {"called": True, "valid": False, "calls": [], "text": before}
    ok = (not payload[end:].strip() and isinstance(value, list) and value
          and all(isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("arguments"), dict) for c in value))
    return {"called": True, "valid": bool(ok), "calls": [{"name": c["name"], "arguments": c["arguments"]} for c in value] if ok else [],
            "text": before}


def _same_value(key: str, got, want, tolerance: float) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if key in EXACT_ARGUMENTS:
            return got == want
        return math.isclose(got, want, abs_tol=tolerance)
    if isinstance(want, str) and isinstance(got, str):
        return got.strip().casefold() == want.strip().casefold()
    return got == want


def arguments_match(got: dict, want: dict, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    return set(got) == set(want) and all(_same_value(k, got[k], want[k], tolerance) for k in want)


def expected_calls(message: dict) -> list[dict]:
    """The assistant message's calls as [{'name', 'arguments' (a dict)}]."""
    calls = []
    for tc in message.get("tool_calls") or []:
        f = tc["function"]
        args = f.get("arguments")
        calls.append({"name": f["name"], "arguments": json.loads(args) if isinstance(args, str) and args.strip() else (args or {})})
    return calls


def score(cases: list[dict], tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Metrics over cases {'expected': [calls] or [] for an answer, 'parsed': parse_output(...)}."""
    call_cases = [c for c in cases if c["expected"]]
    answer_cases = [c for c in cases if not c["expected"]]
    emitted = [c for c in cases if c["parsed"]["called"]]

    def rate(hits: int, n: int):
        return round(hits / n, 4) if n else None

    names = [c for c in call_cases if [x["name"] for x in c["parsed"]["calls"]] == [x["name"] for x in c["expected"]]]
    args = [c for c in names if all(arguments_match(g["arguments"], w["arguments"], tolerance)
                                    for g, w in zip(c["parsed"]["calls"], c["expected"], strict=True))]
    return {
        "tool_call_rate": rate(sum(c["parsed"]["called"] for c in call_cases), len(call_cases)),
        "no_call_rate": rate(sum(not c["parsed"]["called"] for c in answer_cases), len(answer_cases)),
        "json_valid_rate": rate(sum(c["parsed"]["valid"] for c in emitted), len(emitted)),
        "function_name_acc": rate(len(names), len(call_cases)),
        "arguments_acc": rate(len(args), len(call_cases)),
        "call_turns": len(call_cases), "answer_turns": len(answer_cases), "calls_emitted": len(emitted),
    }


def cases_of(example: dict) -> list[tuple[int, list[dict]]]:
    """(assistant message index, expected calls) for every assistant turn of a conversation."""
    return [(i, expected_calls(m)) for i, m in enumerate(example["messages"]) if m["role"] == "assistant"]


# ----------------------------------------------------------------- model work



def check_base(base: str, adapter: Path) -> None:
    """Refuse a config whose base is not the model the adapter was trained on (e.g. the CPU profile's tiny model
    with a 7B adapter copied to a laptop): PEFT would fail on shapes, or worse, not."""
    recorded = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not recorded:
        return
    same = Path(recorded).resolve() == Path(base).resolve() if Path(recorded).exists() and Path(base).exists() else recorded == base
    if not same:
        raise ui.Fail(f"{adapter}: trained on {recorded!r}, but the config's base is {base!r} "
                      "(pass the config the adapter was trained with, e.g. CONFIG=configs/training_config_h100.yaml, or --set model.base=...)")


def load(cfg: dict, adapter: Path):
    """(model with the adapter, tokenizer, device); the base is the same model inside `disable_adapter()`."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tasks.train import template, train

    choice = train.choose_device(cfg)
    for w in choice.warnings:
        ui.warning(f"[{TAG}] {w}")
    base = train.resolve_base(cfg)
    from tasks.train import model_cache

    source = model_cache.load_source(base, cfg["model"].get("cache_dir"))  # the volume's snapshot, Hub off, when complete
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    kwargs = {"dtype": dtypes[choice.dtype], "attn_implementation": "sdpa" if choice.attn_implementation == "flash_attention_2" else choice.attn_implementation}
    if source == base and cfg["model"].get("cache_dir"):
        kwargs["cache_dir"] = cfg["model"]["cache_dir"]
    if cfg["model"]["load_in_4bit"]:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                                           bnb_4bit_compute_dtype=dtypes[choice.dtype])
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as exc:
        raise ui.Fail(f"model.base {base!r}: cannot load it ({str(exc).splitlines()[0]}); check the id or folder and the network") from exc
    if not cfg["model"]["load_in_4bit"]:
        model.to(choice.device)
    model = PeftModel.from_pretrained(model, str(adapter)).eval()
    # The tokenizer and chat template saved with the adapter are the ones it was trained with.
    tok = AutoTokenizer.from_pretrained(str(adapter)) if (adapter / "tokenizer_config.json").is_file() else template.load_tokenizer(None if cfg["model"]["base"] == "tiny" else source)
    if tok.chat_template is None:
        tok.chat_template = template.TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.unk_token
    return model, tok, choice


def generate(model, tok, messages: list[dict], tools: list[dict], max_new_tokens: int, max_time: float, device: str) -> str:
    import torch

    enc = tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True, return_tensors="pt")
    enc = {k: v.to(device) for k, v in enc.items()}
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, max_time=max(max_time, 0.5),
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def final_answer_loss(model, tok, example: dict, max_length: int, device: str) -> tuple[float, int] | None:
    """(summed cross-entropy, token count) on the last assistant answer (text, no tool call), or None."""
    import torch

    from tasks.train import template

    answers = [i for i, m in enumerate(example["messages"]) if m["role"] == "assistant" and not m.get("tool_calls")]
    if not answers:
        return None
    last = answers[-1]
    upto = {**example, "messages": example["messages"][: last + 1]}
    ids = template.encode(upto, tok)["input_ids"]
    messages, tools = template.prompt_before(example, last)
    start = len(tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True)["input_ids"])
    if start >= min(len(ids), max_length):
        return None  # the answer lies beyond max_seq_length
    ids = ids[:max_length]
    x = torch.tensor([ids], device=device)
    with torch.no_grad():
        logits = model(input_ids=x).logits[0, :-1].float()
    targets = x[0, 1:]
    losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")[start - 1:]
    return float(losses.sum()), int(losses.numel())


def read_jsonl(path: Path, limit: int | None, fix: str) -> list[dict]:
    """The first `limit` JSON lines of `path` (all when None); a bad line fails naming it and `fix`."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if limit is not None and len(rows) >= limit:
                break
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ui.Fail(f"{path}:{n}: not JSON ({exc}); {fix}") from exc
    return rows


def read_validation(path: Path, limit: int | None) -> list[dict]:
    if not path.is_file():
        raise ui.Fail(f"{path}: validation data not found (run `make data`, or --set data.validation=PATH)")
    rows = read_jsonl(path, limit, f"check it with `make validate-data DATA={path}`")
    if not rows:
        raise ui.Fail(f"{path}: no conversations")
    return rows


def evaluate(cfg: dict, adapter: str | Path, *, max_examples: int | None = None, max_new_tokens: int = 128,
             time_budget_s: float = 900.0, tolerance: float = DEFAULT_TOLERANCE, progress: bool = True,
             first_turns: bool = False, real_questions: int = 0, today: dt.date | None = None, bfcl: int = 0,
             e2e_conversations: int = 0, e2e_real: int = 0, e2e_new_tokens: int = 160, server=None) -> dict:
    """Base vs base + adapter on the same validation turns (and `real_questions` held-out real questions);
    see the module docstring for the metrics."""
    from tasks.train import template, train

    train.quiet_libraries()
    adapter = project_path(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise ui.Fail(f"{adapter}: no adapter_config.json (train first, or pass ADAPTER=adapters/<run>)")
    if not (adapter / "FINAL").is_file():
        ui.warning(f"[{TAG}] {adapter}: no FINAL marker: evaluating an adapter that training has not finished writing")
    check_base(train.resolve_base(cfg), adapter)
    examples = read_validation(project_path(cfg["data"]["validation"]), max_examples or cfg["data"]["max_eval_examples"])
    loading = time.monotonic()
    model, tok, choice = load(cfg, adapter)
    # The budget is for the evaluation itself; loading a 7B from disk is bounded on its own.
    started = time.monotonic()
    max_length = cfg["data"]["max_seq_length"]
    cases = {"base": [], "adapter": []}
    losses = {"base": {}, "adapter": {}}
    samples = []
    def turns_of(ex: dict) -> list[tuple[int, list[dict]]]:
        return cases_of(ex)[:1] if first_turns else cases_of(ex)

    total_turns = sum(len(turns_of(ex)) for ex in examples)
    done_turns, partial = 0, False
    for ex in examples:
        persona = (ex.get("tags") or {}).get("persona", "unknown")
        for which in ("base", "adapter"):
            if time.monotonic() - started > time_budget_s:
                partial = True
                break
            with _adapter(model, which):
                got = final_answer_loss(model, tok, ex, max_length, choice.device)
            if got:
                s, n = losses[which].get(persona, (0.0, 0))
                losses[which][persona] = (s + got[0], n + got[1])
        for index, expected in turns_of(ex):
            remaining = time_budget_s - (time.monotonic() - started)
            if remaining <= 0:
                partial = True
                break
            messages, tools = template.prompt_before(ex, index)
            outputs = {}
            for which in ("base", "adapter"):
                with _adapter(model, which):
                    outputs[which] = generate(model, tok, messages, tools, max_new_tokens, remaining / 2, choice.device)
                cases[which].append({"expected": expected, "parsed": parse_output(outputs[which])})
            done_turns += 1
            if len(samples) < 3:
                samples.append({"last_message": f"{messages[-1]['role']}: {messages[-1]['content'][:80]}", "expected": expected, **{k: v[:200] for k, v in outputs.items()}})
        if partial:
            break
        if progress:
            ui.info(TAG, f"{done_turns}/{total_turns} turns, {time.monotonic() - started:.0f} s")
    result = {}
    for which in ("base", "adapter"):
        m = score(cases[which], tolerance)
        m["final_answer_loss"] = {p: round(s / n, 4) for p, (s, n) in sorted(losses[which].items())}
        result[which] = m
    result.update({"turns": done_turns, "turns_total": total_turns, "conversations": len(examples), "partial": partial,
                   "device": choice.device, "samples": samples, "first_turns": first_turns})
    if real_questions:
        from tasks.serve import real_questions as rq

        real = rq.evaluate_real(model, tok, choice.device, _adapter, limit=real_questions, max_new_tokens=max_new_tokens,
                                time_budget_s=time_budget_s, today=today)
        for which in ("base", "adapter"):
            result[which].update(real[which])
        result["real"] = {k: real[k] for k in ("questions", "questions_asked", "partial", "reference_date", "samples")}
    if bfcl:  # the public benchmark (tasks.serve.bfcl), with its own time budget
        from tasks.serve import bfcl as bench

        result["bfcl"] = bench.evaluate(model, tok, choice.device, _adapter, limit=bfcl, max_new_tokens=max_new_tokens,
                                        time_budget_s=time_budget_s, progress=progress)
    if e2e_conversations or e2e_real:
        from tasks.serve import e2e

        engines = e2e.local_engines(model, tok, choice.device, e2e_new_tokens, _adapter, generate)
        if server is not None:
            engines["server"] = server
        run_e2e = e2e.evaluate(engines, project_path(cfg["data"]["train"]), project_path(cfg["data"]["validation"]), examples, conversations=e2e_conversations, real=e2e_real,
                               time_budget_s=time_budget_s, today=today or dt.date.today())
        for which in ("base", "adapter"):
            result[which].update(run_e2e["scores"][which])
        result["e2e"] = {k: v for k, v in run_e2e.items() if k != "verdicts"}
    result["seconds"] = round(time.monotonic() - loading, 1)
    return result


class _adapter:
    """`with _adapter(model, 'base')` runs the base model; 'adapter' runs base + adapter."""

    def __init__(self, model, which: str):
        self.ctx = model.disable_adapter() if which == "base" else None

    def __enter__(self):
        return self.ctx.__enter__() if self.ctx else None

    def __exit__(self, *exc):
        return self.ctx.__exit__(*exc) if self.ctx else False


# ----------------------------------------------------------------- report


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def report(result: dict) -> None:
    base, ad = result["base"], result["adapter"]
    print(f"  {'metric':<20} {'base':>8} {'adapter':>8}")
    for key in METRICS:
        print(f"  {key:<20} {_fmt(base[key]):>8} {_fmt(ad[key]):>8}")
    print(f"  turns: {ad['call_turns']} expecting a call, {ad['answer_turns']} expecting an answer; calls emitted base "
          f"{base['calls_emitted']}, adapter {ad['calls_emitted']}" + (" (first turns only)" if result.get("first_turns") else ""))
    real = result.get("real")
    if real:
        from tasks.serve import real_questions as rq

        print(f"  {'real questions':<20} {'base':>8} {'adapter':>8}")
        for key in rq.METRICS:
            print(f"  {key:<20} {_fmt(base[key]):>8} {_fmt(ad[key]):>8}")
        print(f"  real: {real['questions']} held-out SNIPS questions ({ad['real_call_questions']} name a place, "
              f"{ad['real_abstain_questions']} give no place or no answerable time; dates read against {real['reference_date']})")
        for s in real["samples"]:
            want = f"geocode {s['expected']['place']!r}" if s["expected"]["kind"] == "call" else f"no call ({s['expected']['why']})"
            print(f"  Q: {s['question'][:100]}\n    expected {want}\n    base:    {s['base'][:120]!r}\n    adapter: {s['adapter'][:120]!r}")
        if real["partial"]:
            ui.warning(f"[{TAG}] Time budget spent: {real['questions']} of {real['questions_asked']} real questions scored")
    if result.get("e2e"):
        from tasks.serve import e2e

        e2e.report(result["e2e"])
    personas = sorted(set(base["final_answer_loss"]) | set(ad["final_answer_loss"]))
    if personas:
        print(f"  {'final-answer loss':<20} {'base':>8} {'adapter':>8}")
        for p in personas:
            print(f"  {p:<20} {_fmt(base['final_answer_loss'].get(p)):>8} {_fmt(ad['final_answer_loss'].get(p)):>8}")
    if result.get("bfcl"):
        from tasks.serve import bfcl

        bfcl.report(result["bfcl"])
    for s in result["samples"]:
        print(f"  after {s['last_message']}\n    expected {json.dumps(s['expected'])[:120]}\n    base:    {s['base'][:120]!r}\n    adapter: {s['adapter'][:120]!r}")
    if result["partial"]:
        ui.warning(f"[{TAG}] Time budget spent: {result['turns']} of {result['turns_total']} turns evaluated (raise --time-budget-s for all)")
    ui.success(f"[{TAG}] {result['turns']} turns from {result['conversations']} conversations on {result['device']} in {result['seconds']} s")


def last_line(result: dict) -> dict:
    """The adapter's numbers at the top level, the base's under 'base'."""
    ad = {k: v for k, v in result["adapter"].items()}
    line = {**ad, "base": result["base"], "turns": result["turns"], "turns_total": result["turns_total"], "partial": result["partial"]}
    if result.get("real"):
        line.update({"real_questions": result["real"]["questions"], "real_partial": result["real"]["partial"],
                     "real_reference_date": result["real"]["reference_date"]})
    if result.get("bfcl"):
        for subset, s in result["bfcl"]["subsets"].items():
            line[f"bfcl_{subset}"], line["base"][f"bfcl_{subset}"] = s["adapter"], s["base"]
            line[f"bfcl_{subset}_items"] = s["items"]
        line["bfcl_source"] = result["bfcl"]["source"]
    if result.get("e2e"):
        e = result["e2e"]
        line.update({"e2e_partial": e["partial"], "persona_classifier_acc": e["classifier_acc"],
                     **({"server": e["scores"]["server"], "e2e_agreement": e.get("agreement")} if "server" in e["scores"] else {})})
    return line


def run(config: str, adapter: str | None, overrides: list[str], max_examples: int | None, max_new_tokens: int,
        time_budget_s: float, tolerance: float, first_turns: bool = False, real_questions: int = 0, today: str | None = None,
        e2e_conversations: int = 0, e2e_real: int = 0, e2e_new_tokens: int = 160, engine: str = "local",
        base_url: str | None = None, model: str | None = None, api_key: str | None = None, bfcl: int = 0) -> None:
    cfg = load_config(config, overrides)
    server = None
    if engine == "openai":
        from tasks.serve.openai_engine import OpenAIEngine

        server = OpenAIEngine(base_url, model, api_key)
        server.check()  # reachable, before the local model loads (one line if not)
        ui.info(TAG, f"Server column: OpenAI-compatible server at {server.url}, model {server.model!r} (end-to-end scores and agreement)")
        e2e_conversations, e2e_real = e2e_conversations or 8, e2e_real or 8
    path = adapter or cfg["output_dir"]
    try:
        ref = dt.date.fromisoformat(today) if today else None
    except ValueError as exc:
        raise ui.Fail(f"--today {today!r}: not a date (expected YYYY-MM-DD)") from exc
    ui.info(TAG, f"Adapter {project_path(path)} on {cfg['data']['validation']} (budget {time_budget_s:g} s, {max_new_tokens} new tokens per turn)"
            + (f" and {real_questions} held-out real questions" if real_questions else ""))
    result = evaluate(cfg, path, max_examples=max_examples, max_new_tokens=max_new_tokens, time_budget_s=time_budget_s, tolerance=tolerance,
                      first_turns=first_turns, real_questions=real_questions, today=ref, bfcl=bfcl, e2e_conversations=e2e_conversations,
                      e2e_real=e2e_real, e2e_new_tokens=e2e_new_tokens, server=server)
    report(result)
    print(json.dumps(last_line(result)), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/training_config_h100.yaml")
    parser.add_argument("--adapter", default=None, help="adapter folder (default: the config's output_dir)")
    parser.add_argument("--max-examples", type=int, default=None, help="validation conversations (default: data.max_eval_examples)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="tokens generated per turn at most")
    parser.add_argument("--time-budget-s", type=float, default=900.0, help="wall time for the evaluation after loading; the rest is skipped")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="absolute tolerance for numeric arguments (days must be equal)")
    parser.add_argument("--first-turns", action="store_true", help="score only each conversation's first assistant turn")
    parser.add_argument("--real-questions", type=int, default=40,
                        help="held-out real (SNIPS) questions to score first moves on; 0 skips them (default 40)")
    parser.add_argument("--today", default=None, help="reference date YYYY-MM-DD for reading the real questions' times (default: today)")
    parser.add_argument("--bfcl", type=int, default=DEFAULT_BFCL_ITEMS,
                        help=f"items per BFCL v4 subset (irrelevance, simple_python) to score; 0 skips them (default {DEFAULT_BFCL_ITEMS})")
    parser.add_argument("--e2e", type=int, default=12, help="validation conversations to run end to end (tool loop, replayed results; 0 skips)")
    parser.add_argument("--e2e-real", type=int, default=12, help="real questions to run end to end (0 skips)")
    parser.add_argument("--e2e-new-tokens", type=int, default=160, help="tokens per model step at most in the end-to-end runs")
    parser.add_argument("--engine", choices=("local", "openai"), default="local",
                        help="openai: also run the end-to-end scores through an OpenAI-compatible server and print its agreement")
    parser.add_argument("--base-url", default=None, help="the server's API root (default: OPENAI_BASE_URL, else http://127.0.0.1:8080/v1)")
    parser.add_argument("--model", default=None, help="the model name on the server (default: OPENAI_MODEL, else weatherman)")
    parser.add_argument("--api-key", default=None, help="the server's key (default: OPENAI_API_KEY; never printed)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. data.validation=path (repeatable)")
    args = parser.parse_args(argv)
    if args.max_new_tokens < 1 or args.e2e_new_tokens < 1 or args.time_budget_s <= 0 or min(args.real_questions, args.e2e, args.e2e_real, args.bfcl) < 0:
        parser.error("--max-new-tokens and --time-budget-s must be positive, --real-questions, --bfcl, --e2e and --e2e-real 0 or more")
    return ui.main_guard(run, args.config, args.adapter, args.overrides, args.max_examples, args.max_new_tokens,
                         args.time_budget_s, args.tolerance, args.first_turns, args.real_questions, args.today, args.e2e,
                         args.e2e_real, args.e2e_new_tokens, args.engine, args.base_url, args.model, args.api_key, args.bfcl)


if __name__ == "__main__":
    raise SystemExit(main())
