"""The MLX memory formula (tasks/train/mlx_plan.py) against the peak the CPU build of MLX measures.

A small Mistral-shaped model (grouped-query attention 8/2 heads, SwiGLU, LoRA r 16 on all seven
projections, mlx-lm's own llama model and LoRA layers, the backend's loss) takes one
value-and-gradient step at 512, 1,024 and 2,048 tokens in fp32; `mx.get_peak_memory()` less the memory
in use before the step is compared with the formula's activations, attention, logits and LoRA
gradients. Measured on the build machine (mlx 0.32.4): within 4% at 512 tokens and 1% from 1,024, the
L^2 coefficient 3-5% from the formula's; with checkpointing within 2%. About 40 s of CPU.
"""

import pytest

from tasks.train import mlx_plan

mx = pytest.importorskip("mlx.core", reason="MLX is not installed (pip install -r requirements-ci.txt)")

DIMS = mlx_plan.Dims(layers=2, hidden=256, intermediate=512, heads=8, kv_heads=2, vocab=1000)
SEVEN = list(DIMS.linear_shapes())
KEYS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
        "mlp.down_proj"]


def _measured(lengths, checkpointing):
    import mlx.nn as nn
    from mlx_lm.models import llama
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from tasks.train.mlx_backend import loss_sum

    args = llama.ModelArgs(model_type="llama", hidden_size=DIMS.hidden, num_hidden_layers=DIMS.layers,
                           intermediate_size=DIMS.intermediate, num_attention_heads=DIMS.heads,
                           num_key_value_heads=DIMS.kv_heads, rms_norm_eps=1e-5, vocab_size=DIMS.vocab, rope_theta=1e6,
                           tie_word_embeddings=False)
    mx.random.seed(0)
    model = llama.Model(args)
    model.set_dtype(mx.float32)
    model.freeze()
    linear_to_lora_layers(model, DIMS.layers, {"rank": 16, "scale": 2.0, "dropout": 0.0, "keys": KEYS})
    if checkpointing:
        from mlx_lm.tuner.trainer import grad_checkpoint

        grad_checkpoint(model.layers[0])
    mx.eval(model.parameters())
    step = nn.value_and_grad(model, loss_sum)
    out = {}
    for length in lengths:
        ids = mx.random.randint(0, DIMS.vocab, (1, length + 1)).astype(mx.int32)  # loss_sum feeds length tokens
        mx.eval(ids)
        mx.clear_cache()
        before = mx.get_active_memory()
        mx.reset_peak_memory()
        (s, n), grads = step(model, ids, ids)
        mx.eval(s, n, grads)
        out[length] = mx.get_peak_memory() - before
        del s, n, grads
    return out


def _predicted(length, checkpointing):
    p = mlx_plan.peak(DIMS, length=length, targets=SEVEN, gradient_checkpointing=checkpointing, load_in_4bit=False,
                      act=4, device="cpu")
    # The weights, LoRA weights and optimizer are in use before the step; the LoRA gradients (fp32) are made by it.
    return p["total"] - p["weights"] - p["lora_and_optimizer"] + 4 * DIMS.lora_params(16, SEVEN)


def test_the_formula_predicts_the_measured_peak_at_several_lengths_and_the_l2_term():
    measured = _measured((512, 1024, 2048), checkpointing=False)
    for length, tolerance in ((512, 0.08), (1024, 0.04), (2048, 0.04)):
        got, want = measured[length], _predicted(length, False)
        assert abs(want / got - 1) < tolerance, (length, got, want)
    # peak = c + aL + bL^2 -> b = (p(4L) - 3 p(2L) + 2 p(L)) / 6L^2: every layer's softmax and mask, and the
    # gradient of the layer being differentiated - the term that grows fastest, and the one plan.py missed.
    b = (measured[2048] - 3 * measured[1024] + 2 * measured[512]) / (6 * 512**2)
    b_formula = DIMS.layers * mlx_plan.pairs_per_layer_bytes(DIMS, 4) + 2 * 4 * DIMS.heads
    # Measured 133.4 alone and 136.8 after the other MLX tests in one process, against the formula's 130: the second
    # difference amplifies a few MB of allocator noise, hence 10% (leaving the term out, as before, is -100%).
    assert b == pytest.approx(b_formula, rel=0.10), (b, b_formula)
    # Leaving the attention term out, as the plan did, misses most of the peak at 2,048 tokens.
    p = mlx_plan.peak(DIMS, length=2048, targets=SEVEN, load_in_4bit=False, act=4, device="cpu")
    assert p["attention_l2"] + p["attention_grad"] > 0.5 * measured[2048]


def test_checkpointing_keeps_layer_inputs_and_one_recomputed_layer():
    measured = _measured((1024, 2048), checkpointing=True)
    for length in (1024, 2048):
        got, want = measured[length], _predicted(length, True)
        assert abs(want / got - 1) < 0.05, (length, got, want)
