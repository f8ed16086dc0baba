"""Serve: use a trained adapter: measure it and hand it to Ollama and AnythingLLM.

Verbs: `make eval ADAPTER=path`, `make export ADAPTER=path`.

- `evaluate`: base against adapter on validation conversations, bounded in tokens and time
- `real_questions`: first moves on held-out real (SNIPS) questions: geocode the place named, or ask/decline
- `export`: GGUF LoRA, Modelfile and PEFT files for Ollama; `gguf_lora`: the GGUF LoRA writer and reader
"""
