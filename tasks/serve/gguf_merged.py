"""Merge the adapter into its base and write one quantized GGUF, for runtimes that take no LoRA file.

    python -m tasks.serve.export --config configs/training_config_h100.yaml --merged [Q4_K_M[,Q8_0,F16,F32]]
    make export MERGED=1 [QUANT=Q8_0] ADAPTER=adapters/weatherman-lora-h100

Writes exports/<adapter name>-merged/ beside the LoRA export (a staging folder renamed into place:
complete or absent):

- weatherman-<QUANT>.gguf for each type asked (Q4_K_M by default): PEFT's `merge_and_unload` of
  base + adapter saved as a Hugging Face folder, converted by llama.cpp's own `convert_hf_to_gguf.py`
  (the llama.cpp tree of the pinned llama-cpp-python's source archive, WEATHERMAN_LLAMA_CPP) to f32
  or f16, then quantized by llama.cpp's quantizer through llama-cpp-python's `llama_model_quantize`
  (the library the pinned wheel ships; no separately built binary). Each file is read back: its file
  type and tensor count must be the ones asked for;
- Modelfile: `FROM ./weatherman-<first QUANT>.gguf`, no ADAPTER line, and the same TEMPLATE, SYSTEM,
  REQUIRES, stops and sampling as the LoRA export's; tools.json and chat_template.jinja as there.

Why a second export: the GGUF LoRA needs a runtime that applies LoRA files (Ollama's ADAPTER,
llama.cpp's --lora); LM Studio and many llama.cpp front ends load one model file only, and a
runtime that changes or drops its ADAPTER support still loads a plain GGUF. The cost is size: a
whole model (about 4.4 GB for Mistral 7B at Q4_K_M) instead of a 50 MB adapter.

Everything is checked before the merge starts (`plan`): the quant types, the converter and the
quantizer, the adapter's fit to the base (layers and hidden size), and the free disk against the
printed peak need. A failure is one line naming the fix; nothing is left in exports/.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tasks import ui
from tasks.config import project_path

TAG = "EXPORT"
# Quant type -> (llama.cpp file type, about how many bits each weight takes in the file). Q4_K_M mixes q4_K with
# q6_K for attn_v/ffn_down and the output: 4.07 GiB for 7.24 B parameters (llama.cpp's tables) is 4.83 bits.
QUANTS = {"Q4_K_M": ("LLAMA_FTYPE_MOSTLY_Q4_K_M", 4.85), "Q8_0": ("LLAMA_FTYPE_MOSTLY_Q8_0", 8.5),
          "F16": ("LLAMA_FTYPE_MOSTLY_F16", 16.0), "F32": ("LLAMA_FTYPE_ALL_F32", 32.0)}
# llama_ftype values as llama.h numbers them (what general.file_type records), so a plan needs no llama_cpp import.
FILE_TYPES = {"LLAMA_FTYPE_ALL_F32": 0, "LLAMA_FTYPE_MOSTLY_F16": 1, "LLAMA_FTYPE_MOSTLY_Q8_0": 7, "LLAMA_FTYPE_MOSTLY_Q4_K_M": 15}
DEFAULT_QUANTS = ("Q4_K_M",)
LLAMA_CPP_VERSION = "0.3.36"
DEFAULT_TREE = Path.home() / ".cache" / "weatherman-lora" / f"llama_cpp_python-{LLAMA_CPP_VERSION}" / "vendor" / "llama.cpp"
# Beyond the peak of files: the safetensors index, tokenizer, logs, and filesystems that report free space loosely.
DISK_MARGIN = 1.10


def gguf_file(quant: str) -> str:
    return f"weatherman-{quant}.gguf"


def parse_quants(text: str | None) -> list[str]:
    """'Q4_K_M,q8_0' -> ['Q4_K_M', 'Q8_0']; anything else is refused with the list of types."""
    names = [q.strip().upper() for q in (text or "").replace(",", " ").split()] or list(DEFAULT_QUANTS)
    bad = [q for q in names if q not in QUANTS]
    if bad:
        raise ui.Fail(f"QUANT={','.join(bad)}: not a quant type this export writes (use {', '.join(QUANTS)}, e.g. QUANT=Q8_0 or QUANT=Q4_K_M,Q8_0)")
    return list(dict.fromkeys(names))


def converter() -> Path:
    """llama.cpp's convert_hf_to_gguf.py from the llama.cpp tree of the pinned llama-cpp-python source archive."""
    tree = Path(os.environ.get("WEATHERMAN_LLAMA_CPP") or DEFAULT_TREE)
    script = tree / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise ui.Fail(f"{script}: llama.cpp's converter not found (run `make .venv/.llama-cpp`, which unpacks llama-cpp-python "
                      f"{LLAMA_CPP_VERSION}'s source there, or set WEATHERMAN_LLAMA_CPP to a llama.cpp tree)")
    return script


def parameter_count(base: dict) -> int:
    """Weights of a Llama/Mistral decoder from its config.json: embeddings, 32 x (attention + MLP + 2 norms), norm, head."""
    hidden, layers, vocab = base["hidden_size"], base["num_hidden_layers"], base["vocab_size"]
    heads = base["num_attention_heads"]
    kv = base.get("num_key_value_heads") or heads
    head_dim = base.get("head_dim") or hidden // heads
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv * head_dim
    mlp = 3 * hidden * base["intermediate_size"]
    head = 0 if base.get("tie_word_embeddings") else vocab * hidden
    return vocab * hidden + layers * (attention + mlp + 2 * hidden) + hidden + head


def _base_dtype(base: dict) -> str:
    return str(base.get("dtype") or base.get("torch_dtype") or "bfloat16").replace("torch.", "")


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def _free_bytes(folder: Path) -> int:
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def plan(cfg: dict, adapter: Path, out: Path, quants: list[str]) -> dict:
    """Every check that needs no merge; prints the sizes and the disk the export needs. Returns what `build` uses."""
    from tasks.serve import evaluate, gguf_lora
    from tasks.train import model_cache, train

    script = converter()
    if any(q not in ("F32", "F16") for q in quants) and importlib.util.find_spec("llama_cpp") is None:
        raise ui.Fail(f"llama-cpp-python is not installed, and its quantizer writes {quants[0]} "
                      f"(pip install llama-cpp-python=={LLAMA_CPP_VERSION}, or `make .venv/.llama-cpp`)")
    base = train.resolve_base(cfg)
    evaluate.check_base(base, adapter)
    source = model_cache.load_source(base, cfg["model"].get("cache_dir"))
    base_cfg = _base_config(source, cfg)
    gguf_lora.expected_tensors(adapter, base_cfg)  # refuses an adapter whose layers or widths the base does not have
    params = parameter_count(base_cfg)
    dtype = _base_dtype(base_cfg)
    folder_bytes = params * (4 if dtype == "float32" else 2)
    # The converter writes f32 when the weights are f32 (the SmolLM2 demo) or F32 is asked; else f16, llama.cpp's
    # usual input to its quantizer. Types equal to the converter's output are that file renamed.
    outtype = "F32" if dtype == "float32" or "F32" in quants else "F16"
    inter_bytes = params * QUANTS[outtype][1] / 8
    sizes = {q: params * QUANTS[q][1] / 8 for q in quants}
    # Peak: the merged folder and the converted file together, then the converted file and every quantized one.
    peak = max(folder_bytes + inter_bytes, inter_bytes + sum(s for q, s in sizes.items() if q != outtype))
    need = peak * DISK_MARGIN
    free = _free_bytes(out.parent)
    ui.info(TAG, f"Merged export: {base} ({params / 1e6:,.1f} M parameters, {dtype}) + {adapter.name} -> {out}")
    ui.info(TAG, "Files: " + ", ".join(f"{gguf_file(q)} about {_gb(s)}" for q, s in sizes.items())
            + f"; needs about {_gb(need)} free on the disk of {out.parent} while it works ({_gb(free)} free)")
    if free < need:
        raise ui.Fail(f"{out.parent}: {_gb(free)} free, the merged export needs about {_gb(need)} while it works "
                      "(free some space, pass --out on a larger disk, or ask for fewer types with QUANT=Q4_K_M)")
    return {"base": base, "source": source, "base_config": base_cfg, "adapter": adapter, "out": out, "quants": quants,
            "outtype": outtype, "converter": script, "params": params, "dtype": dtype,
            "cache_dir": cfg["model"].get("cache_dir") if source == base else None}


def _base_config(source: str, cfg: dict) -> dict:
    folder = Path(source)
    if (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, cache_dir=cfg["model"].get("cache_dir")).to_dict()
    except OSError as exc:
        raise ui.Fail(f"model.base {source!r}: cannot read its config.json ({str(exc).splitlines()[0]}); check the id, the folder or the network") from exc


# ----------------------------------------------------------------- the steps


def merge(p: dict, folder: Path) -> None:
    """base + adapter as one Hugging Face folder (weights in the base's dtype, the training tokenizer and template)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tasks.train import template

    dtype = {"float32": torch.float32, "float16": torch.float16}.get(p["dtype"], torch.bfloat16)
    kwargs = {"cache_dir": p["cache_dir"]} if p["cache_dir"] else {}
    # On the CPU, whatever the machine: a merge is one pass over the weights, and a pod has the memory (about 15 GB for 7B in bf16).
    model = AutoModelForCausalLM.from_pretrained(p["source"], dtype=dtype, low_cpu_mem_usage=True, **kwargs)
    try:
        model = PeftModel.from_pretrained(model, str(p["adapter"]))
    except RuntimeError as exc:  # size mismatches that the layer/width check cannot see (e.g. kv heads)
        raise ui.Fail(f"{p['adapter']}: does not fit the base {p['base']} ({str(exc).strip().splitlines()[-1][:160]}); "
                      "pass the config the adapter was trained with") from exc
    merged = model.merge_and_unload(safe_merge=True)
    merged.save_pretrained(str(folder))
    del model, merged
    tok = template.load_tokenizer(None if p["base"] == "tiny" else p["source"])
    tok.save_pretrained(str(folder))
    # The Mistral vocabulary as Mistral ships it (SentencePiece), which is what the converter reads first for Llama models.
    if not (folder / "tokenizer.model").is_file() and p["base_config"].get("vocab_size") == 32000:
        shutil.copyfile(template._mistral_common_tokenizer_file(), folder / "tokenizer.model")



def convert(p: dict, folder: Path, out: Path) -> None:
    r = subprocess.run([sys.executable, str(p["converter"]), str(folder), "--outfile", str(out), "--outtype", p["outtype"].lower()],
                       capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise ui.Fail(f"{p['converter'].name} failed on the merged model: {last[:200]} (llama.cpp tree {p['converter'].parent})")


def quantize(src: Path, dst: Path, quant: str, log: Path) -> None:
    """llama.cpp's quantizer from the llama-cpp-python wheel; its per-tensor lines go to `log`, not the terminal."""
    import logging

    logging.getLogger("llama-cpp-python").setLevel(logging.WARNING)
    from llama_cpp import llama_cpp as lib

    params = lib.llama_model_quantize_default_params()
    params.ftype = getattr(lib, QUANTS[quant][0])
    params.nthread = os.cpu_count() or 1
    with open(log, "ab") as fh, _fds_to(fh):
        rc = lib.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ui.Fail(f"llama.cpp's quantizer failed on {quant} (code {rc}): {tail[0][:200]}")


@contextlib.contextmanager
def _fds_to(fh):
    """Send file descriptors 1 and 2 (where llama.cpp prints) to `fh` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def check(path: Path, quant: str, tensors: int) -> None:
    """The written file says the file type asked for and holds every tensor of the converted model."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    file_type = reader.fields["general.file_type"].contents() if "general.file_type" in reader.fields else None
    if file_type != FILE_TYPES[QUANTS[quant][0]] or len(reader.tensors) != tensors:
        raise ui.Fail(f"{path}: file type {file_type}, {len(reader.tensors)} tensors; expected {quant} with {tensors} tensors (the quantizer misbehaved)")


def modelfile(system: str | None, quants: list[str]) -> str:
    """The LoRA export's Modelfile with FROM the merged file and no ADAPTER line: the same TEMPLATE, SYSTEM and parameters."""
    from tasks.serve import export
    from tasks.train import template

    text = export.modelfile(f"./{gguf_file(quants[0])}", system, template.TOOLS)
    lines = []
    for line in text.splitlines():
        if line.startswith("ADAPTER "):
            continue
        if line.startswith("# FROM must be"):
            line = "# FROM the merged model: base and adapter in one file, no ADAPTER line (any Ollama that reads GGUF)."
            lines.append(line)
            lines += [f"# Other types written beside it: FROM ./{gguf_file(q)}" for q in quants[1:]]
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def build(p: dict, system: str | None) -> dict:
    """Merge, convert, quantize and check in a staging folder beside the target, then rename it into place."""
    from tasks.serve import export
    from tasks.train import template

    out = p["out"]
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        hf = staging / "merged-hf"
        ui.info(TAG, f"Merging the adapter into {p['base']} ({p['dtype']})")
        merge(p, hf)
        inter = staging / f"merged-{p['outtype']}.gguf.part"
        ui.info(TAG, f"Converting with llama.cpp's {p['converter'].name} to {p['outtype']}")
        convert(p, hf, inter)
        shutil.rmtree(hf)
        import gguf

        tensors = len(gguf.GGUFReader(str(inter)).tensors)
        for q in p["quants"]:
            if q != p["outtype"]:
                ui.info(TAG, f"Quantizing to {q} with llama.cpp's quantizer (llama-cpp-python {LLAMA_CPP_VERSION})")
                quantize(inter, staging / gguf_file(q), q, staging / "quantize.log")
        if p["outtype"] in p["quants"]:
            os.replace(inter, staging / gguf_file(p["outtype"]))
        else:
            inter.unlink()
        for q in p["quants"]:
            check(staging / gguf_file(q), q, tensors)
        (staging / "quantize.log").unlink(missing_ok=True)
        template_file = p["adapter"] / "chat_template.jinja"
        shutil.copyfile(template_file if template_file.is_file() else template.TEMPLATE_PATH, staging / "chat_template.jinja")
        shutil.copyfile(template.TOOLS_PATH, staging / "tools.json")
        ui.write_text_atomic(staging / "Modelfile", modelfile(system, p["quants"]))
        export.replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = {f.name: f.stat().st_size for f in sorted(out.iterdir())}
    return {"folder": str(out), "files": files, "quants": p["quants"], "tensors": tensors}


def target_for(lora_target: Path) -> Path:
    """exports/<name>-merged beside exports/<name>."""
    return project_path(lora_target).with_name(project_path(lora_target).name + "-merged")
