"""The chat template on generated conversations of every scenario, with the real Mistral v0.2 tokenizer.

Proves what training relies on: the persona system prompt and the tools are in the
first [INST]; only assistant spans (tool calls and answers, each with </s>) carry the
loss, token for token; and for every assistant turn the prompt an evaluation would give
(prompt_before) tokenizes to an exact prefix of the full conversation, with the loss
starting at the first token after it. Token ids are Mistral's reference ones
(mistral-common's MistralTokenizer.v1(), which llama.cpp and so Ollama agree with), and
the tokenizer saved beside an adapter encodes exactly as the one training used.
"""

from __future__ import annotations

import json
import re

import pytest

from tasks import ui
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
    return chosen + _with_text_before_calls(chosen)


TEXT_BEFORE_CALL = "Let me check that for you."


def _with_text_before_calls(convs: list[dict]) -> list[dict]:
    """Bring-your-own data in the OpenAI format: text beside tool_calls, in every turn that calls (a few scenarios)."""
    out = []
    for c in convs:
        if any(m.get("tool_calls") for m in c["messages"]) and len(out) < 6:
            c = json.loads(json.dumps(c))
            for m in c["messages"]:
                if m.get("tool_calls"):
                    m["content"] = TEXT_BEFORE_CALL
            c["metadata"]["id"] += "-text-before-call"
            out.append(c)
    return out


@pytest.fixture(scope="module")
def mistral():
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.v1()


def reference_ids(mistral, text: str) -> list[int]:
    """Mistral's reference encoding of a rendered text: `<s>` and `</s>` are control tokens, and each run
    of text between them is encoded by SentencePiece on its own (with its dummy prefix `▁`), as
    mistral-common's InstructTokenizerV1 encodes each message and llama.cpp each fragment after a special token."""
    raw = mistral.instruct_tokenizer.tokenizer
    ids: list[int] = []
    for part in re.split(r"(<s>|</s>)", text):
        if part == "<s>":
            ids.append(raw.bos_id)
        elif part == "</s>":
            ids.append(raw.eos_id)
        elif part:
            ids += raw.encode(part, bos=False, eos=False)
    return ids


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
        text = m["content"] + " " if m.get("content") else ""
        return text + "[TOOL_CALLS] [" + ", ".join(calls) + "]</s>"
    return m["content"] + "</s>"


def _expected_prompts(example: dict) -> list[str]:
    """The unmasked text between assistant turns, built here without the template."""
    msgs = example["messages"]
    system = msgs[0]["content"]
    tools = ",".join('{"name":' + json.dumps(t["function"]["name"]) + ',"description":'
                     + json.dumps(t["function"]["description"]) + ',"parameters":'
                     + json.dumps(t["function"]["parameters"], separators=(",", ":")) + "}" for t in template.TOOLS)
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
            assert text.count('{"name":' + json.dumps(name) + ',"description"') == 1
        assert text.count("[INST]") == sum(m["role"] == "user" for m in ex["messages"])


def test_exact_masked_and_unmasked_spans_for_every_scenario(tok, examples, mistral):
    for ex in examples:
        enc = template.encode(ex, tok)
        ids, labels = enc["input_ids"], enc["labels"]
        assistants = [m for m in ex["messages"] if m["role"] == "assistant"]
        spans = _spans(labels)
        tag = f"{ex['tags']} {ex['metadata']['id']}"
        assert len(spans) == len(assistants), tag
        # trained tokens: exactly the assistant turns, labels equal to the ids, ending with </s>,
        # each the reference encoding of the text built here without the template
        for (a, b), m in zip(spans, assistants, strict=True):
            assert labels[a:b] == ids[a:b], tag
            assert tok.decode(ids[a:b]) == _expected_assistant(m), tag
            assert ids[a:b] == reference_ids(mistral, _expected_assistant(m)), tag
            assert ids[b - 1] == tok.eos_token_id, tag
        # untrained tokens: system, tools, user turns and tool results, and nothing else
        bounds = [0] + [x for span in spans for x in span]
        untrained = [ids[bounds[2 * k]:bounds[2 * k + 1]] for k in range(len(spans))]
        expected = _expected_prompts(ex)
        assert untrained == [reference_ids(mistral, text) for text in expected], tag
        untrained = [tok.decode(u) for u in untrained]
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


# ----------------------------------------------------------------- one tokenization: training, saved copy, reference


def test_rendered_conversations_encode_to_the_reference_ids(tok, examples, mistral):
    """Every scenario (tool calls, tool results, errors, two turns): the ids training uses are the
    reference ids of the rendered text; `<s>[INST]` and `</s>[INST]` are 1, 733 and 2, 733 (`▁[`)."""
    after_eos = []
    for ex in examples:
        ids = template.encode(ex, tok)["input_ids"]
        assert ids == reference_ids(mistral, template.render(ex, tok)), ex["metadata"]["id"]
        assert ids[:2] == [1, 733]
        after_eos += [ids[i + 1] for i in range(len(ids) - 1) if ids[i] == tok.eos_token_id]
    assert len(after_eos) > len(examples) and set(after_eos) == {733}  # `▁[` of [INST] or [TOOL_RESULTS]


def _plain_chats(examples: list[dict]) -> list[list[dict]]:
    """The generated conversations without tools: system, user turns and the final answers of each turn."""
    chats = []
    for ex in examples:
        msgs = [m for m in ex["messages"] if m["role"] in ("system", "user") or (m["role"] == "assistant" and not m.get("tool_calls"))]
        chats.append(msgs)
    assert any(sum(m["role"] == "user" for m in c) > 1 for c in chats)
    return chats


def test_plain_chats_encode_exactly_as_mistral_common(tok, examples, mistral):
    """Without tools the template is Mistral's own v0.2 format: every prompt (system prompt folded into the
    first [INST], earlier answers closed by </s>) has mistral-common's encode_chat_completion ids."""
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    checked = 0
    for chat in _plain_chats(examples):
        for cut in (k + 1 for k, m in enumerate(chat) if m["role"] == "user"):
            prompt = chat[:cut]
            want = mistral.encode_chat_completion(ChatCompletionRequest(messages=[kinds[m["role"]](content=m["content"]) for m in prompt])).tokens
            ours = list(tok.apply_chat_template(prompt, tools=None, tokenize=True, return_dict=True)["input_ids"])
            assert ours == want
            # the chunk rule the tool conversations are checked with is mistral-common's own
            assert reference_ids(mistral, tok.apply_chat_template(prompt, tools=None, tokenize=False)) == want
            checked += 1
    assert checked > len(examples)


def test_saved_tokenizer_reloads_with_identical_ids(tok, examples, tmp_path):
    """What train.py saves beside the adapter (and eval, the demo and export load) encodes as training did."""
    from transformers import AutoTokenizer

    tok.save_pretrained(str(tmp_path))
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["legacy"] is True
    saved = AutoTokenizer.from_pretrained(str(tmp_path))
    saved.chat_template = template.TEMPLATE
    for ex in examples:
        assert template.encode(ex, saved) == template.encode(ex, tok), ex["metadata"]["id"]
    template.saved_tokenizer_matches(tmp_path, tok)
    # Without `legacy` transformers rebuilds the pre-tokenizer as `first` (28792 after <s>): the check refuses it.
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    del config["legacy"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    assert AutoTokenizer.from_pretrained(str(tmp_path))("<s>[INST]", add_special_tokens=False).input_ids[:2] == [1, 28792]
    with pytest.raises(ui.Fail, match="encodes differently"):
        template.saved_tokenizer_matches(tmp_path, tok)


def test_a_copy_without_legacy_loads_with_the_reference_ids(tok, examples, tmp_path):
    """A tokenizer folder saved before the fix (or a Hub copy) is brought to the reference spacing on load."""
    tok.save_pretrained(str(tmp_path))
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    del config["legacy"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    loaded = template.load_tokenizer.__wrapped__(str(tmp_path))
    assert template.encode(examples[0], loaded) == template.encode(examples[0], tok)


def test_first_conversion_writes_a_cache_that_reloads_identically(tok, examples, tmp_path, monkeypatch):
    monkeypatch.setattr(template, "TOKENIZER_CACHE", tmp_path / "mistral-v0.2-tokenizer")
    fresh = template.load_tokenizer.__wrapped__(None)
    assert json.loads((tmp_path / "mistral-v0.2-tokenizer" / "tokenizer_config.json").read_text())["legacy"] is True
    assert template.encode(examples[1], fresh) == template.encode(examples[1], tok)


def test_text_beside_tool_calls_is_rendered_before_the_tag_and_trained(tok, examples):
    """' Let me check that for you. [TOOL_CALLS] [...]</s>' is one assistant span: text and call carry the loss."""
    with_text = [ex for ex in examples if ex["metadata"]["id"].endswith("-text-before-call")]
    assert len(with_text) >= 3 and len({ex["tags"]["scenario"] for ex in with_text}) >= 2
    for ex in with_text:
        text = template.render(ex, tok)
        calls = sum(1 for m in ex["messages"] if m.get("tool_calls"))
        assert text.count(" " + TEXT_BEFORE_CALL + " [TOOL_CALLS] [") == calls
        enc = template.encode(ex, tok)
        trained = tok.decode([t for t in enc["labels"] if t != -100])
        assert trained.count(TEXT_BEFORE_CALL + " [TOOL_CALLS] [") == calls


# ----------------------------------------------------------------- the tools block: the contract, in few tokens


def test_tools_keep_the_contract():
    """configs/tools.json is what the model reads and what a deployment sends: the three tools, their
    parameters and types, days 1-14, and the limits the validator checks arguments against."""
    params = {name: f["parameters"] for name, f in template.TOOLS_BY_NAME.items()}
    assert list(params) == ["get_current_weather", "get_forecast", "geocode_location"]
    types = {name: {k: v["type"] for k, v in p["properties"].items()} for name, p in params.items()}
    assert types == {"get_current_weather": {"latitude": "number", "longitude": "number"},
                     "get_forecast": {"latitude": "number", "longitude": "number", "days": "integer"},
                     "geocode_location": {"city": "string", "country": "string"}}
    assert [p["required"] for p in params.values()] == [["latitude", "longitude"], ["latitude", "longitude", "days"], ["city"]]
    days = params["get_forecast"]["properties"]["days"]
    assert (days["minimum"], days["maximum"]) == (1, 14)
    assert all(p["type"] == "object" and p["additionalProperties"] is False for p in params.values())
    assert all(f["description"] for f in template.TOOLS_BY_NAME.values())


def test_tools_block_stays_small(tok):
    """The tools block opens every conversation: 446 tokens before it was tightened (issue 13), 292 now."""
    probe = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    n = lambda tools: len(tok.apply_chat_template(probe, tools=tools, tokenize=True, return_dict=True)["input_ids"])  # noqa: E731
    block = n(template.TOOLS) - n(None)
    assert block <= 300, f"the tools block is {block} tokens; every conversation pays them"
    text = template.render({"messages": probe}, tok)
    assert '"parameters":{"type":"object","properties":{"latitude":{"type":"number"' in text  # compact JSON
