"""Serve: use a trained adapter: measure it, talk to it, and hand it to Ollama and AnythingLLM.

Verbs: `make eval ADAPTER=path`, `make export ADAPTER=path`, `make chat`, `make ask Q=...`.

- `evaluate`: base against adapter on validation conversations, bounded in tokens and time
- `real_questions`: first moves on held-out real (SNIPS) questions: geocode the place named, or ask/decline
- `bfcl`: the public BFCL v4 benchmark (irrelevance, simple) with each item's functions as the tools
- `export`: GGUF LoRA, Modelfile and PEFT files for Ollama; `gguf_lora`: the GGUF LoRA writer and reader
- `gguf_merged`: base + adapter merged into one quantized GGUF with its own Modelfile (`make export MERGED=1`)
- `chat`: the tool loop in a terminal or for one question (local transformers + PEFT, or Ollama);
  `tools`: the three tools against the real Open-Meteo APIs, answered in the trained shapes
"""
