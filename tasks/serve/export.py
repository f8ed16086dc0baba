"""Export a trained adapter for Ollama (and AnythingLLM through Ollama): GGUF LoRA, Modelfile, PEFT files.

    python -m tasks.serve.export --config configs/training_config_h100.yaml [--adapter adapters/weatherman-lora-h100] [--out DIR]
                           [--ollama-base mistral:7b-instruct-v0.2-q8_0] [--system TEXT] [--set key=value]
    make export ADAPTER=adapters/weatherman-lora-h100

Writes exports/<adapter name>/ (a temporary folder renamed into place: complete or absent):

- weatherman-lora.gguf: the LoRA as a llama.cpp GGUF adapter (tasks.serve.gguf_lora), read back and
  compared tensor by tensor with the PEFT weights before the folder is published;
- Modelfile: FROM a Mistral 7B Instruct v0.2 tag (the base the adapter was trained on; plain
  `mistral` is v0.3), ADAPTER ./weatherman-lora.gguf, a default persona SYSTEM prompt (the
  neutral one, with no date: clients send today's), and a TEMPLATE in Go template syntax that renders system prompt, tools, tool
  calls and tool results exactly as configs/chat_template.jinja does (tests/serve/test_export.py renders
  both with Go's text/template and compares them);
- adapter_model.safetensors, adapter_config.json, chat_template.jinja, tools.json: the PEFT adapter
  for transformers/vLLM users and the tool schemas a client must send.

Ollama adds the BOS token itself, so the TEMPLATE starts at `[INST]` where the Jinja template
starts at `<s>`. The tool list inside the TEMPLATE is the one the adapter was trained on, byte for
byte; a request's `tools` switch tool calling on (Ollama then parses ` [TOOL_CALLS] [...]`) but
their text is not what the model reads, so send the schemas in tools.json.

The Modelfile does not depend on the machine that exports it: `REQUIRES` the minimum Ollama
(MIN_OLLAMA), a fixed context (NUM_CTX) and the stops and sampling the model needs (PARAMETERS).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from tasks import ui
from tasks.config import ROOT, load_config, project_path

TAG = "EXPORT"
GGUF_NAME = "weatherman-lora.gguf"
DEFAULT_OLLAMA_BASE = "mistral:7b-instruct-v0.2-q4_K_M"
MISTRAL_7B_V02 = "mistralai/Mistral-7B-Instruct-v0.2"
# Head counts llama.cpp needs to permute q/k; the base's config.json when present, these otherwise.
MISTRAL_7B_V02_CONFIG = {"num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32, "hidden_size": 4096}
PEFT_FILES = ("adapter_model.safetensors", "adapter_config.json")
# The TEMPLATE reads ToolCall.ID and Message.ToolCallID, which Ollama has from 0.12.10 (before, every
# prompt after a tool call fails: "can't evaluate field ID"); the REQUIRES line itself is a Modelfile
# command from 0.14.0, and older versions refuse the whole Modelfile at `ollama create`.
MIN_OLLAMA = "0.14.0"
# A fixed context, the same whatever machine exports: the longest generated conversation is 2,380
# tokens (2,534 before the tools block was tightened) and issue 13's dialogues of 3-5 turns are longer;
# 8,192 leaves room for those and a reply. The KV cache of Mistral 7B at 8,192 tokens is 1 GiB in f16
# (32 layers x 8 KV heads x 128 x K and V x 2 bytes); v0.2 was trained for 32k.
NUM_CTX = 8192
# Stops: </s> ends every trained turn (llama.cpp stops on EOS too); [INST], [/INST] and [TOOL_RESULTS]
# belong to the user and the tools, never to the model. repeat_penalty 1.0: Ollama's default 1.1 would
# penalise copying the coordinates a geocode returned into the weather call. A low temperature: calls
# and figures must be exact.
PARAMETERS = (("stop", '"</s>"'), ("stop", '"[INST]"'), ("stop", '"[/INST]"'), ("stop", '"[TOOL_RESULTS]"'),
              ("repeat_penalty", "1.0"), ("temperature", "0.2"))


# ----------------------------------------------------------------- the Go template


def _go_string(text: str) -> str:
    """A Go template string constant: JSON string escapes are valid Go escapes; no raw newline reaches Ollama's parser."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}"


def tools_block(tools: list[dict]) -> str:
    """The exact text the training template renders for the tool list, cut out of a real rendering."""
    from tasks.train import template

    probe = "PROBE-USER-TURN"
    rendered = template.load_tokenizer().apply_chat_template([{"role": "user", "content": probe}], tools=tools, tokenize=False)
    return rendered[rendered.index("[INST] ") + len("[INST] "):rendered.index(probe)]


def _number(expr: str) -> str:
    """A JSON number as Python writes a float: whole numbers keep `.0` (Go's json would write -80 for -80.0).
    The generator writes coordinates as floats, so the model learned `-80.0`; Ollama hands the template float64s."""
    return ('{{ $n := ' + expr + ' }}{{ if and (eq (printf "%T" $n) "float64") (eq (printf "%v" $n) (printf "%.0f" $n)) }}'
            '{{ printf "%.1f" $n }}{{ else }}{{ json $n }}{{ end }}')


def _arguments(properties_by_tool: dict[str, dict[str, dict]]) -> str:
    """Arguments as a JSON object, keys in the schema's order (Python's json.dumps keeps the data's order,
    which the generator writes in schema order; Go would sort them). Unknown keys follow, sorted."""
    present = '(ne (printf "%T" (index $a {key})) "<nil>")'

    def one(key_expr: str, value: str) -> str:
        return '{{ if not $f }}{{ ", " }}{{ end }}{{ json ' + key_expr + ' }}{{ ": " }}' + value + "{{ $f = false }}"

    parts = ['{{- $a := .Function.Arguments }}{{ $f := true }}{{ "{" }}']
    first = True
    for name, props in properties_by_tool.items():
        parts.append(("{{- if" if first else "{{- else if") + f" eq .Function.Name {json.dumps(name)} }}}}")
        first = False
        for key, schema in props.items():
            expr = f"(index $a {json.dumps(key)})"
            value = _number(expr) if schema.get("type") == "number" else "{{ json " + expr + " }}"
            parts.append("{{- if " + present.format(key=json.dumps(key)) + " }}" + one(json.dumps(key), value) + "{{ end }}")
        known = " ".join(f"(eq $k {json.dumps(k)})" for k in props)
        parts.append("{{- range $k, $v := $a }}{{ if not (or " + known + " false) }}" + one("$k", "{{ json $v }}") + "{{ end }}{{ end }}")
    parts.append('{{- else }}{{ range $k, $v := $a }}' + one("$k", "{{ json $v }}") + "{{ end }}")
    parts.append('{{- end }}{{ "}" }}')
    return "\n".join(parts)


def go_template(tools: list[dict]) -> str:
    """Ollama TEMPLATE equal to configs/chat_template.jinja (less the BOS Ollama adds itself)."""
    props = {t["function"]["name"]: t["function"]["parameters"].get("properties", {}) for t in tools}
    lines = [
        # Ollama enables tool calling for templates that mention .Tools; the list the model reads is the trained one below.
        "{{- if $.Tools }}{{ end }}",
        "{{- $first := true }}",
        "{{- range .Messages }}",
        '{{- if eq .Role "user" }}{{ "[INST] " }}',
        "{{- if $first }}{{ if $.System }}{{ $.System }}" + _go_string("\n\n") + "{{ end }}" + _go_string(tools_block(tools)) + "{{ $first = false }}{{ end }}",
        '{{- .Content }}{{ " [/INST]" }}',
        # Text beside the calls comes before the tag: Ollama's parser returns what precedes it as content.
        '{{- else if eq .Role "assistant" }}{{ if .Content }}{{ " " }}{{ .Content }}{{ end }}',
        # The first text inside `if .ToolCalls` is the prefix Ollama's parser looks for in the model's output.
        '{{- if .ToolCalls }} [TOOL_CALLS] [',
        '{{- range $j, $c := .ToolCalls }}{{ if $j }}{{ ", " }}{{ end }}{{ "{\\"name\\": " }}{{ json .Function.Name }}{{ ", \\"arguments\\": " }}',
        _arguments(props),
        '{{- ", \\"id\\": " }}{{ json .ID }}{{ "}" }}{{ end }}{{ "]</s>" }}',
        '{{- else }}{{ "</s>" }}{{ end }}',
        '{{- else if eq .Role "tool" }}{{ "[TOOL_RESULTS] {\\"call_id\\": " }}{{ json .ToolCallID }}{{ ", \\"content\\": " }}{{ .Content }}{{ "} [/TOOL_RESULTS]" }}',
        "{{- end }}",
        "{{- end }}",
    ]
    text = "\n".join(lines)
    if '"""' in text:
        raise ui.Fail('the generated TEMPLATE contains """, which ends a Modelfile value early (change the tool descriptions)')
    return text


def modelfile(ollama_base: str, system: str | None, tools: list[dict], num_ctx: int = NUM_CTX) -> str:
    lines = [
        "# weatherman-lora for Ollama (written by `make export`). Use: ollama create weatherman -f Modelfile",
        f"# Needs Ollama {MIN_OLLAMA} or newer: the TEMPLATE reads tool-call ids (0.12.10+) and REQUIRES is read from 0.14.0;",
        "# an older Ollama stops at `ollama create` with 'command must be one of ...' (upgrade Ollama).",
        f"REQUIRES {MIN_OLLAMA}",
        "# FROM must be Mistral 7B Instruct v0.2, the base the adapter was trained on (plain `mistral` is v0.3).",
        f"FROM {ollama_base}",
        f"ADAPTER ./{GGUF_NAME}",
        "# The training chat template in Go syntax: persona, the three trained tools, tool calls, tool results.",
        f'TEMPLATE """{go_template(tools)}"""',
    ]
    if system:
        if '"""' in system:
            raise ui.Fail('the default system prompt contains """ (pick another with --system)')
        lines += ["# Default persona when a request has no system message; send your own system message to pick another.",
                  f'SYSTEM """{system}"""']
    lines += ["# A fixed context (room for the longest trained conversation and a reply), the stops and sampling the model needs.",
              f"PARAMETER num_ctx {num_ctx}"]
    lines += [f"PARAMETER {name} {value}" for name, value in PARAMETERS]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- inputs



def resolve_adapter(cfg: dict, adapter: str | None) -> Path:
    path = project_path(adapter or cfg["output_dir"])
    if not path.is_dir():
        raise ui.Fail(f"{path}: no such adapter folder (train first, or pass ADAPTER=adapters/<run>)")
    missing = [f for f in PEFT_FILES if not (path / f).is_file()]
    if missing:
        raise ui.Fail(f"{path}: not a finished adapter, {', '.join(missing)} missing (pass the run folder holding the final adapter)")
    if not (path / "FINAL").is_file():
        raise ui.Fail(f"{path}: no FINAL marker, so training has not finished writing this adapter (wait for it, or `make status`)")
    return path


def base_config(cfg: dict, adapter_cfg: dict) -> dict:
    """The head counts of the model the adapter was trained on: its config.json where one is on disk.

    The adapter's own record (base_model_name_or_path) comes first: on a laptop the default config
    is the CPU one, whose tiny model must not lend its head counts to a 7B adapter."""
    recorded = adapter_cfg.get("base_model_name_or_path") or ""
    candidates = [Path(recorded)] if recorded else []
    if not recorded:
        candidates.append(project_path(cfg["model"]["tiny"]["path"]) if cfg["model"]["base"] == "tiny" else project_path(cfg["model"]["base"]))
    for folder in candidates:
        if str(folder) not in ("", ".") and (folder / "config.json").is_file():
            return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if recorded == MISTRAL_7B_V02 or (not recorded and cfg["model"]["base"] == MISTRAL_7B_V02):
        return dict(MISTRAL_7B_V02_CONFIG)
    raise ui.Fail(f"base model {recorded or cfg['model']['base']!r}: no config.json found and not {MISTRAL_7B_V02} "
                  "(the Ollama export targets Mistral 7B Instruct v0.2)")


def default_system() -> str:
    """The neutral persona's system prompt as training wrote it when no date was given: no fixed date, so a client
    that sends no system message gets no stale "today" (the chat and any client that knows the date send their own)."""
    from tasks.data.personas import system_prompt

    return system_prompt("neutral")


def trained_base(cfg: dict, adapter: Path) -> str:
    """The base the adapter was trained on: its adapter_config.json's record, else the profile's (older adapters)."""
    from tasks.serve import gguf_lora
    from tasks.train import smol

    recorded = str(gguf_lora.adapter_settings(adapter).get("base_model_name_or_path") or "")
    if not recorded:
        return cfg["model"]["base"]
    if recorded == MISTRAL_7B_V02:
        return recorded
    tiny = cfg["model"].get("tiny", {}).get("path", "models/tiny-mistral")
    if Path(recorded).resolve() == project_path(tiny).resolve() or "tiny-mistral" in Path(recorded).name:
        return "tiny"
    if Path(recorded).resolve() == smol.FOLDER.resolve() or "smollm2" in recorded.casefold():
        return "smollm2"
    return recorded


# ----------------------------------------------------------------- the run


def replace_folder(staging: Path, out: Path) -> None:
    """Put the finished `staging` folder at `out`, the previous export (if any) moved aside first and removed."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / "export")
        shutil.rmtree(old, ignore_errors=True)
    staging.rename(out)


def export(cfg: dict, adapter: Path, out: Path, ollama_base: str, system: str | None) -> dict:
    """Build the export folder in a staging folder, check the GGUF, then rename it into place."""
    from tasks.train import template
    from tasks.serve import gguf_lora

    adapter_cfg = gguf_lora.adapter_settings(adapter)
    base = base_config(cfg, adapter_cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        info = gguf_lora.write(adapter, staging / GGUF_NAME, base)
        checked = gguf_lora.check(staging / GGUF_NAME, adapter, base)
        for name in PEFT_FILES:
            shutil.copyfile(adapter / name, staging / name)
        template_file = adapter / "chat_template.jinja"
        shutil.copyfile(template_file if template_file.is_file() else template.TEMPLATE_PATH, staging / "chat_template.jinja")
        # Byte for byte: a client whose template renders the request's tools (transformers, vLLM) must see the
        # trained key order, which a re-dump with sorted keys would change.
        shutil.copyfile(template.TOOLS_PATH, staging / "tools.json")
        text = modelfile(ollama_base, system, template.TOOLS)
        ui.write_text_atomic(staging / "Modelfile", text)
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    return {"folder": str(out), "files": files, "gguf_tensors": checked, "lora_alpha": info["alpha"], "lora_r": info["rank"],
            "ollama_base": ollama_base}


def run(config: str, adapter: str | None, out: str | None, ollama_base: str, system: str | None, overrides: list[str] | None = None,
        merged: str | None = None) -> None:
    cfg = load_config(config, overrides)
    path = resolve_adapter(cfg, adapter)
    target = project_path(out) if out else ROOT / "exports" / path.name
    if system is None:
        system = default_system()
    merged_plan = None
    if merged is not None:  # --merged: every check of the merged export before anything is written (tasks.serve.gguf_merged)
        from tasks.serve import gguf_merged

        merged_plan = gguf_merged.plan(cfg, path, gguf_merged.target_for(target), gguf_merged.parse_quants(merged))
    ui.info(TAG, f"Adapter {path} -> {target}")
    base = trained_base(cfg, path)
    if base == "tiny":
        ui.warning(f"[{TAG}] This adapter belongs to the tiny CPU model: the files prove the export works, "
                   "but no Ollama model can load it (export an adapter trained on Mistral 7B Instruct v0.2)")
    elif base == "smollm2":
        from tasks.train import smol

        ui.warning(f"[{TAG}] This adapter belongs to SmolLM2-135M-Instruct, not Mistral: the Modelfile's FROM does not fit it; "
                   f"run the GGUF LoRA in llama.cpp over {smol.gguf_path()} (llama-cli -m <that file> --lora {GGUF_NAME})")
    result = export(cfg, path, target, ollama_base, system)
    for name, size in result["files"].items():
        print(f"  {name:<28} {size:>14,} bytes")
    ui.success(f"[{TAG}] {GGUF_NAME}: {result['gguf_tensors']} tensors read back equal to the PEFT weights (r {result['lora_r']}, alpha {result['lora_alpha']:g})")
    ui.info(TAG, f"Next: cd {target} && ollama pull {ollama_base} && ollama create weatherman -f Modelfile && ollama run weatherman \"What's the weather in Seattle?\"")
    if merged_plan:
        merged_result = gguf_merged.build(merged_plan, system)
        for name, size in merged_result["files"].items():
            print(f"  {name:<28} {size:>14,} bytes")
        ui.success(f"[{TAG}] merged GGUF ({', '.join(merged_result['quants'])}) in {merged_result['folder']}: no ADAPTER line, "
                   f"{merged_result['tensors']} tensors in each file")
        result["merged"] = merged_result
    print(json.dumps(result), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/training_config_h100.yaml")
    parser.add_argument("--adapter", default=None, help="adapter folder (default: the config's output_dir)")
    parser.add_argument("--out", default=None, help="export folder (default: exports/<adapter folder name>)")
    parser.add_argument("--ollama-base", default=DEFAULT_OLLAMA_BASE,
                        help="Ollama tag of Mistral 7B Instruct v0.2 for FROM (e.g. mistral:7b-instruct-v0.2-q8_0 or -fp16)")
    parser.add_argument("--system", default=None, help="default system prompt (default: the neutral persona's, without a date)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. data.validation=path (repeatable)")
    parser.add_argument("--merged", nargs="?", const="", default=None, metavar="QUANTS",
                        help="also write base + adapter merged into one GGUF beside the export (Q4_K_M, or e.g. Q4_K_M,Q8_0)")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.config, args.adapter, args.out, args.ollama_base, args.system, args.overrides, args.merged)


if __name__ == "__main__":
    raise SystemExit(main())
