"""End-to-end scores: whole conversations (call, tool result, answer) on held-out validation conversations and
real people's questions, with the tool results replayed, so the same question always meets the same weather.

    (run by `make eval` and `make demo` through tasks/serve/evaluate.py; the scorers here are pure)

What a person gets is the whole turn. Each question goes through the chat's own tool loop
(tasks/serve/chat.py `answer`, at most MAX_ROUNDS rounds) with an engine (the local PEFT model, base or
adapter, or an OpenAI-compatible server); the tools answer from replays, never the network:

- a validation conversation: the k-th call to a tool gets the conversation's own k-th result of that tool
  (what training would have shown), and a call with no such result gets `{"error": true, ...}`;
- a real (SNIPS) question: geocode_location answers from the recorded Open-Meteo search when there is one
  (tests/recordings/open-meteo), else from the generator's gazetteer in the trained shape; the weather
  tools answer with the recorded Open-Meteo forecast, shaped by tasks/serve/tools.py for the coordinates asked.

Scores, for each side (base, adapter) on the same questions:

- e2e_completed_rate: conversations that ended in an answer in words (no runaway loop, no broken call);
- e2e_grounded_rate: answers written after tool results whose every number is traceable to the results, the
  call's arguments, the question or the date (°C -> °F, km/h -> mph or m/s and mm -> inches conversions and
  rounding allowed; times and dates split into their numbers);
- e2e_first_sentence_rate: ... whose first sentence answers: a verdict (yes, no, likely, ...) for a yes/no
  question, otherwise a weather fact (a number or a weather word);
- e2e_persona_acc: answers that a naive Bayes classifier on word 1-2-grams, trained on the training answers,
  assigns to the conversation's persona (its own held-out accuracy on validation answers is printed:
  `persona_classifier_acc`);
- e2e_abstain_acc: questions with no place or no answerable time that end in words without any tool call.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
from collections import Counter, defaultdict
from pathlib import Path

from tasks.config import ROOT

TAG = "EVAL"
MAX_ROUNDS = 3
RECORDINGS = ROOT / "tests" / "recordings" / "open-meteo"
METRICS = ("e2e_completed_rate", "e2e_grounded_rate", "e2e_first_sentence_rate", "e2e_persona_acc", "e2e_abstain_acc")
ABSTAIN_KINDS = ("no_tool/missing_place", "multi_turn/clarify_place", "unsupported/historical", "error_too_many_days")
YES_NO_START = re.compile(r"^\W*(?:(?:hey|hi|so|ok|okay|please)\W+)*(will|is|are|am|was|were|does|do|did|should|shall|can|could|"
                          r"would|has|have|may|might|must)\b", re.IGNORECASE)
VERDICT = re.compile(r"\b(yes|yep|yeah|no|nope|not|never|likely|unlikely|probably|possibly|certainly|definitely|indeed|sure|"
                     r"afraid|chance|expect|looks like|partly|somewhat|a little|slightly|mostly|hardly|barely|nothing|none|plenty|absolutely|"
                     r"of course|\w+n't)\b", re.IGNORECASE)
# A first sentence that says the tool failed or found nothing answers too, when that is what the results say.
FAILURE_WORDS = re.compile(r"\b(sorry|couldn't|could not|can't|cannot|unable|no luck|not find|doesn't turn up|came back empty|"
                           r"no (?:place|town|city|such)|unavailable|failed|error|down|timed out|didn't answer)\b", re.IGNORECASE)
WEATHER_WORDS = re.compile(r"(°|\b(degrees?|sun|sunny|clear|cloud\w*|overcast|rain\w*|shower\w*|drizzle|snow\w*|sleet|storm\w*|"
                           r"thunder\w*|fog\w*|mist\w*|wind\w*|breez\w*|gust\w*|humid\w*|dry|wet|warm\w*|hot|cold\w*|cool\w*|"
                           r"chill\w*|freez\w*|mild|frost\w*|umbrella|jacket|coat)\b)", re.IGNORECASE)


# ----------------------------------------------------------------- numbers (pure)


def numbers_in(text: str) -> list[float]:
    """Every number written in `text`: '-3.5 °C' -> -3.5; '14:45' -> 14, 45; '2026-12-01' -> 2026, 12, 1."""
    out = []
    for m in re.finditer(r"\d+(?:[.,]\d+)?", text):
        raw = m.group(0)
        value = float(raw.replace(",", ".")) if re.fullmatch(r"\d+,\d{1,2}", raw) else float(raw.replace(",", ""))
        start = m.start()
        before = text[start - 1] if start else ""
        minus = before in "-−" and (start < 2 or not text[start - 2].isalnum())
        out.append(-value if minus else value)
    return out


def _leaves(value) -> list[float]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, str):
        return numbers_in(value)
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return []


def allowed_numbers(sources: list) -> set[float]:
    """The numbers an answer may use: every number in the sources and their unit conversions and 12-hour clock."""
    base = set(_leaves(sources))
    out = set(base)
    for v in base:
        out |= {v * 9 / 5 + 32, v / 1.609344, v / 3.6, v / 25.4, abs(v)}
        if 12 < v < 24:
            out.add(v - 12)
    return out


def grounded(answer: str, allowed: set[float]) -> tuple[bool, list[float]]:
    """(every number in the answer is in `allowed`, within rounding; the ones that are not)."""
    missing = []
    for n in numbers_in(answer):
        tol = 0.5 if n == int(n) else 0.051
        if not any(math.isclose(n, v, abs_tol=tol) for v in allowed):
            missing.append(n)
    return not missing, missing


# ----------------------------------------------------------------- sentences (pure)


def first_sentence(answer: str) -> str:
    """The answer's first sentence, after a headline line (a first line with no end punctuation, then a blank line)."""
    text = answer.strip()
    parts = re.split(r"\n\s*\n", text, maxsplit=1)
    if len(parts) == 2 and not re.search(r"[.!?:]\s*$", parts[0]):
        text = parts[1].strip()
    m = re.search(r"(?<!\d)[.!?](?=\s|$)|\n", text)
    return text[: m.end()].strip() if m else text


def is_yes_no(question: str) -> bool:
    return bool(YES_NO_START.search(question.strip()))


def answers_first(question: str, answer: str, failed: bool = False) -> bool:
    """Whether the first sentence answers: a verdict for a yes/no question, else a weather fact; when the tools
    failed or found no place (`failed`), saying so answers."""
    first = first_sentence(answer)
    if not first:
        return False
    if failed and FAILURE_WORDS.search(first):
        return True
    if is_yes_no(question):
        return bool(VERDICT.search(first))
    return bool(numbers_in(first) or WEATHER_WORDS.search(first))


# ----------------------------------------------------------------- persona classifier (pure)


def _features(text: str) -> list[str]:
    words = re.findall(r"[a-z']+|[!?;:]|\n\n", text.casefold())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


class PersonaClassifier:
    """Multinomial naive Bayes over word unigrams and bigrams, Laplace smoothing."""

    def __init__(self, texts: list[str], labels: list[str], alpha: float = 0.5):
        self.alpha = alpha
        self.counts: dict[str, Counter] = defaultdict(Counter)
        docs = Counter(labels)
        for text, label in zip(texts, labels, strict=True):
            self.counts[label].update(_features(text))
        self.labels = sorted(docs)
        self.prior = {lab: math.log(docs[lab] / len(labels)) for lab in self.labels}
        self.total = {lab: sum(self.counts[lab].values()) for lab in self.labels}
        self.vocab = len({f for c in self.counts.values() for f in c})

    def predict(self, text: str) -> str:
        feats = _features(text)

        def logp(lab: str) -> float:
            c, denom = self.counts[lab], self.total[lab] + self.alpha * self.vocab
            return self.prior[lab] + sum(math.log((c[f] + self.alpha) / denom) for f in feats)

        return max(self.labels, key=logp)

    def accuracy(self, texts: list[str], labels: list[str]) -> float | None:
        return round(sum(self.predict(t) == lab for t, lab in zip(texts, labels, strict=True)) / len(labels), 4) if labels else None


def _answer_of(ex: dict) -> tuple[str, str] | None:
    """(last answer in words, persona) of one conversation; None when it has neither."""
    persona = (ex.get("tags") or {}).get("persona")
    words = [m["content"] for m in ex["messages"] if m["role"] == "assistant" and not m.get("tool_calls") and m.get("content")]
    return (words[-1], persona) if persona and words else None


def final_answers(path: Path, limit: int | None = None) -> tuple[list[str], list[str]]:
    """(last answer in words, persona) of each conversation in a JSONL file."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if limit is not None and len(texts) >= limit:
                break
            if line.strip() and (found := _answer_of(json.loads(line))):
                texts.append(found[0])
                labels.append(found[1])
    return texts, labels


def _answers_of(examples: list[dict]) -> tuple[list[str], list[str]]:
    found = [a for a in map(_answer_of, examples) if a]
    return [t for t, _ in found], [p for _, p in found]


def train_classifier(train: Path, validation: Path | None, limit: int = 6000,
                     examples: list[dict] | None = None) -> tuple[PersonaClassifier, float | None, int]:
    """The classifier on the training answers; its accuracy on held-out answers (the validation file, or `examples`)."""
    classifier = PersonaClassifier(*final_answers(train, limit))
    texts, labels = _answers_of(examples) if examples is not None else final_answers(validation, 1000)
    return classifier, classifier.accuracy(texts, labels), len(labels)


# ----------------------------------------------------------------- replayed tools


def kind_of(example: dict) -> str:
    tags = example.get("tags") or {}
    return f"{tags.get('scenario')}/{tags.get('variant')}"


def expects_abstention(example: dict) -> bool:
    kind = kind_of(example)
    return any(kind == k or kind.startswith(k + "/") for k in ABSTAIN_KINDS)


class ConversationTools:
    """The k-th call to a tool gets the conversation's own k-th result of that tool."""

    def __init__(self, example: dict):
        ids = {}
        for m in example["messages"]:
            for tc in m.get("tool_calls") or []:
                ids[tc["id"]] = tc["function"]["name"]
        self.results: dict[str, list[dict]] = defaultdict(list)
        for m in example["messages"]:
            if m["role"] == "tool" and m.get("tool_call_id") in ids:
                self.results[ids[m["tool_call_id"]]].append(json.loads(m["content"]))
        self.used: Counter = Counter()

    def __call__(self, name: str, arguments) -> dict:
        queue = self.results.get(name, [])
        k = self.used[name]
        self.used[name] += 1
        return queue[k] if k < len(queue) else {"error": True, "reason": "Upstream data source unavailable"}


def recorded_get_json(url: str) -> dict:
    """Open-Meteo's recorded answers (tests/recordings/open-meteo) for a request URL, as tools.http_get_json returns them."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    if parts.path.endswith("/search"):
        path = RECORDINGS / f"geocoding_{query.get('name', '').casefold()}.json"
        return json.loads((path if path.is_file() else RECORDINGS / "geocoding_nothing.json").read_text(encoding="utf-8"))
    if "current" in query:
        return json.loads((RECORDINGS / "forecast_current_lisbon.json").read_text(encoding="utf-8"))
    body = json.loads((RECORDINGS / "forecast_daily_lisbon.json").read_text(encoding="utf-8"))
    n = int(query.get("forecast_days", 7))
    body["daily"] = {k: v[:n] for k, v in body["daily"].items()}
    return body


def real_tools(name: str, arguments) -> dict:
    """Tool results for real questions: recordings first, the gazetteer for places without a recorded search."""
    from tasks.data import gazetteer, weather
    from tasks.serve import tools

    if name == "geocode_location" and isinstance(arguments, dict) and isinstance(arguments.get("city"), str):
        city = arguments["city"]
        if not (RECORDINGS / f"geocoding_{city.casefold()}.json").is_file():
            return weather.geocode_result(gazetteer.geocode_all(city))
    return tools.call(name, arguments, get_json=recorded_get_json)


# ----------------------------------------------------------------- running and scoring


def converse(engine, messages: list[dict], run_tool) -> dict:
    """One question through the chat's tool loop: {'answer', 'called', 'results', 'calls', 'error'}."""
    from tasks import ui
    from tasks.serve import chat

    try:
        answer = chat.answer(engine, messages, max_rounds=MAX_ROUNDS, run_tool=run_tool, show=lambda line: None)
        error = None
    except ui.Fail as exc:
        answer, error = "", str(exc).split(";")[0][:120]
    calls = [tc["function"] for m in messages if m["role"] == "assistant" for tc in m.get("tool_calls") or []]
    results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
    return {"answer": answer, "called": bool(calls), "calls": calls, "results": results, "error": error}


def judge(case: dict, outcome: dict, classifier: PersonaClassifier | None, today: str) -> dict:
    """The verdicts for one conversation (None where a score does not apply)."""
    answer = outcome["answer"].strip()
    done = bool(answer) and outcome["error"] is None
    verdict = {"completed": done, "grounded": None, "first_sentence": None, "persona": None, "abstained": None}
    if case["abstain"]:
        verdict["abstained"] = done and not outcome["called"]
    if done and outcome["results"]:
        sources = [outcome["results"], [c["arguments"] for c in outcome["calls"]], case["question"], case["messages"][0]["content"], today]
        verdict["grounded"], missing = grounded(answer, allowed_numbers(sources))
        failed = any(r.get("error") or r.get("results") == [] for r in outcome["results"] if isinstance(r, dict))
        verdict["first_sentence"] = answers_first(case["question"], answer, failed)
        if missing:
            verdict["ungrounded"] = missing[:5]
    if done and classifier is not None:
        verdict["persona"] = classifier.predict(answer) == case["persona"]
    return verdict


def score(verdicts: list[dict]) -> dict:
    def rate(key: str):
        xs = [v[key] for v in verdicts if v[key] is not None]
        return round(sum(xs) / len(xs), 4) if xs else None

    return {"e2e_completed_rate": rate("completed"), "e2e_grounded_rate": rate("grounded"),
            "e2e_first_sentence_rate": rate("first_sentence"), "e2e_persona_acc": rate("persona"),
            "e2e_abstain_acc": rate("abstained"), "e2e_conversations": len(verdicts),
            "e2e_answered_after_tools": sum(v["grounded"] is not None for v in verdicts),
            "e2e_abstain_questions": sum(v["abstained"] is not None for v in verdicts)}


def cases(examples: list[dict], real: list[dict]) -> list[dict]:
    """Validation conversations' first questions and real questions, alternating (a time budget cuts both alike),
    each with its system prompt and tools."""
    val, out = [], []
    for ex in examples:
        user = next((i for i, m in enumerate(ex["messages"]) if m["role"] == "user"), None)
        if user is None:
            continue
        val.append({"source": "validation", "messages": ex["messages"][: user + 1], "question": ex["messages"][user]["content"],
                    "persona": (ex.get("tags") or {}).get("persona"), "abstain": expects_abstention(ex), "tools": ConversationTools(ex),
                    "kind": kind_of(ex)})
    reals = []
    for q in real:
        reals.append({"source": "real", "messages": [{"role": "system", "content": q["system"]}, {"role": "user", "content": q["text"]}],
                    "question": q["text"], "persona": q["persona"], "abstain": q["expected"]["kind"] == "abstain", "tools": real_tools,
                    "kind": "real/" + q["expected"]["kind"]})
    for i in range(max(len(val), len(reals))):
        out += val[i:i + 1] + reals[i:i + 1]
    return out


def local_engines(model, tok, device: str, max_new_tokens: int, adapter_ctx, generate) -> dict:
    """{'base': reply, 'adapter': reply} on one PEFT model, for the chat's tool loop."""
    from tasks.serve import chat
    from tasks.train.template import TOOLS

    def make(which: str):
        def reply(messages: list[dict]) -> dict:
            with adapter_ctx(model, which):
                text = generate(model, tok, messages, TOOLS, max_new_tokens, 60.0, device)
            return chat.assistant_message(text)
        return reply

    return {"base": make("base"), "adapter": make("adapter")}


def evaluate(engines: dict, train: Path, validation: Path, examples: list[dict], *, conversations: int, real: int,
             time_budget_s: float, today) -> dict:
    """The end-to-end run of `make eval`: the persona classifier, then `conversations` validation conversations and
    `real` real questions through every engine."""
    from tasks.serve import real_questions as rq

    classifier, acc, tested = None, None, 0
    if train.is_file() and validation.is_file():
        classifier, acc, tested = train_classifier(train, validation)
    else:
        from tasks import ui

        ui.warning(f"[{TAG}] {train}: not found, so no persona classifier (make data); e2e_persona_acc is n/a")
    todo = cases(examples[:conversations], rq.questions(real, today) if real else [])
    result = run(engines, todo, classifier, time_budget_s=time_budget_s, today=today.isoformat())
    result.update(classifier_acc=acc, classifier_tested=tested)
    names = list(engines)
    if "server" in names and "adapter" in names:
        result["agreement"] = agreement(result["verdicts"]["adapter"], result["verdicts"]["server"])
    return result


def run(engines: dict, todo: list[dict], classifier: PersonaClassifier | None, *, time_budget_s: float, today: str) -> dict:
    """Every case through every engine ({'base': reply, 'adapter': reply}), within the time budget."""
    import copy

    verdicts = {name: [] for name in engines}
    samples, started, partial = [], time.monotonic(), False
    for case in todo:
        if time.monotonic() - started > time_budget_s:
            partial = True
            break
        answers = {}
        for name, engine in engines.items():
            tool = case["tools"]
            if isinstance(tool, ConversationTools):
                tool.used.clear()
            outcome = converse(engine, copy.deepcopy(case["messages"]), tool)
            verdicts[name].append(judge(case, outcome, classifier, today))
            answers[name] = outcome["answer"][:160] or f"({outcome['error'] or 'empty'})"
        if len(samples) < 3:
            samples.append({"question": case["question"][:100], "kind": case["kind"], **answers})
    by_source = {name: {src: score([v for v, c in zip(vs, todo, strict=False) if c["source"] == src]) for src in ("validation", "real")}
                 for name, vs in verdicts.items()}
    return {"scores": {name: score(vs) for name, vs in verdicts.items()}, "by_source": by_source, "samples": samples,
            "conversations": len(next(iter(verdicts.values()))), "conversations_asked": len(todo), "partial": partial,
            "seconds": round(time.monotonic() - started, 1), "verdicts": verdicts}


def agreement(a: list[dict], b: list[dict]) -> float | None:
    """How often two engines' verdicts on the same conversations agree (over the verdicts both gave)."""
    pairs = [(x[k], y[k]) for x, y in zip(a, b, strict=False) for k in ("completed", "grounded", "first_sentence", "persona", "abstained")
             if x[k] is not None and y[k] is not None]
    return round(sum(p == q for p, q in pairs) / len(pairs), 4) if pairs else None


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def report(result: dict) -> None:
    from tasks import ui

    classifier_acc, tested = result["classifier_acc"], result["classifier_tested"]
    names = list(result["scores"])
    print(f"  {'end to end':<24}" + "".join(f" {n:>8}" for n in names))
    for key in METRICS:
        print(f"  {key:<24}" + "".join(f" {_fmt(result['scores'][n][key]):>8}" for n in names))
    s = result["scores"][names[-1]]
    print(f"  end to end: {s['e2e_conversations']} conversations ({s['e2e_abstain_questions']} expect abstention), tools replayed; "
          f"persona classifier (naive Bayes, word 1-2-grams) held-out accuracy {_fmt(classifier_acc)} on {tested} validation answers")
    for sample in result["samples"]:
        print(f"  Q [{sample['kind']}]: {sample['question']}" + "".join(f"\n    {n}: {sample[n]!r}" for n in names))
    if result.get("agreement") is not None:
        print(f"  adapter (PEFT) and server agree on {result['agreement']:.3f} of their end-to-end verdicts")
    if result["partial"]:
        ui.warning(f"[{TAG}] End-to-end time budget spent: {result['conversations']} of {result['conversations_asked']} conversations scored")
