"""The exported GGUF LoRA of a trained SmolLM2 adapter in a real llama.cpp (llama-cpp-python 0.3.36, built
from source once by `make check`): same logits and the same greedy tool call as PEFT.

Which base: PEFT runs the fp32 weights that transformers de-quantized from the shipped Q4_1 GGUF, and
llama.cpp runs a Q4_1 matrix product with activations quantized to 8 bits, so the shipped file cannot
match an fp32 forward pass to a tight tolerance. The logit check therefore gives llama.cpp the same fp32
weights (`smol.f32_gguf`: the shipped file with every tensor de-quantized, nothing else changed); the
shipped Q4_1 file (what a user would run) must still produce the same tool call, name and arguments.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tasks.serve import evaluate as ev
from tasks.train import template
from tests.helpers_smol import SMOL_CONFIG, VALIDATION

# Relative to the largest |logit|: with llama.cpp's default f16 KV cache, 1.4e-3 without and 2.0e-3 with a
# random LoRA on a 120-token prompt, and 5.3e-3 with the trained demo adapter on a 361-token prompt; the
# logit check therefore runs with an f32 KV cache (type_k/type_v = 0), leaving summation order (on the tiny
# model: 4.8e-7). A wrong q/k permutation or scaling moves logits by the adapter's own effect, about 9e-2.
LOGIT_TOLERANCE = 5e-3
PROMPTS = 2
MAX_NEW_TOKENS = 56


def load_without_repack(llama_cpp) -> None:
    """On CPUs with AMX (Sapphire Rapids and later) llama.cpp 0.3.36 repacks quantized weights into AMX buffers, which
    a LoRA cannot use ("cannot use buft 'AMX', fallback to CPU"); decoding the Q4_1 base with the LoRA, or the merged
    Q4_K_M file, then segfaults here. Loading without extra buffer types (llama.cpp's --no-repack) keeps the plain CPU
    kernels, for every model loaded after this call."""
    default_params = llama_cpp.llama_cpp.llama_model_default_params
    if getattr(default_params, "without_repack", False):
        return

    def params_without_repack():
        params = default_params()
        params.use_extra_bufts = False
        return params

    params_without_repack.without_repack = True
    llama_cpp.llama_cpp.llama_model_default_params = params_without_repack


@pytest.fixture(scope="module")
def llama(smol_demo, tmp_path_factory):
    """(Llama class, PEFT model, tokenizer, exported GGUF LoRA, f32 base GGUF, shipped Q4_1 GGUF)."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make check builds it once: .venv/.llama-cpp)")
    load_without_repack(llama_cpp)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tasks.train import smol

    adapter, proc = smol_demo
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    tmp = tmp_path_factory.mktemp("llama")
    r = subprocess.run([sys.executable, "-m", "tasks.serve.export", "--config", str(SMOL_CONFIG), "--adapter", str(adapter),
                        "--out", str(tmp / "export"), "--set", f"data.validation={VALIDATION}"],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "belongs to SmolLM2-135M-Instruct" in r.stdout  # the export says which base the GGUF LoRA belongs to
    base = smol.build()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(adapter)).eval()
    tok = template.load_tokenizer(str(base))
    return llama_cpp.Llama, model, tok, tmp / "export" / "weatherman-lora.gguf", smol.f32_gguf(tmp / "base-f32.gguf"), smol.gguf_path()


def _prompts(tok) -> list[list[int]]:
    """Token ids of the first-turn prompts of the first validation conversations that expect a tool call."""
    out = []
    with open(VALIDATION, encoding="utf-8") as fh:
        for line in fh:
            example = json.loads(line)
            index, expected = ev.cases_of(example)[0]
            if expected:
                messages, tools = template.prompt_before(example, index)
                out.append(list(tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True)["input_ids"]))
            if len(out) == PROMPTS:
                return out
    return out


def _llama_greedy(llm, ids: list[int], eos: int) -> list[int]:
    """Greedy decoding on llama.cpp's own logits (argmax, no sampler settings involved)."""
    llm.reset()
    llm.eval(ids)
    new = []
    for _ in range(MAX_NEW_TOKENS):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        if nxt == eos:
            break
        new.append(nxt)
        llm.eval([nxt])
    return new


def _peft_greedy(model, ids: list[int], eos: int) -> list[int]:
    import torch

    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=MAX_NEW_TOKENS, do_sample=False, eos_token_id=eos, pad_token_id=eos)
    new = out[0, len(ids):].tolist()
    return new[: new.index(eos)] if eos in new else new


def test_llama_cpp_reproduces_peft_logits_with_the_exported_lora(llama):

    Llama, model, tok, lora, base_f32, _ = llama
    llm = Llama(model_path=str(base_f32), lora_path=str(lora), logits_all=True, n_ctx=2048, verbose=False, type_k=0, type_v=0)
    assert_llama_matches_peft(llm, model, _prompts(tok))


def assert_llama_matches_peft(llm, model, prompts) -> None:
    """llama.cpp's logits equal PEFT's (base + adapter) within LOGIT_TOLERANCE on each prompt, and the base alone
    is far outside it: the check can tell an adapter that is not applied."""
    import torch

    for ids in prompts:
        with torch.no_grad():
            want = model(torch.tensor([ids])).logits[0].numpy()
            with model.disable_adapter():
                without = model(torch.tensor([ids])).logits[0].numpy()
        llm.reset()
        llm.eval(ids)
        got = np.array(llm.scores[: len(ids)])
        scale = np.abs(want).max()
        assert np.abs(got - want).max() / scale < LOGIT_TOLERANCE
        assert (got.argmax(-1) == want.argmax(-1)).mean() >= 0.995
        assert np.abs(without - want).max() / scale > 10 * LOGIT_TOLERANCE


def test_llama_cpp_makes_the_same_greedy_tool_call(llama):
    Llama, model, tok, lora, base_f32, shipped = llama
    eos = tok.eos_token_id
    f32 = Llama(model_path=str(base_f32), lora_path=str(lora), logits_all=True, n_ctx=2048, verbose=False)
    q4 = Llama(model_path=str(shipped), lora_path=str(lora), logits_all=True, n_ctx=2048, verbose=False)
    for ids in _prompts(tok):
        want = _peft_greedy(model, ids, eos)
        parsed = ev.parse_output(tok.decode(want))
        assert parsed["valid"], tok.decode(want)  # the trained adapter's first move here is a tool call
        assert _llama_greedy(f32, ids, eos) == want  # token for token on the same fp32 weights
        # On the shipped Q4_1 base the call id (random characters in training) may differ, and so may the spelling
        # of an argument: on a user's "dar es salam" the Q4_1 base wrote "Dar es Salaam" where the fp32 weights copy
        # the user's words, as trained. The tool and the arguments it fills may not differ.
        quantized = ev.parse_output(tok.decode(_llama_greedy(q4, ids, eos)))["calls"]
        assert [(c["name"], sorted(c["arguments"])) for c in quantized] == [(c["name"], sorted(c["arguments"])) for c in parsed["calls"]]
