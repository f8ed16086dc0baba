"""The merged GGUF export (`make export MERGED=1`, tasks.serve.gguf_merged) of a trained SmolLM2 adapter, for real:
llama.cpp's converter and quantizer as llama-cpp-python 0.3.36 ships them (`make check` builds it once and unpacks
its llama.cpp tree, WEATHERMAN_LLAMA_CPP).

The f32 merged file must give PEFT's logits within the LoRA test's tolerance (tests/serve/test_llama_cpp.py), and
the Q8_0 file the same greedy tool calls (names and argument keys) on held-out validation prompts. The Q4_K_M file
must keep the first-token logits close (correlation over the vocabulary, and f32's choice among its top three) but
not every greedy choice: the 40-step demo adapter on 135M weights leads "[" over "<|im_end|>" by about half a
logit, and SmolLM2's 576-wide rows are not a multiple of 256, so llama.cpp stores most of its Q4_K_M matrices as
q5_0 (it says so while quantizing), which moves logits by up to 2.2 here (measured: correlation 0.989-0.990 against
f32, and one of three first moves flipped to end-of-turn; Q8_0: 0.9993, max 0.65, all three the same). Mistral 7B's
4096-wide rows take q4_K and q6_K as intended.
"""

import json
import os
import subprocess
import sys

import pytest

from tasks import ui
from tasks.serve import evaluate as ev
from tasks.serve import gguf_merged
from tasks.train import template
from tests.helpers_smol import SMOL_CONFIG, VALIDATION
from tests.serve.test_llama_cpp import _llama_greedy, _peft_greedy, assert_llama_matches_peft, load_without_repack

PROMPTS = 3


def _export(adapter, out, *extra, env=None):
    return subprocess.run([sys.executable, "-m", "tasks.serve.export", "--config", str(SMOL_CONFIG), "--adapter", str(adapter),
                           "--out", str(out), "--set", f"data.validation={VALIDATION}", *extra],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "NO_COLOR": "1", **(env or {})})


@pytest.fixture(scope="module")
def trained(smol_demo):
    adapter, proc = smol_demo
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return adapter


@pytest.fixture(scope="module")
def merged(trained, tmp_path_factory):
    """(folder holding export/ and export-merged/, finished export process) of one merged export: Q4_K_M, Q8_0, F32."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make check builds it once: .venv/.llama-cpp)")
    try:
        gguf_merged.converter()
    except ui.Fail as exc:
        pytest.skip(str(exc))
    tmp = tmp_path_factory.mktemp("merged")
    r = _export(trained, tmp / "export", "--merged", "Q4_K_M,Q8_0,F32")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return tmp, r


@pytest.fixture(scope="module")
def peft_model(trained):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tasks.train import smol

    base = smol.build()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(trained)).eval()
    return model, template.load_tokenizer(str(base))


def _prompts(tok, n: int = PROMPTS) -> list[list[int]]:
    """First-turn prompts of held-out validation conversations whose first move is a tool call."""
    out = []
    with open(VALIDATION, encoding="utf-8") as fh:
        for line in fh:
            example = json.loads(line)
            index, expected = ev.cases_of(example)[0]
            if expected:
                messages, tools = template.prompt_before(example, index)
                out.append(list(tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True)["input_ids"]))
            if len(out) == n:
                break
    return out


def _block(text: str, start: str) -> str:
    return text[text.index(start):text.index('"""', text.index(start) + len(start)) + 3]


def test_merged_export_writes_one_checked_file_per_type_and_a_modelfile_without_adapter(merged):
    import gguf

    tmp, r = merged
    folder = tmp / "export-merged"
    assert sorted(p.name for p in folder.iterdir()) == ["Modelfile", "chat_template.jinja", "tools.json",
                                                        "weatherman-F32.gguf", "weatherman-Q4_K_M.gguf", "weatherman-Q8_0.gguf"]
    # Sizes and the disk needed are printed before the merge starts.
    assert r.stdout.index("needs about") < r.stdout.index("Merging the adapter")
    for name, file_type in (("weatherman-F32.gguf", 0), ("weatherman-Q4_K_M.gguf", 15), ("weatherman-Q8_0.gguf", 7)):
        reader = gguf.GGUFReader(str(folder / name))
        assert reader.fields["general.file_type"].contents() == file_type
        assert len(reader.tensors) == 272  # SmolLM2: 30 layers x 9 + embeddings + final norm (the head is tied)
        assert "[TOOL_CALLS]" in reader.fields["tokenizer.chat_template"].contents()  # the training template rides along
    lora_text = (tmp / "export" / "Modelfile").read_text(encoding="utf-8")
    text = (folder / "Modelfile").read_text(encoding="utf-8")
    assert "ADAPTER" not in [line.split(" ")[0] for line in text.splitlines()]
    assert "FROM ./weatherman-Q4_K_M.gguf" in text.splitlines()
    assert _block(text, 'TEMPLATE """') == _block(lora_text, 'TEMPLATE """')
    assert _block(text, 'SYSTEM """') == _block(lora_text, 'SYSTEM """')
    keep = ("PARAMETER", "REQUIRES")
    assert [x for x in text.splitlines() if x.startswith(keep)] == [x for x in lora_text.splitlines() if x.startswith(keep)]
    assert (folder / "tools.json").read_bytes() == (tmp / "export" / "tools.json").read_bytes()
    assert sorted(p.name for p in tmp.iterdir()) == ["export", "export-merged"]  # no staging folder left behind


def test_merged_f32_gguf_reproduces_peft_logits(merged, peft_model):
    from llama_cpp import Llama

    tmp, _ = merged
    model, tok = peft_model
    llm = Llama(model_path=str(tmp / "export-merged" / "weatherman-F32.gguf"), logits_all=True, n_ctx=2048, verbose=False,
                type_k=0, type_v=0)
    # The merged weights carry the adapter: the base alone is far outside the tolerance.
    assert_llama_matches_peft(llm, model, _prompts(tok, 2))


def test_merged_q8_0_gguf_makes_the_same_greedy_tool_calls(merged, peft_model):
    import llama_cpp
    from llama_cpp import Llama

    load_without_repack(llama_cpp)
    tmp, _ = merged
    model, tok = peft_model
    eos = tok.eos_token_id
    q8 = Llama(model_path=str(tmp / "export-merged" / "weatherman-Q8_0.gguf"), logits_all=True, n_ctx=2048, verbose=False)
    prompts = _prompts(tok)
    assert len(prompts) == PROMPTS
    for ids in prompts:
        parsed = ev.parse_output(tok.decode(_peft_greedy(model, ids, eos)))
        assert parsed["valid"]  # the trained adapter's first move here is a tool call
        quantized = ev.parse_output(tok.decode(_llama_greedy(q8, ids, eos)))
        assert quantized["valid"], quantized
        assert [(c["name"], sorted(c["arguments"])) for c in quantized["calls"]] == [(c["name"], sorted(c["arguments"])) for c in parsed["calls"]]


def test_merged_q4_k_m_gguf_keeps_the_first_token_logits_close(merged, peft_model):
    import llama_cpp
    import numpy as np
    from llama_cpp import Llama

    load_without_repack(llama_cpp)
    tmp, _ = merged
    _, tok = peft_model
    folder = tmp / "export-merged"
    files = {name: Llama(model_path=str(folder / f"weatherman-{name}.gguf"), logits_all=True, n_ctx=2048, verbose=False)
             for name in ("F32", "Q4_K_M")}
    for ids in _prompts(tok):
        first = {}
        for name, llm in files.items():
            llm.reset()
            llm.eval(ids)
            first[name] = np.array(llm.scores[len(ids) - 1])
        exact, q4 = first["F32"], first["Q4_K_M"]
        # A broken quantizer (wrong block layout, a tensor left out, the wrong tied head) gives unrelated logits.
        assert np.corrcoef(exact, q4)[0, 1] > 0.97
        assert int(np.argmax(exact)) in np.argsort(-q4)[:3].tolist()
