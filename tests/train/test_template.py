"""The chat template on generated conversations of every scenario, with the real Mistral v0.2 tokenizer.

Proves what training relies on: the persona system prompt and the tools are in the
first [INST]; only assistant spans (tool calls and answers, each with </s>) carry the
loss, token for token; and for every assistant turn the prompt an evaluation would give
(prompt_before) tokenizes to an exact prefix of the full conversation, with the loss
starting at the first token after it.
"""

from __future__ import annotations

import json

import pytest

from tasks.train import template
from tasks.data.generate import SCENARIOS, generate
from tasks.data.personas import PERSONAS


@pytest.fixture(scope="module")
def tok():
    return template.load_tokenizer()


@pytest.fixture(scope="module")
def examples() -> list[dict]:
    """Several conversations of every scenario and every persona (and every multi-turn variant)."""
    convs = generate(400)
    chosen, seen = [], {}
    for c in convs:
        key = (c["tags"]["scenario"], c["tags"]["persona"], c["tags"].get("variant"))
        if seen.get(key, 0) < 1:
            seen[key] = seen.get(key, 0) + 1
            chosen.append(c)
    assert {c["tags"]["scenario"] for c in chosen} == set(SCENARIOS)
    return chosen


def _spans(labels: list[int]) -> list[tuple[int, int]]:
    out, start = [], None
    for i, lab in enumerate(labels + [-100]):
        if lab != -100 and start is None:
            start = i
        elif lab == -100 and start is not None:
            out.append((start, i))
            start = None
    return out


def _expected_assistant(m: dict) -> str:
    """What an assistant turn must decode to, built here without the template."""
    if m.get("tool_calls"):
        calls = []
        for tc in m["tool_calls"]:
            args = json.loads(tc["function"]["arguments"])
            calls.append('{"name": ' + json.dumps(tc["function"]["name"]) + ', "arguments": '
                         + json.dumps(args, ensure_ascii=False) + ', "id": ' + json.dumps(tc["id"]) + "}")
        return "[TOOL_CALLS] [" + ", ".join(calls) + "]</s>"
    return m["content"] + "</s>"


def _expected_prompts(example: dict) -> list[str]:
    """The unmasked text between assistant turns, built here without the template."""
    msgs = example["messages"]
    system = msgs[0]["content"]
    tools = ", ".join('{"name": ' + json.dumps(t["function"]["name"]) + ', "description": '
                      + json.dumps(t["function"]["description"]) + ', "parameters": '
                      + json.dumps(t["function"]["parameters"]) + "}" for t in template.TOOLS)
    segments, current, first = [], "<s>", True
    for m in msgs[1:]:
        if m["role"] == "user":
            head = f"{system}\n\n[AVAILABLE_TOOLS] [{tools}] [/AVAILABLE_TOOLS]\n\n" if first else ""
            current += f"[INST] {head}{m['content']} [/INST]"
            first = False
        elif m["role"] == "tool":
            current += '[TOOL_RESULTS] {"call_id": ' + json.dumps(m["tool_call_id"]) + ', "content": ' + m["content"] + "} [/TOOL_RESULTS]"
        else:
            segments.append(current)
            current = ""
    assert current == "", "a conversation ends with the assistant"
    return segments


def test_system_prompt_and_tools_open_the_first_inst(tok, examples):
    for ex in examples:
        text = template.render(ex, tok)
        persona = PERSONAS[ex["tags"]["persona"]]
        system = ex["messages"][0]["content"]
        assert system.startswith(persona.system)  # a share of the lines adds today's date on a second line
        assert text.startswith("<s>[INST] " + system + "\n\n[AVAILABLE_TOOLS] [")
        # every tool the project has, with its parameters, is listed exactly once
        for name in template.TOOLS_BY_NAME:
            assert text.count('{"name": ' + json.dumps(name) + ', "description"') == 1
        assert text.count("[INST]") == sum(m["role"] == "user" for m in ex["messages"])


def test_exact_masked_and_unmasked_spans_for_every_scenario(tok, examples):
    for ex in examples:
        enc = template.encode(ex, tok)
        ids, labels = enc["input_ids"], enc["labels"]
        assistants = [m for m in ex["messages"] if m["role"] == "assistant"]
        spans = _spans(labels)
        tag = f"{ex['tags']} {ex['metadata']['id']}"
        assert len(spans) == len(assistants), tag
        # trained tokens: exactly the assistant turns, labels equal to the ids, ending with </s>
        for (a, b), m in zip(spans, assistants, strict=True):
            assert labels[a:b] == ids[a:b], tag
            assert tok.decode(ids[a:b]) == _expected_assistant(m), tag
            assert ids[b - 1] == tok.eos_token_id, tag
        # untrained tokens: system, tools, user turns and tool results, and nothing else
        bounds = [0] + [x for span in spans for x in span]
        untrained = [tok.decode(ids[bounds[2 * k]:bounds[2 * k + 1]]) for k in range(len(spans))]
        assert untrained == _expected_prompts(ex), tag
        assert spans[-1][1] == len(ids), f"{tag}: nothing may follow the last answer"
        # the tool results really are unmasked text (no loss on what the tools said)
        for m in ex["messages"]:
            if m["role"] == "tool":
                assert any(m["content"] in u for u in untrained), tag


def test_prompt_before_is_a_token_prefix_and_loss_starts_right_after(tok, examples):
    checked = 0
    for ex in examples:
        enc = template.encode(ex, tok)
        ids, labels = enc["input_ids"], enc["labels"]
        spans = _spans(labels)
        turns = [k for k, m in enumerate(ex["messages"]) if m["role"] == "assistant"]
        for k, (a, b) in zip(turns, spans, strict=True):
            msgs, tools = template.prompt_before(ex, k)
            prompt = list(tok.apply_chat_template(msgs, tools=tools, tokenize=True, return_dict=True)["input_ids"])
            assert ids[: len(prompt)] == prompt, f"{ex['metadata']['id']} turn {k}: prompt tokens are not a prefix"
            assert len(prompt) == a, f"{ex['metadata']['id']} turn {k}: loss must start at the first assistant token"
            assert labels[a - 1] == -100 and labels[a] != -100
            assert labels[b - 1] == tok.eos_token_id
            checked += 1
    assert checked > 2 * len(examples)


def test_string_and_object_arguments_render_the_same_tokens(tok, examples):
    """OpenAI sends arguments as JSON strings; the template must render objects either way."""
    ex = next(e for e in examples if e["tags"]["scenario"] == "geocode_then_weather")
    as_objects = json.loads(json.dumps(ex))
    for m in as_objects["messages"]:
        for tc in m.get("tool_calls") or []:
            tc["function"]["arguments"] = json.loads(tc["function"]["arguments"])
    assert template.encode(as_objects, tok) == template.encode(ex, tok)
    assert '\\"' not in template.render(ex, tok).split("[/AVAILABLE_TOOLS]")[1].split("[TOOL_RESULTS]")[0]
