"""Write a PEFT LoRA adapter of a Mistral model as a llama.cpp GGUF LoRA, and read it back to check it.

    python -m tasks.serve.gguf_lora ADAPTER_DIR OUT.gguf [--base FOLDER_WITH_CONFIG_JSON]

Follows llama.cpp's `convert_lora_to_gguf.py` conventions (checked against its source in
llama-cpp-python 0.3.36's vendored llama.cpp) with only the PyPI `gguf` package, so no llama.cpp
checkout is needed:

- metadata: general.architecture "llama" (llama.cpp converts MistralForCausalLM as llama),
  general.type "adapter", adapter.type "lora", adapter.lora.alpha (float32);
- tensors: `blk.N.<attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down>.weight.lora_a`
  (PEFT's lora_A, r x in) and `.lora_b` (lora_B, out x r), float32;
- q_proj and k_proj rows are permuted the way llama.cpp permutes the base weights for its RoPE
  layout (per head, interleaved halves); for a LoRA that touches only B, whose rows are the
  output features. Without it the adapter would be silently wrong on q and k.

`check()` reads the file back with gguf.GGUFReader and compares every tensor with the PEFT
weights under this mapping; export calls it on every file it writes.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from tasks import ui

ARCH = "llama"
_PROJ = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
_PEFT_NAME = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.lora_([AB])\.weight$")


def permute_rows(w, n_head: int):
    """llama.cpp's `LlamaModel.permute` on the output rows: (n_head, 2, d/2, ...) -> swap the middle axes."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_name(peft_name: str) -> str:
    """`base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` -> `blk.3.attn_q.weight.lora_a`."""
    m = _PEFT_NAME.match(peft_name)
    if not m:
        raise ui.Fail(f"adapter tensor {peft_name!r}: not a LoRA A/B of a decoder projection; llama.cpp cannot load it "
                      "(train LoRA on the seven projections only, no embed_tokens/lm_head)")
    layer, proj, ab = m.groups()
    return f"blk.{layer}.{_PROJ[proj]}.weight.lora_{ab.lower()}"


def base_heads(base_config: dict) -> tuple[int, int]:
    return base_config["num_attention_heads"], base_config.get("num_key_value_heads") or base_config["num_attention_heads"]


def expected_tensors(adapter_dir: Path, base_config: dict) -> dict:
    """GGUF name -> float32 numpy array: the PEFT weights as llama.cpp wants them."""
    import numpy as np
    from safetensors.numpy import load_file

    n_head, n_kv = base_heads(base_config)
    out = {}
    raw = load_file(str(adapter_dir / "adapter_model.safetensors"))
    _check_shapes(raw, base_config, adapter_dir)
    for name, w in sorted(raw.items()):
        gname = gguf_name(name)
        w = w.astype(np.float32)
        if gname.endswith("lora_b") and ".attn_q." in gname:
            w = permute_rows(w, n_head)
        elif gname.endswith("lora_b") and ".attn_k." in gname:
            w = permute_rows(w, n_kv)
        out[gname] = np.ascontiguousarray(w)
    return out


def _check_shapes(raw: dict, base_config: dict, adapter_dir: Path) -> None:
    """The adapter must fit the base whose head counts permute q and k: a wrong base would permute silently wrong."""
    hidden, layers = base_config.get("hidden_size"), base_config.get("num_hidden_layers")
    for name, w in raw.items():
        m = _PEFT_NAME.match(name)
        if not m:
            continue
        layer, proj, ab = int(m.group(1)), m.group(2), m.group(3)
        if layers is not None and layer >= layers:
            raise ui.Fail(f"{adapter_dir}: tensor {name} is for layer {layer}, but the base has {layers} layers (wrong base model?)")
        if hidden is not None and proj == "self_attn.q_proj" and ab == "A" and w.shape[1] != hidden:
            raise ui.Fail(f"{adapter_dir}: q_proj takes {w.shape[1]} features, but the base's hidden size is {hidden} (wrong base model?)")


def adapter_settings(adapter_dir: Path) -> dict:
    """adapter_config.json, refusing what a GGUF LoRA cannot express."""
    path = adapter_dir / "adapter_config.json"
    if not path.is_file():
        raise ui.Fail(f"{adapter_dir}: no adapter_config.json (pass ADAPTER=<the run folder with the final adapter>)")
    cfg = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    if cfg.get("peft_type") != "LORA":
        problems.append(f"peft_type {cfg.get('peft_type')!r} (expected 'LORA')")
    if cfg.get("use_rslora"):
        problems.append("use_rslora true (llama.cpp scales by alpha/r)")
    if cfg.get("use_dora"):
        problems.append("use_dora true (no DoRA in GGUF LoRA)")
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        problems.append("per-module rank/alpha patterns (one alpha per file)")
    if cfg.get("modules_to_save"):
        problems.append(f"modules_to_save {cfg['modules_to_save']} (full modules cannot go into a LoRA GGUF)")
    if problems:
        raise ui.Fail(f"{path}: cannot be written as a GGUF LoRA: " + "; ".join(problems))
    return cfg


def write(adapter_dir: str | Path, out_path: str | Path, base_config: dict, name: str = "weatherman-lora") -> dict:
    """Write the GGUF LoRA atomically; return {tensors, alpha, rank, bytes}."""
    import gguf

    adapter_dir, out_path = Path(adapter_dir), Path(out_path)
    settings = adapter_settings(adapter_dir)
    tensors = expected_tensors(adapter_dir, base_config)
    ranks = {t.shape[0] for n, t in tensors.items() if n.endswith("lora_a")}
    if ranks != {settings["r"]}:
        raise ui.Fail(f"{adapter_dir}: lora_A ranks {sorted(ranks)} differ from adapter_config r={settings['r']}")
    with ui.atomic_path(out_path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), arch=ARCH)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(settings["lora_alpha"]))
        writer.add_name(name)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        for tname, array in tensors.items():
            writer.add_tensor(tname, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return {"tensors": len(tensors), "alpha": float(settings["lora_alpha"]), "rank": settings["r"], "bytes": out_path.stat().st_size}


def read(path: str | Path) -> tuple[dict, dict]:
    """(metadata key -> value, tensor name -> numpy array in PyTorch's row-major shape) of a GGUF file."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(str(path))
    meta = {}
    for field in reader.fields.values():
        if field.name.startswith("GGUF."):
            continue
        meta[field.name] = field.contents()
    tensors = {}
    for t in reader.tensors:
        # GGUF lists dimensions fastest-first; PyTorch's shape is the reverse.
        tensors[t.name] = np.asarray(t.data).reshape([int(d) for d in reversed(t.shape)])
    return meta, tensors


def check(gguf_path: str | Path, adapter_dir: str | Path, base_config: dict) -> int:
    """Compare every tensor and the LoRA metadata with the PEFT adapter; return the tensor count or raise Fail."""
    import numpy as np

    meta, got = read(gguf_path)
    settings = adapter_settings(Path(adapter_dir))
    want_meta = {"general.architecture": ARCH, "general.type": "adapter", "adapter.type": "lora"}
    for key, value in want_meta.items():
        if meta.get(key) != value:
            raise ui.Fail(f"{gguf_path}: metadata {key} is {meta.get(key)!r}, expected {value!r}")
    if meta.get("adapter.lora.alpha") != float(settings["lora_alpha"]):
        raise ui.Fail(f"{gguf_path}: adapter.lora.alpha {meta.get('adapter.lora.alpha')} != lora_alpha {settings['lora_alpha']}")
    want = expected_tensors(Path(adapter_dir), base_config)
    if set(got) != set(want):
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        raise ui.Fail(f"{gguf_path}: tensor names differ from the adapter (missing {missing[:3]}, extra {extra[:3]})")
    for name, w in want.items():
        if got[name].shape != w.shape or not np.array_equal(got[name], w):
            raise ui.Fail(f"{gguf_path}: tensor {name} differs from the PEFT weights (shape {got[name].shape} vs {w.shape})")
    return len(want)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapter")
    parser.add_argument("out")
    parser.add_argument("--base", required=True, help="folder with the base model's config.json (head counts)")
    args = parser.parse_args(argv)

    def go():
        base_config = json.loads((Path(args.base) / "config.json").read_text(encoding="utf-8"))
        info = write(args.adapter, args.out, base_config)
        n = check(args.out, args.adapter, base_config)
        ui.success(f"{args.out}: {n} tensors, alpha {info['alpha']}, r {info['rank']}, {info['bytes']:,} bytes; read back equal to the PEFT weights")

    return ui.main_guard(go)


if __name__ == "__main__":
    raise SystemExit(main())
