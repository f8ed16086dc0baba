"""make export: the GGUF LoRA read back equals the PEFT weights; the Modelfile's TEMPLATE, run by Go's
text/template as Ollama runs it, renders exactly what the training template renders."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tasks.train import template

from tasks.serve import export
from tests.helpers_after_training import CPU_CONFIG, ROOT, conversations, make_adapter, write_jsonl

GO_RENDER = ROOT / "tests" / "go_render" / "main.go"
NEUTRAL_PROMPT = "You are a plain, accurate weather forecaster. Use the weather tools for facts."


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    return make_adapter(tmp_path_factory.mktemp("adapter") / "weatherman-lora-test")


@pytest.fixture(scope="module")
def exported(adapter, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("export")
    val = write_jsonl(tmp / "val.jsonl", conversations())
    out = tmp / "out"
    # The export must not take its default persona from the config's validation file: point it at samples with another.
    r = subprocess.run([sys.executable, "-m", "tasks.serve.export", "--config", str(CPU_CONFIG), "--adapter", str(adapter), "--out", str(out),
                        "--set", f"data.validation={val}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, "NO_COLOR": "1", "HF_HUB_OFFLINE": "1"})
    return out, r


def test_export_folder_has_every_file(exported):
    out, r = exported
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["Modelfile", "adapter_config.json", "adapter_model.safetensors", "chat_template.jinja", "tools.json", "weatherman-lora.gguf"]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["gguf_tensors"] == 2 * 7 * 2  # A and B, seven projections, two layers
    assert json.loads((out / "tools.json").read_text()) == template.TOOLS
    # the trained key order too: a client that renders the request's tools with the Jinja template sees the trained block
    assert (out / "tools.json").read_bytes() == template.TOOLS_PATH.read_bytes()


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp's q/k row order: per head, the two rotary halves interleaved.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def test_gguf_read_back_equals_peft_weights(exported, adapter):
    import gguf
    from safetensors.numpy import load_file

    out, _ = exported
    reader = gguf.GGUFReader(str(out / "weatherman-lora.gguf"))
    fields = {f.name: f.contents() for f in reader.fields.values()}
    assert fields["general.architecture"] == "llama"
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == 16.0
    got = {t.name: np.asarray(t.data).reshape([int(d) for d in reversed(t.shape)]) for t in reader.tensors}
    peft = load_file(str(adapter / "adapter_model.safetensors"))
    gguf_proj = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
                 "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
    base = json.loads((ROOT / "models" / "tiny-mistral" / "config.json").read_text())
    assert len(got) == len(peft) == 28
    for name, w in peft.items():
        layer = int(name.split(".layers.")[1].split(".")[0])
        proj = name.split(".lora_")[0].rsplit(".", 1)[1]
        ab = name.split(".lora_")[1][0].lower()
        g = got[f"blk.{layer}.{gguf_proj[proj]}.weight.lora_{ab}"]
        if ab == "b" and proj == "q_proj":
            w = _permute(w, base["num_attention_heads"])
        elif ab == "b" and proj == "k_proj":
            w = _permute(w, base["num_key_value_heads"])
        assert g.dtype == np.float32 and g.shape == w.shape
        assert np.array_equal(g, w), name
    # The B matrices are random: a zero adapter would pass every comparison above trivially.
    assert all(np.abs(v).max() > 0 for k, v in got.items() if k.endswith("lora_b"))


def test_gguf_matches_llama_cpp_reference_converter_when_available(adapter, tmp_path):
    """Run llama.cpp's own convert_lora_to_gguf.py (set WEATHERMAN_LLAMA_CPP to a llama.cpp tree) and compare tensors."""
    tree = os.environ.get("WEATHERMAN_LLAMA_CPP")
    if not tree or not (Path(tree) / "convert_lora_to_gguf.py").is_file():
        pytest.skip("WEATHERMAN_LLAMA_CPP does not point at a llama.cpp checkout (e.g. llama-cpp-python's sdist vendor/llama.cpp)")
    from tasks.serve import gguf_lora

    ref = tmp_path / "ref.gguf"
    r = subprocess.run([sys.executable, "convert_lora_to_gguf.py", str(adapter), "--base", str(ROOT / "models" / "tiny-mistral"),
                        "--outfile", str(ref), "--outtype", "f32"], cwd=tree, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ours = tmp_path / "ours.gguf"
    gguf_lora.write(adapter, ours, json.loads((ROOT / "models" / "tiny-mistral" / "config.json").read_text()))
    (m1, t1), (m2, t2) = gguf_lora.read(ours), gguf_lora.read(ref)
    assert set(t1) == set(t2) and all(np.array_equal(t1[k], t2[k]) for k in t1)
    for key in ("general.architecture", "general.type", "adapter.type", "adapter.lora.alpha"):
        assert m1[key] == m2[key]


# ----------------------------------------------------------------- Modelfile


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """Ollama's parser/parser.go ParseFile, ported: (command, value) pairs, values unquoted, no escapes."""
    commands, buf, state, name = [], "", "nil", ""

    def unquote(s):
        if s.startswith('"""'):
            return (s[3:-3], True) if len(s) >= 6 and s.endswith('"""') else ("", False)
        if s.startswith('"'):
            return (s[1:-1], True) if len(s) >= 2 and s.endswith('"') else ("", False)
        return s, True

    for ch in text + "\n":
        if state == "nil":
            if ch == "#":
                state = "comment"
            elif ch not in " \t\r\n":
                state, buf = "name", ch
        elif state == "comment":
            state = "nil" if ch in "\r\n" else "comment"
        elif state == "name":
            if ch.isalpha():
                buf += ch
            elif ch in " \t":
                name, buf = buf.lower(), ""
                state = "param" if name == "parameter" else "value"
            else:
                raise ValueError(f"invalid command {buf!r}")
        elif state == "param":
            if ch.isalnum() or ch == "_":
                buf += ch
            elif ch in " \t":
                name, buf, state = buf, "", "value"
            else:
                raise ValueError("bad parameter")
        elif state == "value":
            if ch in " \t\r\n":
                value, ok = unquote(buf.strip())
                if not ok or ch in " \t":
                    buf += ch
                    continue
                commands.append((name, value))
                buf, state = "", "nil"
            else:
                buf += ch
    assert state in ("nil", "comment"), f"unterminated value in state {state}"
    return commands


def test_modelfile_parses_as_ollama_does(exported):
    out, _ = exported
    commands = parse_modelfile((out / "Modelfile").read_text())
    names = [c for c, _ in commands]
    assert names[:4] == ["requires", "from", "adapter", "template"]
    values = dict(commands)
    # Tool-call ids exist from Ollama 0.12.10, the REQUIRES command from 0.14.0 (a semver, as its parser demands).
    assert values["requires"] == export.MIN_OLLAMA == "0.14.0"
    # The v0.2 base the adapter was trained on; plain `mistral` is v0.3.
    assert values["from"].startswith("mistral:7b-instruct-v0.2")
    assert values["adapter"] == "./weatherman-lora.gguf"
    assert values["template"] == export.go_template(template.TOOLS)
    # The neutral persona as training wrote it, with no fixed date, and not read from the data (the fixture's
    # validation file holds another prompt).
    from tasks.data.personas import system_prompt

    assert values["system"] == system_prompt("neutral") != NEUTRAL_PROMPT and "Today is" not in values["system"]
    from tasks.config import load_config

    # A fixed context, not the exporting machine's: the CPU config trains at 2,048 tokens, the Modelfile says 8,192.
    assert load_config(template.ROOT / "configs/training_config_cpu.yaml")["data"]["max_seq_length"] == 2048
    assert values["num_ctx"] == "8192"
    # Stops and sampling written out (PARAMETER stop repeats; the parser strips the quotes).
    assert [v for c, v in commands if c == "stop"] == ["</s>", "[INST]", "[/INST]", "[TOOL_RESULTS]"]
    assert (values["repeat_penalty"], values["temperature"]) == ("1.0", "0.2")


def test_num_ctx_holds_the_longest_validation_conversation_and_a_reply():
    path = ROOT / "data" / "synthetic" / "final_validation.jsonl"
    if not path.is_file():
        pytest.skip(f"{path.relative_to(ROOT)} not generated yet (make data)")
    tok = template.load_tokenizer()
    with open(path, encoding="utf-8") as fh:
        longest = max(len(template.encode(json.loads(line), tok)["input_ids"]) for line in fh)
    assert longest > 1000
    assert longest + 1024 <= export.NUM_CTX, f"the longest validation conversation is {longest} tokens; raise NUM_CTX"


def test_tool_call_prefix_is_what_ollama_parses():
    # Ollama's tools parser takes the first text inside `if .ToolCalls`, cut at "{", trimmed.
    go_tmpl = export.go_template(template.TOOLS)
    after = go_tmpl.split("{{- if .ToolCalls }}", 1)[1]
    assert after.split("{{", 1)[0].split("{", 1)[0].strip() == "[TOOL_CALLS] ["
    assert go_tmpl.count(".ToolCalls") == 2 and go_tmpl.index("if .ToolCalls") < go_tmpl.index("range $j, $c := .ToolCalls")
    assert "$.Tools" in go_tmpl  # Ollama only accepts tool requests for templates that mention .Tools


# ----------------------------------------------------------------- Go's text/template against the Jinja template


@pytest.fixture(scope="module")
def go_render(tmp_path_factory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed (Debian: apt-get install golang-go); CI installs it in .ci/run")
    tmp = tmp_path_factory.mktemp("go")
    binary = tmp / "go_render"
    env = {**os.environ, "GOCACHE": str(tmp / "cache"), "GOPATH": str(tmp / "gopath"), "GOFLAGS": "", "GO111MODULE": "auto"}
    r = subprocess.run([go, "build", "-o", str(binary), str(GO_RENDER)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    return binary


def _go_run(binary: Path, template: str, messages: list[dict], tools: list[dict], **options) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary)], input=json.dumps({"template": template, "messages": messages, "tools": tools, **options}),
                          capture_output=True, text=True, timeout=30)


def _go(binary: Path, template: str, messages: list[dict], tools: list[dict], **options) -> str:
    r = _go_run(binary, template, messages, tools, **options)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _prompts(example: dict):
    """The whole conversation and every prompt cut before an assistant turn: what Ollama renders at inference."""
    messages = example["messages"]
    cuts = [i for i, m in enumerate(messages) if m["role"] == "assistant"] + [len(messages)]
    for cut in cuts:
        yield {**example, "messages": messages[:cut]}


def _compare(binary: Path, examples: list[dict]) -> int:
    tok = template.load_tokenizer()
    go_tmpl = export.go_template(template.TOOLS)
    n = 0
    for example in examples:
        for prompt in _prompts(example):
            want = template.render(prompt, tok)
            assert want.startswith("<s>")  # Ollama adds BOS itself
            got = _go(binary, go_tmpl, prompt["messages"], prompt.get("tools") or template.TOOLS)
            assert got == want[len("<s>"):], f"first difference at {next((i for i, (a, b) in enumerate(zip(got, want[3:], strict=False)) if a != b), min(len(got), len(want) - 3))}"
            n += 1
    return n


def test_go_template_renders_exactly_like_the_training_template(go_render):
    # 7 conversations: current weather via geocoding, forecast, two turns, tool error, no tool,
    # two calls in one turn, quotes and non-ASCII; every prompt cut before an assistant turn too.
    assert _compare(go_render, conversations()) == 23


def test_go_template_on_the_generated_validation_data(go_render):
    path = ROOT / "data" / "synthetic" / "final_validation.jsonl"
    if not path.is_file():
        pytest.skip(f"{path.relative_to(ROOT)} not generated yet (make data)")
    with open(path, encoding="utf-8") as fh:
        examples = [json.loads(line) for _, line in zip(range(60), fh, strict=False)]
    assert _compare(go_render, examples) >= 60


def _text_before_calls(examples: list[dict]) -> list[dict]:
    """The same conversations as bring-your-own OpenAI data writes them: text beside every tool call."""
    out = []
    for example in examples:
        if any(m.get("tool_calls") for m in example["messages"]):
            example = json.loads(json.dumps(example))
            for m in example["messages"]:
                if m.get("tool_calls"):
                    m["content"] = "Let me check that for you."
            out.append(example)
    return out


def test_text_beside_tool_calls_renders_before_the_tag_in_go_and_jinja(go_render):
    examples = _text_before_calls(conversations())
    assert len(examples) == 6
    tok = template.load_tokenizer()
    for example in examples:
        assert " Let me check that for you. [TOOL_CALLS] [" in template.render(example, tok)
    assert _compare(go_render, examples) == 23 - 2  # every prompt but those of the conversation without a tool


def test_ollama_finds_the_tool_call_tag_after_the_text(go_render):
    """Ollama's parser returns what precedes the tag as content: the tag must stay `[TOOL_CALLS] [`, after any text."""
    assert _go(go_render, export.go_template(template.TOOLS), [], [], tag=True) == "[TOOL_CALLS] ["


def test_ollama_before_0_12_10_fails_at_the_second_step_so_the_modelfile_requires_a_newer_one(go_render, exported):
    """Before 0.12.10 Ollama's api.ToolCall has no ID and api.Message no ToolCallID. The first prompt of a
    tool loop renders as today; every prompt after a tool call fails, and no `if`/`with` can guard a field a
    struct lacks (missingkey=zero only helps maps), so the Modelfile states the minimum instead (REQUIRES)."""
    go_tmpl = export.go_template(template.TOOLS)
    messages = conversations()[0]["messages"]
    first, second = messages[:2], messages[:4]
    assert _go(go_render, go_tmpl, first, template.TOOLS, shape="pre-0.12.10") == _go(go_render, go_tmpl, first, template.TOOLS)
    r = _go_run(go_render, go_tmpl, second, template.TOOLS, shape="pre-0.12.10")
    assert r.returncode == 4 and "can't evaluate field ID" in r.stderr
    for guard in ("{{ range .Messages }}{{ if .ToolCallID }}x{{ end }}{{ end }}", "{{ range .Messages }}{{ with .ToolCallID }}x{{ end }}{{ end }}"):
        r = _go_run(go_render, guard, second, template.TOOLS, shape="pre-0.12.10")
        assert r.returncode == 4 and "can't evaluate field ToolCallID" in r.stderr, guard
        assert _go(go_render, guard, second, template.TOOLS) == "x"  # today's shape
    assert _go(go_render, "{{ with .NoSuchKey }}x{{ end }}ok", second, template.TOOLS, shape="pre-0.12.10") == "ok"  # a map: zero value
    out, _ = exported
    assert ("requires", "0.14.0") in parse_modelfile((out / "Modelfile").read_text())


def test_whole_number_coordinates_keep_their_decimal_point(go_render):
    """Ollama hands the template float64s; Go's json would write -80 where training wrote -80.0 (the
    generator writes coordinates as floats). The template writes whole numbers of `number` fields with .0."""
    example = conversations()[0]
    call = {"id": "call_z", "type": "function", "function": {"name": "get_forecast", "arguments": {"latitude": 40.0, "longitude": -80.0, "days": 3}}}
    messages = example["messages"][:2] + [{"role": "assistant", "content": None, "tool_calls": [call]}]
    want = template.render({**example, "messages": messages}, template.load_tokenizer())[3:]
    got = _go(go_render, export.go_template(template.TOOLS), messages, template.TOOLS)
    assert '{"latitude": 40.0, "longitude": -80.0, "days": 3}' in want
    assert got == want


# ----------------------------------------------------------------- refusals


def _export(adapter: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tasks.serve.export", "--config", str(CPU_CONFIG), "--adapter", str(adapter), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})


def test_unfinished_adapter_is_refused(adapter, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(adapter, partial)
    (partial / "FINAL").unlink()
    r = _export(partial, tmp_path / "out")
    assert r.returncode == 1 and "FINAL" in r.stderr
    assert not (tmp_path / "out").exists()


def test_adapter_llama_cpp_cannot_load_is_refused(adapter, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(adapter, bad)
    cfg = json.loads((bad / "adapter_config.json").read_text())
    cfg["modules_to_save"] = ["lm_head"]
    (bad / "adapter_config.json").write_text(json.dumps(cfg))
    r = _export(bad, tmp_path / "out")
    assert r.returncode == 1 and "modules_to_save" in r.stderr
    assert not (tmp_path / "out").exists()


def test_gguf_lora_in_llama_cpp_reproduces_peft_logits(exported, adapter, tmp_path):
    """End to end on a real llama.cpp (pip install llama-cpp-python==0.3.36 builds it, ~5.5 min) with
    WEATHERMAN_LLAMA_CPP pointing at its llama.cpp tree for convert_hf_to_gguf.py."""
    tree = os.environ.get("WEATHERMAN_LLAMA_CPP")
    try:
        from llama_cpp import Llama
    except ImportError:
        pytest.skip("llama-cpp-python is not installed (optional: pip install llama-cpp-python==0.3.36)")
    if not tree or not (Path(tree) / "convert_hf_to_gguf.py").is_file():
        pytest.skip("WEATHERMAN_LLAMA_CPP does not point at a llama.cpp tree with convert_hf_to_gguf.py")
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base_dir = ROOT / "models" / "tiny-mistral"
    base_gguf = tmp_path / "base.gguf"
    r = subprocess.run([sys.executable, "convert_hf_to_gguf.py", str(base_dir), "--outfile", str(base_gguf), "--outtype", "f32"],
                       cwd=tree, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    tok = template.load_tokenizer()
    ids = tok(template.render(conversations()[0], tok), add_special_tokens=False).input_ids[:200]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base_dir)), str(adapter)).eval()
    with torch.no_grad():
        want = model(torch.tensor([ids])).logits[0].numpy()
    # An f32 KV cache (GGML type 0; llama.cpp's default is f16): what is left to compare is the adapter itself.
    llm = Llama(model_path=str(base_gguf), lora_path=str(exported[0] / "weatherman-lora.gguf"), logits_all=True, n_ctx=512, verbose=False,
                type_k=0, type_v=0)
    llm.eval(ids)
    got = np.array(llm.scores[: len(ids)])
    assert np.abs(got - want).max() / np.abs(want).max() < 2e-3
    assert (got.argmax(-1) == want.argmax(-1)).mean() == 1.0


def test_llama_cpp_tokenizes_the_ollama_prompt_to_the_training_ids(adapter, tmp_path):  # adapter: builds models/tiny-mistral
    """Serving agrees with training: Ollama hands the rendered TEMPLATE (no <s>) to llama.cpp, which adds BOS and
    parses special tokens; the ids must be the ones training used. Needs llama-cpp-python==0.3.36 and
    WEATHERMAN_LLAMA_CPP pointing at a llama.cpp tree (convert_hf_to_gguf.py), as the test above."""
    tree = os.environ.get("WEATHERMAN_LLAMA_CPP")
    try:
        from llama_cpp import Llama
    except ImportError:
        pytest.skip("llama-cpp-python is not installed (optional: pip install llama-cpp-python==0.3.36)")
    if not tree or not (Path(tree) / "convert_hf_to_gguf.py").is_file():
        pytest.skip("WEATHERMAN_LLAMA_CPP does not point at a llama.cpp tree with convert_hf_to_gguf.py")
    # The vocabulary as the Ollama library's GGUF has it: from Mistral's own tokenizer.model.
    src = tmp_path / "hf"
    src.mkdir()
    shutil.copyfile(ROOT / "models" / "tiny-mistral" / "config.json", src / "config.json")
    shutil.copyfile(template._mistral_common_tokenizer_file(), src / "tokenizer.model")
    vocab = tmp_path / "vocab.gguf"
    r = subprocess.run([sys.executable, "convert_hf_to_gguf.py", str(src), "--vocab-only", "--outfile", str(vocab)],
                       cwd=tree, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    llm = Llama(model_path=str(vocab), vocab_only=True, verbose=False)
    tok = template.load_tokenizer()
    checked = 0
    for example in conversations() + _text_before_calls(conversations()):
        for prompt in _prompts(example):
            text = template.render(prompt, tok)
            assert llm.tokenize(text[len("<s>"):].encode(), add_bos=True, special=True) == template.encode(prompt, tok)["input_ids"]
            checked += 1
    assert checked == 23 + 21


# ----------------------------------------------------------------- the documentation's commands exist

DOCS = ["README.md", "docs/DEPLOYMENT.md", "docs/TRAINING_H100.md", "docs/TRAINING_M4.md", "docs/ROADMAP.md"]


def _doc_commands(pattern: str) -> set[tuple[str, str]]:
    import re

    found = set()
    for doc in DOCS:
        page = (ROOT / doc).read_text(encoding="utf-8")
        page = re.sub(r"```(?!bash\n)\w*\n.*?```", "", page, flags=re.S)  # json, yaml... fences hold no commands
        for code in re.findall(r"`([^`]+)`|```bash\n(.*?)```", page, flags=re.S):
            for text in code:
                for m in re.finditer(pattern, text):
                    found.add((doc, m.group(0)))
    return found


def test_every_make_verb_in_the_docs_exists():
    import re

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z0-9][a-z0-9-]*):", makefile, flags=re.M))
    uses = _doc_commands(r'\bmake(?: [a-z0-9][a-z0-9-]*| [A-Z]+="[^"]*"| [A-Z]+=\S+)+')
    assert len(uses) > 15
    for doc, command in uses:
        words = re.findall(r'[A-Z]+="[^"]*"|\S+', command)[1:]
        verbs = [w for w in words if "=" not in w]
        assert set(verbs) <= targets, f"{doc}: `{command}` uses a verb the Makefile lacks"
        for var in (w.split("=")[0] for w in words if "=" in w):
            assert re.search(rf"\b{var}\b", makefile), f"{doc}: `{command}` sets {var}, which the Makefile never reads"


def test_every_python_module_flag_in_the_docs_exists():
    import re

    uses = _doc_commands(r"python -m tasks(?:\.\w+)+[^`\n]*")
    assert len(uses) >= 4
    helps = {}
    for doc, command in uses:
        module = re.match(r"python -m (tasks(?:\.\w+)+)", command).group(1)
        if module not in helps:
            r = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, f"{doc}: `{command}`: {module} --help failed"
            helps[module] = r.stdout
        for flag in re.findall(r"(?<=\s)--[a-z0-9-]+", command):
            assert flag in helps[module], f"{doc}: `{command}`: {module} has no {flag}"


def test_adapter_for_another_base_is_refused_not_permuted_wrongly(adapter, tmp_path):
    # A tiny adapter that claims Mistral 7B as its base: the 7B head counts must not be applied to it.
    other = tmp_path / "other"
    shutil.copytree(adapter, other)
    cfg = json.loads((other / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "mistralai/Mistral-7B-Instruct-v0.2"
    (other / "adapter_config.json").write_text(json.dumps(cfg))
    r = _export(other, tmp_path / "out")
    assert r.returncode == 1 and "hidden size is 4096" in r.stderr


def test_export_reads_the_base_from_the_adapter_not_the_profile(tmp_path):
    from tasks.config import load_config

    cfg = load_config(template.ROOT / "configs/training_config_h100.yaml")  # a pod profile on the laptop
    adapter = tmp_path / "run"
    adapter.mkdir()
    for recorded, want in [(str(template.ROOT / "models" / "smollm2-135m-instruct"), "smollm2"),
                           (str(template.ROOT / "models" / "tiny-mistral"), "tiny"),
                           ("mistralai/Mistral-7B-Instruct-v0.2", "mistralai/Mistral-7B-Instruct-v0.2")]:
        (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": recorded, "peft_type": "LORA", "r": 8, "lora_alpha": 16}))
        assert export.trained_base(cfg, adapter) == want, recorded


def _guide_commands() -> set[str]:
    """The head of every command in DEPLOYMENT.md's bash blocks and inline command spans: `make export`,
    `ollama create`, `python -m tasks.serve.export`, `curl`..."""
    import re

    page = (ROOT / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")
    page = page.split("## 1. Check the adapter", 1)[1]  # the table itself is not a use
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", page, flags=re.S):
        joined = re.sub(r"\\\n", " ", block)
        lines += [ln.split("#")[0].strip() for ln in joined.splitlines() if not ln.lstrip().startswith(("{", "}", "]", '"'))]
    lines += re.findall(r"`((?:[A-Z_]+=\S+ )*(?:make|ollama|python -m|runpodctl|scp|git clone|curl) [^`]+)`", page)
    heads = set()
    for line in lines:
        for part in re.split(r"&&|;", line):
            words = part.split()
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # OLLAMA_HOST=0.0.0.0 ollama serve
                words = words[1:]
            if not words:
                continue
            if words[0] in ("make", "ollama", "git") and len(words) > 1:
                heads.add(" ".join(words[:2]))
            elif words[0] == "python" and words[1:2] == ["-m"]:
                heads.add(" ".join(words[:3]))
            else:
                heads.add(words[0])
    return {h for h in heads if h not in ("cd",)}


def test_the_guide_says_where_each_of_its_commands_runs():
    import re

    page = (ROOT / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")
    table = page.split("## Where each command runs", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            listed |= set(re.findall(r"`([^`]+)`", row.split("|")[1]))
    used = _guide_commands()
    assert len(used) >= 12, used
    missing = {h for h in used if h not in listed}
    assert not missing, f"docs/DEPLOYMENT.md uses {sorted(missing)} without saying where it runs (section 'Where each command runs')"
    stale = {c for c in listed if c not in used and not any(u.startswith(c) for u in used)}
    assert not stale, f"docs/DEPLOYMENT.md lists {sorted(stale)} in 'Where each command runs', but no step uses it"


def test_the_guide_sends_the_trained_system_prompt():
    import datetime as dt

    from tasks.data import personas

    page = (ROOT / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")
    assert json.dumps(personas.system_prompt("twain", dt.date(2026, 12, 3)))[1:-1] in page
