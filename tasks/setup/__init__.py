"""Setup: make a machine ready to train, or say exactly what is missing and how to fix it.

Verbs: `make setup-h100` (RunPod), `make setup-m4` and `make preflight-m4` (Apple Silicon),
`make doctor` (every check, changing nothing). `train-h100` runs the H100 pre-flight from here.

- `h100`, `m4`: the platform setups, step by step behind stamps, and their pre-flights
- `probes`: machine probes as commands on PATH (tests put recorded outputs in their place)
- `doctor`: one line per check; `wandb_auth`: the W&B login, never printing the key
- `hf_auth`: the Hugging Face token, access to the gated base model, its download to the volume
"""
