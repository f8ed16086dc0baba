"""Build the tiny Mistral-architecture model for the CPU profile, the demo and the tests.

    python -m tasks.train.tiny_model --config configs/training_config_cpu.yaml

Same architecture as Mistral-7B-Instruct-v0.2 (grouped-query attention, SwiGLU,
RoPE theta 1e6, no sliding window, 32,000-token vocabulary) at a few million
parameters, random weights from a fixed seed, saved with the real v0.2 tokenizer
and the project's chat template. No download. Idempotent: an existing model with
the same shape is kept; the folder is written to a temporary name and renamed,
so it is complete or absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from tasks import ui

ROOT = Path(__file__).resolve().parents[2]
SHAPE_FILE = "tiny_shape.json"


def _shape(tiny: dict) -> dict:
    return {k: tiny[k] for k in sorted(tiny) if k != "path"}


def mistral_config(shape: dict, tok):
    """A Mistral-7B-Instruct-v0.2-architecture config of the given size (`shape` as in config `model.tiny`).

    The tiny CPU model and `make gpu-check`'s randomly built 7B-shaped model both come from here.
    """
    from transformers import MistralConfig

    return MistralConfig(
        vocab_size=len(tok),
        hidden_size=shape["hidden_size"],
        intermediate_size=shape["intermediate_size"],
        num_hidden_layers=shape["num_hidden_layers"],
        num_attention_heads=shape["num_attention_heads"],
        num_key_value_heads=shape["num_key_value_heads"],
        head_dim=shape["hidden_size"] // shape["num_attention_heads"],
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,  # v0.2's RoPE base
        sliding_window=None,  # v0.2 has no sliding window
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=False,
    )


def build(tiny: dict, root: Path = ROOT) -> Path:
    """Create the tiny model described by config `model.tiny`; return its folder."""
    path = Path(tiny["path"])
    path = path if path.is_absolute() else root / path
    shape = _shape(tiny)
    marker = path / SHAPE_FILE
    if marker.is_file() and json.loads(marker.read_text()) == shape:
        return path

    import torch
    from transformers import MistralForCausalLM

    from tasks.train import template

    tok = template.load_tokenizer()
    config = mistral_config(tiny, tok)
    torch.manual_seed(tiny["seed"])
    model = MistralForCausalLM(config)
    # A private staging folder renamed into place: the model is complete or absent,
    # and concurrent builders (parallel tests) never see half of one.
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
    try:
        model.save_pretrained(staging)
        tok.save_pretrained(staging)
        (staging / SHAPE_FILE).write_text(json.dumps(shape, indent=2, sort_keys=True) + "\n")
        if path.exists():
            # A model of another shape: move it aside first, then drop it.
            old = Path(tempfile.mkdtemp(prefix=path.name + ".old.", dir=path.parent))
            os.replace(path, old / "model")
            shutil.rmtree(old, ignore_errors=True)
        try:
            staging.rename(path)
        except OSError:
            if not (marker.is_file() and json.loads(marker.read_text()) == shape):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def run(config: str) -> None:
    from tasks.config import load_config

    cfg = load_config(config)
    if cfg["model"]["base"] != "tiny":
        raise ui.Fail(f"{config}: model.base is {cfg['model']['base']!r}, not 'tiny' (use configs/training_config_cpu.yaml)")
    path = build(cfg["model"]["tiny"])
    ui.success(f"Tiny Mistral model ready: {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/training_config_cpu.yaml")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.config)


if __name__ == "__main__":
    raise SystemExit(main())
