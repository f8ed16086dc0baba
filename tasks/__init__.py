"""weatherman-lora's task modules, one sub-package per stage of the workflow.

The Makefile is the map: each verb runs one module here as `python -m tasks.<stage>.<module>`.

    data/    build and check the training conversations        make data, validate-data
    train/   turn conversations into tokens and train the LoRA  make train, bench, plan
    setup/   make a machine ready and say what is missing       make setup-h100, setup-m4, preflight-m4, doctor
    run/     start, watch, resume and report on a training run  make train-h100, train-m4, resume, status, eta
    serve/   use the trained adapter: evaluate it, export it    make eval, export

Shared by every stage: `ui` (tagged output, exit codes, atomic writes) and `config` (the training
config, validated whole; `make validate`). `demo` runs every stage on the CPU (`make demo`).
Nothing imports upward: a stage uses `ui`, `config` and the stages before it.
"""
