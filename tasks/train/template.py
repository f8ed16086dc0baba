"""The project's tools, chat template and tokenizer: how a conversation becomes tokens.

    python -m tasks.train.template --data data/processed/train.jsonl --line 1   # show one rendered line with its loss mask

One place that the generator, the validator, training, evaluation and export all
read: `TOOLS` (configs/tools.json), `TEMPLATE` (configs/chat_template.jinja),
`load_tokenizer()` and `encode()`. The tokenizer for the tiny CPU model and the
tests is the real Mistral v0.2 one (`tokenizer.model.v1`, 32,000 pieces) that the
mistral-common package ships; it is converted once and cached under models/. Every
tokenizer loaded here encodes as Mistral's reference and llama.cpp do (`reference_spacing`),
and so does the copy saved with it.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from tasks import ui

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PATH = ROOT / "configs" / "tools.json"
TEMPLATE_PATH = ROOT / "configs" / "chat_template.jinja"
TOKENIZER_CACHE = ROOT / "models" / "mistral-v0.2-tokenizer"

TOOLS: list[dict] = json.loads(TOOLS_PATH.read_text(encoding="utf-8"))
TOOLS_BY_NAME: dict[str, dict] = {t["function"]["name"]: t["function"] for t in TOOLS}
TEMPLATE: str = TEMPLATE_PATH.read_text(encoding="utf-8")


def _mistral_common_tokenizer_file() -> Path:
    import mistral_common

    path = Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1"
    if not path.is_file():
        raise ui.Fail(f"{path}: Mistral v0.2 tokenizer not found in mistral-common (reinstall: pip install mistral-common)")
    return path


@lru_cache(maxsize=None)
def load_tokenizer(source: str | None = None):
    """The tokenizer with the project's chat template set.

    `source` is a Hub id or folder holding a tokenizer (the real base model);
    None means the Mistral v0.2 tokenizer shipped by mistral-common, converted
    once into models/mistral-v0.2-tokenizer (transformers 5 builds an empty
    tokenizer from `vocab_file=`, so the file is copied as tokenizer.model).
    """
    from transformers import AutoTokenizer, LlamaTokenizer

    if source is None:
        if not (TOKENIZER_CACHE / "tokenizer.json").is_file():
            # A private staging folder renamed into place: concurrent first uses
            # (parallel tests, two tasks) never see a half-written cache.
            TOKENIZER_CACHE.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=TOKENIZER_CACHE.name + ".", dir=TOKENIZER_CACHE.parent))
            try:
                shutil.copyfile(_mistral_common_tokenizer_file(), staging / "tokenizer.model")
                tok = LlamaTokenizer.from_pretrained(str(staging))
                if len(tok) != 32000 or tok("What's", add_special_tokens=False).input_ids != [1824, 28742, 28713]:
                    raise ui.Fail(f"{staging}: the Mistral v0.2 tokenizer converted wrongly (got {len(tok)} pieces); reinstall protobuf and sentencepiece")
                reference_spacing(tok)
                tok.save_pretrained(str(staging))
                try:
                    staging.rename(TOKENIZER_CACHE)
                except OSError:
                    if not (TOKENIZER_CACHE / "tokenizer.json").is_file():
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        tok = AutoTokenizer.from_pretrained(str(TOKENIZER_CACHE))
    else:
        tok = AutoTokenizer.from_pretrained(source)
    reference_spacing(tok)
    tok.chat_template = TEMPLATE
    if tok.pad_token is None:
        # Mistral has no pad token; padding (when any) is masked out of the loss anyway.
        tok.pad_token = tok.unk_token
    return tok


def reference_spacing(tok) -> None:
    """Encode as Mistral's reference does: every text run after a control token starts with `▁`.

    mistral-common's `MistralTokenizer.v1()` encodes each piece of text with SentencePiece's dummy
    prefix, and llama.cpp (Ollama) prefixes a space to the text after any special token, so
    `<s>[INST]` is 1, 733 (`▁[`) there. transformers 5.24's LlamaTokenizer builds its Metaspace
    pre-tokenizer from `legacy` (False by default: `prepend_scheme="first"`, 28792 `[`), whatever
    tokenizer.json says, and save_pretrained does not write `legacy` back, so a saved copy could
    tokenize differently from the loaded one. Setting the scheme and recording `legacy` makes the
    training tokenizer and every saved copy (adapter, tiny model) encode like the reference.
    Tokenizers without a Metaspace pre-tokenizer (byte-level BPE) have no dummy prefix: unchanged.
    """
    from tokenizers import pre_tokenizers

    pre = tok.backend_tokenizer.pre_tokenizer
    if not isinstance(pre, pre_tokenizers.Metaspace):
        return
    if pre.prepend_scheme != "always":
        tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=pre.replacement, prepend_scheme="always", split=pre.split)
    tok.legacy = True
    tok.init_kwargs["legacy"] = True  # what save_pretrained writes to tokenizer_config.json


def saved_tokenizer_matches(folder: Path, tok) -> None:
    """Reload the tokenizer saved in `folder` and check it encodes a conversation exactly as `tok` does."""
    from transformers import AutoTokenizer

    probe = {"messages": [{"role": "system", "content": "Probe."}, {"role": "user", "content": "Rain in Oslo?"},
                          {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
                              "name": "geocode_location", "arguments": {"city": "Oslo"}}}]},
                          {"role": "tool", "tool_call_id": "call_1", "content": '{"latitude": 59.91}'},
                          {"role": "assistant", "content": "Dry."}, {"role": "user", "content": "Thanks"},
                          {"role": "assistant", "content": "Bye."}]}
    saved = AutoTokenizer.from_pretrained(str(folder))
    saved.chat_template = TEMPLATE
    want, got = encode(probe, tok)["input_ids"], encode(probe, saved)["input_ids"]
    if got != want:
        at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        raise ui.Fail(f"{folder}: the saved tokenizer encodes differently from the one training used (first difference at token {at}: "
                      f"{got[at:at + 3]} vs {want[at:at + 3]}); tokenizer_config.json lacks `legacy: true`?")


def normalize(example: dict) -> tuple[list[dict], list[dict]]:
    """(messages, tools) ready for the template: string arguments parsed to objects.

    OpenAI sends tool-call arguments as JSON strings; the template renders them
    as JSON objects so the model never learns double-encoded arguments.
    """
    messages = copy.deepcopy(example["messages"])
    for m in messages:
        for tc in m.get("tool_calls") or []:
            args = tc["function"].get("arguments")
            if isinstance(args, str):
                tc["function"]["arguments"] = json.loads(args) if args.strip() else {}
        if m.get("content") is None:
            m["content"] = ""
    return messages, example.get("tools") or TOOLS


def render(example: dict, tokenizer) -> str:
    """The conversation as the text the model sees."""
    messages, tools = normalize(example)
    return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)


def encode(example: dict, tokenizer, max_length: int | None = None) -> dict:
    """input_ids and labels; labels are -100 everywhere but assistant spans.

    Truncation keeps the start (system prompt, tools and first turns) and cuts
    the end, so a truncated line still trains on its early answers.
    """
    messages, tools = normalize(example)
    out = tokenizer.apply_chat_template(
        messages, tools=tools, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = list(out["input_ids"])
    mask = list(out["assistant_masks"])
    labels = [t if m else -100 for t, m in zip(ids, mask, strict=True)]
    if max_length is not None and len(ids) > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "labels": labels}


def prompt_before(example: dict, assistant_index: int) -> tuple[list[dict], list[dict]]:
    """Messages up to (not including) message `assistant_index`: the prompt an
    evaluation gives the model when it should produce that assistant turn."""
    messages, tools = normalize(example)
    return messages[:assistant_index], tools


def run(data: str, line: int) -> None:
    tok = load_tokenizer()
    with open(data, encoding="utf-8") as fh:
        for i, raw in enumerate(fh, start=1):
            if i == line:
                example = json.loads(raw)
                break
        else:
            raise ui.Fail(f"{data}: has no line {line}")
    enc = encode(example, tok)
    print(render(example, tok))
    trained = sum(1 for x in enc["labels"] if x != -100)
    ui.success(f"{data}:{line}: {len(enc['input_ids'])} tokens, {trained} carry the loss")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/processed/train.jsonl")
    parser.add_argument("--line", type=int, default=1)
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.data, args.line)


if __name__ == "__main__":
    raise SystemExit(main())
