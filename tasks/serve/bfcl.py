"""A public tool-calling benchmark in `make eval`: BFCL v4's irrelevance and simple (Python) subsets, base against adapter.

    python -m tasks.serve.evaluate --config configs/training_config_h100.yaml --bfcl 50   # items per subset (0 skips)
    make eval ADAPTER=adapters/weatherman-lora-h100 BFCL=400

Source: the Berkeley Function Calling Leaderboard (BFCL) v4 question and answer files as the PyPI
package `bfcl-eval` 2026.3.23 ships them (Apache-2.0, github.com/ShishirPatil/gorilla,
berkeley-function-call-leaderboard), installed `pip install --no-deps bfcl-eval==2026.3.23` (its
own dependencies pin numpy 1.26.4, and only its data files are read here; nothing of it is imported):

- irrelevance (240 items): a question and functions that cannot answer it. Score: the fraction of
  items where the model made no call. This says whether the model knows when not to call;
- simple_python (400 items): one question, one function. Score: the fraction where the model made
  exactly one call with the function's name and arguments that BFCL's possible answers accept
  (an AST-style match, written here after BFCL's rules: no unknown argument, every required one
  present, an optional one may be left out where the answer lists "", each value one of the
  accepted ones; strings compared without case, spaces or punctuation, an integer accepted for a
  float, lists and dicts element by element).

Each item is rendered by the project's own chat template with the item's functions in place of
the three weather tools (BFCL's types made JSON Schema: dict -> object, float -> number, tuple ->
array, any -> no type) and no system prompt, as BFCL gives it; generation is greedy, as in the rest
of `make eval`, and bounded by the same token limit and time budget. The figures are the model's
own on the benchmark's data, not the leaderboard's harness (which prompts differently per model).
"""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

from tasks import ui

TAG = "EVAL"
PIN = "bfcl-eval==2026.3.23"
SOURCE = ("BFCL v4 (Berkeley Function Calling Leaderboard), data files of the PyPI package bfcl-eval 2026.3.23, Apache-2.0; "
          "github.com/ShishirPatil/gorilla/tree/main/berkeley-function-call-leaderboard, gorilla.cs.berkeley.edu/leaderboard.html")
SUBSETS = ("irrelevance", "simple_python")

_TYPES = {"dict": "object", "float": "number", "tuple": "array", "double": "number", "long": "integer", "int": "integer",
          "bool": "boolean", "str": "string", "list": "array", "char": "string", "byte": "integer", "short": "integer"}


def data_folder() -> Path | None:
    """bfcl_eval/data of the installed package, found without importing it (its imports need its pinned dependencies)."""
    spec = importlib.util.find_spec("bfcl_eval")
    if not spec or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if (folder / "BFCL_v4_irrelevance.json").is_file() else None


def _lines(path: Path, limit: int | None) -> list[dict]:
    from tasks.serve.evaluate import read_jsonl

    return read_jsonl(path, limit, f"reinstall it: pip install --no-deps --force-reinstall {PIN}")


def load(folder: Path, subset: str, limit: int | None) -> list[dict]:
    """The first `limit` items of a subset, each with its possible answer under 'answer' (simple_python)."""
    items = _lines(folder / f"BFCL_v4_{subset}.json", limit)
    answers = folder / "possible_answer" / f"BFCL_v4_{subset}.json"
    if answers.is_file():
        by_id = {a["id"]: a["ground_truth"] for a in _lines(answers, None)}
        for item in items:
            item["answer"] = by_id[item["id"]]
    return items


# ----------------------------------------------------------------- BFCL's functions as the template's tools (pure)


def json_schema(schema):
    """BFCL's parameter schema (Python type names) as JSON Schema, recursively."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            if value == "any":
                continue
            out[key] = _TYPES.get(value, value)
        elif key in ("properties",) and isinstance(value, dict):
            out[key] = {name: json_schema(v) for name, v in value.items()}
        else:
            out[key] = json_schema(value)
    return out


def tools_of(item: dict) -> list[dict]:
    return [{"type": "function", "function": {"name": f["name"], "description": f.get("description", ""),
                                              "parameters": json_schema(f.get("parameters", {"type": "object", "properties": {}}))}}
            for f in item["function"]]


def messages_of(item: dict) -> list[dict]:
    """The item's single turn (BFCL nests turns: question[turn][message])."""
    return [{"role": m["role"], "content": m["content"]} for m in item["question"][0]]


# ----------------------------------------------------------------- scoring (pure)


def _norm(s: str) -> str:
    return re.sub(r"[\s,./\-_*^'\"]", "", s).lower()


def _value_ok(got, want, kind: str | None = None) -> bool:
    """`kind` is BFCL's type of the parameter: an integer is accepted for a float, not a float for an integer."""
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if isinstance(got, float) and kind == "integer":
            return False
        return float(got) == float(want)
    if isinstance(want, str) and isinstance(got, str):
        return _norm(got) == _norm(want)
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(_value_ok(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, dict) and isinstance(got, dict):
        return set(got) == set(want) and all(_value_ok(got[k], w) for k, w in want.items())
    return got == want


def _arguments_ok(got: dict, accepted: dict, kinds: dict | None = None) -> bool:
    """BFCL's rule: each key known, each required one given, each value one of the accepted ones ("" = may be left out)."""
    kinds = kinds or {}
    if any(k not in accepted for k in got):
        return False
    for key, options in accepted.items():
        options = options if isinstance(options, list) else [options]
        if key not in got:
            if "" not in options:
                return False
        elif not any(_value_ok(got[key], o, kinds.get(key)) for o in options if o != "" or got[key] == ""):
            return False
    return True


def simple_ok(parsed: dict, item: dict) -> bool:
    """One call, the item's function, arguments one of its possible answers accepts."""
    answer = item["answer"]
    if not parsed["valid"] or len(parsed["calls"]) != 1 or len(answer) != 1:
        return False
    (name, accepted), = answer[0].items()
    call = parsed["calls"][0]
    props = next((f.get("parameters", {}).get("properties", {}) for f in item["function"] if f["name"] == name), {})
    return call["name"] == name and _arguments_ok(call["arguments"], accepted, {k: v.get("type") for k, v in props.items()})


def score(subset: str, items: list[dict], parsed: list[dict]) -> float | None:
    if not parsed:
        return None
    if subset == "irrelevance":
        hits = sum(not p["called"] for p in parsed)
    else:
        hits = sum(simple_ok(p, item) for item, p in zip(items, parsed, strict=True))
    return round(hits / len(parsed), 4)


# ----------------------------------------------------------------- the run


def evaluate(model, tok, device: str, adapter_ctx, *, limit: int | None, max_new_tokens: int, time_budget_s: float,
             folder: Path | None = None, progress: bool = True) -> dict | None:
    """{'source', 'subsets': {name: {'items', 'base', 'adapter', 'partial'}}, 'samples'}; None when bfcl-eval is missing."""
    from tasks.serve.evaluate import generate, parse_output

    folder = folder or data_folder()
    if folder is None:
        ui.warning(f"[{TAG}] BFCL skipped: bfcl-eval is not installed (pip install --no-deps {PIN}; it ships the benchmark's data)")
        return None
    started = time.monotonic()
    out = {"source": SOURCE, "subsets": {}, "samples": []}
    for subset in SUBSETS:
        items = load(folder, subset, limit)
        parsed = {"base": [], "adapter": []}
        partial = False
        for item in items:
            remaining = time_budget_s - (time.monotonic() - started)
            if remaining <= 0:
                partial = True
                break
            texts = {}
            for which in ("base", "adapter"):
                with adapter_ctx(model, which):
                    texts[which] = generate(model, tok, messages_of(item), tools_of(item), max_new_tokens, remaining / 2, device)
                parsed[which].append(parse_output(texts[which]))
            if len([s for s in out["samples"] if s["subset"] == subset]) < 2:
                out["samples"].append({"subset": subset, "id": item["id"], "question": messages_of(item)[-1]["content"][:100],
                                       **{k: v[:160] for k, v in texts.items()}})
        done = len(parsed["adapter"])
        out["subsets"][subset] = {"items": done, "items_asked": len(items), "partial": partial,
                                  **{which: score(subset, items[:done], parsed[which]) for which in ("base", "adapter")}}
        if progress:
            ui.info(TAG, f"BFCL {subset}: {done}/{len(items)} items, {time.monotonic() - started:.0f} s")
    return out


def report(result: dict) -> None:
    print(f"  {'BFCL v4':<20} {'base':>8} {'adapter':>8}")
    for subset, s in result["subsets"].items():
        label = "irrelevance (no call)" if subset == "irrelevance" else "simple (AST match)"
        fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
        print(f"  {label:<20} {fmt(s['base']):>8} {fmt(s['adapter']):>8}   {s['items']} of {s['items_asked']} items"
              + (" (time budget spent)" if s["partial"] else ""))
    print(f"  source: {result['source']}")
