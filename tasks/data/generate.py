"""Generate the training data: 16,000 weather conversations with tool calls, in four voices.

    python -m tasks.data.generate [--out data/synthetic] [--n 16000] [--seed 1729]
    make data

Writes `final_train.jsonl` and `final_validation.jsonl`, validates both against the data contract
(tasks.data.validate), checks that every answer addresses its question (tasks.data.quality), measures
tokens with the real Mistral v0.2 tokenizer and the project's chat template, and writes
`merge_metadata.json` LAST (make's target for all three files).

Users ask as people do (tasks.data.phrasing: real SNIPS questions with their slots replaced, and
casual, lower-case, misspelt questions), about days the tools can answer or, as lessons, about days
and things they cannot. Every answer's first sentence answers the question (a verdict, the variable
asked about, the day asked about) and every number in it is a tool figure or an exact conversion of
one (°F, mph). Scenarios (`tags.scenario`), one module of tasks/data/convo/ per kind:

- convo/answered.py: geocode_then_weather (a place by name: geocode_location, then the weather call with
  its coordinates); current and forecast (the user gives coordinates: one tool round); compare (two
  places: two geocode calls in one turn, then two weather calls in one turn); ambiguous_place (the
  geocoder returns several places: the model picks by the user's hint, asks which, or says which it took);
- convo/dialogue.py: multi_turn: three to five user turns that refer back ("there", "the day after",
  another city);
- convo/errors.py: unsupported (hourly, historical, UV or air questions: answered honestly, with what
  the tools can give), error_unknown_place, error_tool, error_too_many_days: the assistant explains
  and offers what it can;
- convo/no_tool.py: greetings, thanks, questions about the assistant, weather knowledge, off-topic
  requests and questions with no place ("near me"): no tool call.

What they share (the builder, the user's words, the tool rounds) is convo/common.py; weather answers
are convo/answers.py; the voices around the facts are convo/voice.py. This module plans the mix,
writes the files and measures them.

The validation split is held out: its conversations use other cities and other phrasing families
(phrasing.in_split) than training, and none of its user turns appears in training.

Deterministic: each conversation draws from its own `random.Random(f"{seed}:{i}")`, so the same seed
gives the same bytes on every machine. `generate(n)` is the fast, tokenizer-free entry point that
tests of other modules use for small datasets.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import time
from collections import Counter
from pathlib import Path

from tasks import ui
from tasks.data import climate, freshness, gazetteer, openmeteo
from tasks.data.convo.answered import (
    scenario_ambiguous_place,
    scenario_compare,
    scenario_current,
    scenario_forecast,
    scenario_geocode_then_weather,
)
from tasks.data.convo.common import Conversation
from tasks.data.convo.dialogue import scenario_multi_turn
from tasks.data.convo.errors import (
    scenario_error_too_many_days,
    scenario_error_tool,
    scenario_error_unknown_place,
    scenario_unsupported,
)
from tasks.data.convo.no_tool import scenario_no_tool
from tasks.data.personas import PERSONAS

TAG = "DATA"
ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "data" / "synthetic"
TRAIN_FILE = "final_train.jsonl"
VALIDATION_FILE = "final_validation.jsonl"
METADATA_FILE = "merge_metadata.json"
SEED = 1729
N_TOTAL = 16000
VALIDATION_FRACTION = 0.10
GENERATOR_VERSION = "2.0.0"
PROFILES = freshness.PROFILES  # the profiles whose lengths the metadata reports

# Shares of the whole dataset; the same mix inside every persona.
SCENARIO_SHARES = {
    "geocode_then_weather": 0.36,
    "current": 0.03,
    "forecast": 0.03,
    "compare": 0.05,
    "ambiguous_place": 0.04,
    "multi_turn": 0.14,
    "unsupported": 0.05,
    "error_unknown_place": 0.05,
    "error_tool": 0.05,
    "error_too_many_days": 0.05,
    "no_tool": 0.15,
}
ERROR_SCENARIOS = ("error_unknown_place", "error_tool", "error_too_many_days")
DATED_SHARE = 0.35  # conversations whose system prompt carries today's date


SCENARIOS = {
    "geocode_then_weather": scenario_geocode_then_weather,
    "current": scenario_current,
    "forecast": scenario_forecast,
    "compare": scenario_compare,
    "ambiguous_place": scenario_ambiguous_place,
    "multi_turn": scenario_multi_turn,
    "unsupported": scenario_unsupported,
    "error_unknown_place": scenario_error_unknown_place,
    "error_tool": scenario_error_tool,
    "error_too_many_days": scenario_error_too_many_days,
    "no_tool": scenario_no_tool,
}


# ----------------------------------------------------------------------------- the dataset


def quotas(n: int, shares: dict[str, float]) -> dict[str, int]:
    """Exact counts summing to n (largest remainder), so small sets keep the mix too."""
    raw = {k: n * s / sum(shares.values()) for k, s in shares.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (counts[k] - raw[k], k))[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def conversation(index: int, persona: str, scenario: str, seed: int, split: str = "train", attempt: int = 0) -> dict:
    key = f"{seed}:{index}" + (f":{attempt}" if attempt else "")
    rng = random.Random(key)
    c = Conversation(rng, persona, world=key, split=split, dated=rng.random() < DATED_SHARE)
    tags = {"persona": persona, "scenario": scenario}
    SCENARIOS[scenario](c, tags)
    return {"messages": c.messages, "tags": tags, "metadata": {"id": f"wm-{seed}-{index:05d}", "generator": GENERATOR_VERSION, "split": split}}


def plan(n: int, seed: int) -> list[tuple[str, str, str]]:
    """(persona, scenario, split) for every conversation: exact persona and scenario quotas, and every
    1/VALIDATION_FRACTION-th conversation of each persona (in scenario order) held out."""
    rows = []
    step = round(1 / VALIDATION_FRACTION)
    for persona, n_persona in quotas(n, {p: v.share for p, v in PERSONAS.items()}).items():
        ordered = [s for s, k in quotas(n_persona, SCENARIO_SHARES).items() for _ in range(k)]
        rows += [(persona, s, "validation" if (k + 1) % step == 0 else "train") for k, s in enumerate(ordered)]
    random.Random(f"{seed}:plan").shuffle(rows)
    return rows


def user_turns(conv: dict) -> list[str]:
    return [m["content"] for m in conv["messages"] if m["role"] == "user"]


def generate(n: int, seed: int = SEED) -> list[dict]:
    """n conversations with the full persona and scenario mix (exact quotas), deterministic.

    Validation conversations come from their own cities and phrasing families; one that still repeats
    a training user turn word for word (a short "thanks!") is drawn again. Fast and tokenizer-free:
    other modules' tests call it for small realistic datasets."""
    rows = plan(n, seed)
    out = [conversation(i, p, s, seed, split) if split == "train" else None for i, (p, s, split) in enumerate(rows)]
    seen = {u.strip().lower() for conv in out if conv is not None for u in user_turns(conv)}
    for i, (p, s, split) in enumerate(rows):
        if split == "validation":
            for attempt in range(50):
                conv = conversation(i, p, s, seed, split, attempt)
                if not any(u.strip().lower() in seen for u in user_turns(conv)):
                    break
            out[i] = conv
    return out


def split(conversations: list[dict]) -> tuple[list[dict], list[dict]]:
    """(train, validation) as planned; the generated order is kept within each."""
    train = [c for c in conversations if c["metadata"]["split"] == "train"]
    val = [c for c in conversations if c["metadata"]["split"] == "validation"]
    return train, val


def dumps_line(conv: dict) -> str:
    return json.dumps(conv, ensure_ascii=False, separators=(",", ":")) + "\n"


# ----------------------------------------------------------------------------- measurements


def _profile_lengths() -> dict[str, int]:
    import yaml

    out = {}
    for profile in PROFILES:
        path = ROOT / "configs" / f"training_config_{profile}.yaml"
        try:
            out[profile] = int(yaml.safe_load(path.read_text(encoding="utf-8"))["data"]["max_seq_length"])
        except (OSError, KeyError, TypeError, ValueError) as e:
            raise ui.Fail(f"{path}: cannot read data.max_seq_length ({e}); run `make validate CONFIG={path}`") from e
    return out


def token_stats(conversations: list[dict], train: list[dict]) -> dict:
    """Tokens per conversation with the real tokenizer and the project's template, and per training
    epoch: processed (every token of every training line) and loss-carrying (assistant tokens)."""
    from tasks.train import template

    tok = template.load_tokenizer()
    lengths, trained = [], []
    for conv in conversations:
        enc = template.encode(conv, tok)
        lengths.append(len(enc["input_ids"]))
        trained.append(sum(1 for x in enc["labels"] if x != -100))
    ordered = sorted(lengths)
    limits = _profile_lengths()
    train_ids = {id(c) for c in train}
    in_train = [i for i, conv in enumerate(conversations) if id(conv) in train_ids]
    system = {p: len(tok(PERSONAS[p].system, add_special_tokens=False)["input_ids"]) for p in PERSONAS}
    return {
        "tokenizer": "mistral-v0.2 (tokenizer.model.v1, mistral-common)",
        "conversations": len(lengths),
        "total_tokens": sum(lengths),
        "mean": round(statistics.fmean(lengths), 1),
        "median": statistics.median(lengths),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
        "min": ordered[0],
        "trained_tokens_mean": round(statistics.fmean(trained), 1),
        "per_epoch": {"processed": sum(lengths[i] for i in in_train), "loss_carrying": sum(trained[i] for i in in_train)},
        "system_prompt_tokens": system,
        "over_max_seq_length": {p: {"max_seq_length": n, "conversations": sum(1 for x in lengths if x > n)}
                                for p, n in limits.items()},
    }


# The same figures for the data before issue 13 (generator 1.0.0, seed 1729, commit 3ba4046), measured
# with tasks.data.quality and the tokenizer on its committed files: the comparison merge_metadata carries.
BEFORE = {
    "tokens": {"mean": 1072.8, "per_epoch": {"processed": 15440151, "loss_carrying": 2382707},
               "system_prompt_tokens": {"twain": 126, "franklin": 124, "onion": 115, "neutral": 103},
               "over_max_seq_length_2048": 95},
    "user_turns": {"turns": 19486, "shapes": 1785, "shapes_covering_half": 123, "vocabulary": 192, "with_coordinates": 0.1416,
                   "conversations_by_user_turns": {"1": 12514, "2": 3486}, "lower_case": 0.0, "accented": 0},
    "answers_address_questions": {"yesno_questions": 1114, "yesno_with_verdict": 0.1607, "wind_questions": 86,
                                  "wind_answer_names_wind": 0.4535, "rain_questions": 796, "rain_answer_names_rain": 0.6884,
                                  "failure_count": 2360},
    "top_5gram_per_persona": {"franklin": 0.086, "neutral": 0.0541, "onion": 0.0637, "twain": 0.0607},
    "geocode_arguments_match_user": 0.9759,
    "validation_overlap": {"exact_user_turns": 0.2943, "user_shapes": 0.9647},
}


BEFORE_19 = {
    "climate": {"place_months": 2533, "off_by_4C_or_more": 0.4698, "mean_error_C": 4.44,
                "tropical_forecast_steps": 3802, "tropical_jumps_4C_or_more": 0.1152},
    "far_apart_current_readings_on_one_local_hour": {"pairs": 744, "same_hour": 744},
    "real_places_taught_as_not_found": {"asks": 800, "real": 84},
    "geocode_results": {"results": 13564, "accented": 0, "several_places": 713},
    # tasks/data/rules.py on the data of commit a3f3b04 (generator 2.0.0 with the real world, before these rules)
    "answer_rules": {"sentence_join": 522, "grammar": 79, "verdict_on_open_question": 532, "comparison_missing": 141,
                     "failure_joke_without_failure": 345, "sun_at_night": 11, "gusts_for_mean_wind": 174, "repeated_user_turn": 95},
    "top_stock_sentence_share": {"franklin": 0.0086, "neutral": 0.0128, "onion": 0.0141, "twain": 0.0076},
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def counts(conversations: list[dict]) -> dict:
    per = Counter((c["tags"]["persona"], c["tags"]["scenario"]) for c in conversations)
    return {
        "total": len(conversations),
        "persona": dict(sorted(Counter(c["tags"]["persona"] for c in conversations).items())),
        "scenario": dict(sorted(Counter(c["tags"]["scenario"] for c in conversations).items())),
        "persona_scenario": {p: {s: per[(p, s)] for s in SCENARIOS} for p in PERSONAS},
    }


def write_dataset(out_dir: str | Path = OUT_DIR, n_total: int = N_TOTAL, seed: int = SEED,
                  with_tokens: bool = True) -> dict:
    """Generate, split and write the two JSONL files; returns the metadata (written by run(), last).

    `with_tokens=False` skips the tokenizer (token statistics absent)."""
    from tasks.data import quality, rules

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    conversations = generate(n_total, seed)
    train, val = split(conversations)
    files = {}
    for name, rows in ((TRAIN_FILE, train), (VALIDATION_FILE, val)):
        path = out_dir / name
        with ui.atomic_path(path) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                fh.writelines(dumps_line(c) for c in rows)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; data files are for every user of the checkout
        files[name] = path
    t_generate = time.perf_counter() - t0
    humour = sum(1 for c in conversations if PERSONAS[c["tags"]["persona"]].humorous) / max(len(conversations), 1)
    metadata = {
        "generator": "tasks.data.generate",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_total": len(conversations),
        "validation_fraction": VALIDATION_FRACTION,
        "files": {name: {"path": str(path.relative_to(out_dir)), "lines": len(rows), "sha256": sha256(path)}
                  for (name, path), rows in zip(files.items(), (train, val), strict=True)},
        "counts": counts(conversations),
        "splits": {"train": counts(train), "validation": counts(val)},
        "humour_ratio": round(humour, 4),
        "persona_shares": {p: v.share for p, v in PERSONAS.items()},
        "scenario_shares": SCENARIO_SHARES,
        "gazetteer_cities": len(gazetteer.CITIES),
        # what `make` compares to decide whether the data is stale (tasks/data/freshness.py)
        "inputs": freshness.digest(),
        "quality": quality.measure(conversations, train, val),
        "before_issue_13": BEFORE,
        # the forecasts against real monthly normals (tasks/data/climate.py), and the same figure for the data
        # before issue 19 (generator 2.0.0 at commit 3be82b2, drawn from latitude and altitude alone)
        "climate": climate.measure(conversations),
        "geocode_results": openmeteo.measure_geocodes(conversations),
        "answer_rules": rules.measure(conversations),
        "stock_sentences": rules.stock_tags(conversations),
        "before_issue_19": BEFORE_19,
        "seconds": {"generate_and_write": round(t_generate, 2)},
    }
    if with_tokens:
        t1 = time.perf_counter()
        metadata["tokens"] = token_stats(conversations, train)
        metadata["seconds"]["token_statistics"] = round(time.perf_counter() - t1, 2)
    return metadata


def run(out_dir: Path, n_total: int, seed: int) -> None:
    from tasks.data.validate import validate_file

    t0 = time.perf_counter()
    ui.info(TAG, f"Generating {n_total} conversations (seed {seed}) into {out_dir}")
    metadata = write_dataset(out_dir, n_total, seed, with_tokens=True)
    t1 = time.perf_counter()
    for name in (TRAIN_FILE, VALIDATION_FILE):
        problems = validate_file(out_dir / name)
        if problems:
            for line in problems:
                print(line)
            raise ui.Fail(f"{out_dir / name}: the generated data breaks the data contract ({len(problems)} problems above); "
                          "fix tasks/data/generate.py")
    unanswered = metadata["quality"]["answers_address_questions"]["failures"]
    if unanswered:
        raise ui.Fail(f"{len(unanswered)} answers do not address their question (first: {unanswered[0]}); fix tasks/data/generate.py")
    broken = metadata["answer_rules"]
    if sum(broken["counts"].values()):
        for line in broken["examples"]:
            print(line)
        counts = ", ".join(f"{rule} {n}" for rule, n in broken["counts"].items() if n)
        raise ui.Fail(f"{sum(broken['counts'].values())} answers break the answer rules ({counts}; first: {broken['examples'][0]}); "
                      "fix tasks/data/convo/ (rules: tasks/data/rules.py)")
    metadata["seconds"]["validate"] = round(time.perf_counter() - t1, 2)
    metadata["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    # Timings vary from run to run; kept out of the file so that it has the same bytes every run.
    seconds = metadata.pop("seconds")
    with ui.atomic_path(out_dir / METADATA_FILE) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o644)
    c, tok, q = metadata["counts"], metadata["tokens"], metadata["quality"]
    ui.info(TAG, "personas: " + ", ".join(f"{k} {v}" for k, v in c["persona"].items()) + f" (humour {metadata['humour_ratio']:.1%})")
    ui.info(TAG, "scenarios: " + ", ".join(f"{k} {v}" for k, v in c["scenario"].items()))
    ui.info(TAG, f"split: train {metadata['files'][TRAIN_FILE]['lines']}, validation {metadata['files'][VALIDATION_FILE]['lines']}; "
            f"validation user turns seen in training {q['validation_overlap']['exact_user_turns']:.2%}, "
            f"shapes {q['validation_overlap']['user_shapes']:.2%}")
    ui.info(TAG, f"tokens per conversation: mean {tok['mean']}, median {tok['median']}, p95 {tok['p95']}, max {tok['max']}; per epoch "
            f"{tok['per_epoch']['processed']} processed, {tok['per_epoch']['loss_carrying']} loss-carrying")
    ui.info(TAG, f"user turns: {q['user_turns']['shapes']} shapes, vocabulary {q['user_turns']['vocabulary']}; yes/no with a verdict "
            f"{q['answers_address_questions']['yesno_with_verdict']:.1%}; geocode arguments matching the user {q['geocode_arguments_match_user']:.2%}")
    ui.info(TAG, "answer rules: all kept (" + ", ".join(metadata["answer_rules"]["counts"]) + "); most repeated voice sentence per persona: "
            + ", ".join(f"{p} {v['share']:.2%}" for p, v in metadata["stock_sentences"].items()))
    ui.info(TAG, "top 5-word phrase per persona: " + ", ".join(f"{p} {v['share']:.1%}" for p, v in q["top_5gram_per_persona"].items()))
    ui.info(TAG, "seconds: " + ", ".join(f"{k} {v}" for k, v in seconds.items()))
    ui.success(f"Data written: {out_dir / TRAIN_FILE}, {out_dir / VALIDATION_FILE}, {out_dir / METADATA_FILE}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default data/synthetic)")
    parser.add_argument("--n", type=int, default=N_TOTAL, help="number of conversations (default 16000)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.n < 10:
        parser.error(f"--n {args.n}: too small for a 90/10 split (use 10 or more)")
    return ui.main_guard(run, args.out, args.n, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
