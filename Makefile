# Paper artifact: hardware-aware differentiable NAS with trade-off control (DARTS-CC x FBNet).
# `make` lists the targets. Every target creates or reuses .venv itself (stamp: .venv/.installed).
# Stages are the notebooks notebooks/NN_*.ipynb (a glob, see nas/pipeline.py); profiles are the
# folders notebooks/params/{smoke,default,full}/.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := nas-hw
PIPELINE := $(PY) -m nas.pipeline run --kernel $(KERNEL)

.DEFAULT_GOAL := help
.PHONY: help venv test reproduce smoke figures runs lab data clean-smoke
PROFILE ?= default
THREADS ?= 0
VENV_NEEDS_KB := 8388608
TORCH_PIN := $(shell sed -n 's/^torch==//p' requirements.txt)

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP) ## create .venv (pinned requirements, editable nas, Jupyter kernel nas-hw)

$(STAMP): requirements.txt pyproject.toml
	@$(PY) -c 'import torch' >/dev/null 2>&1 || { \
	  free_kb=$$(df -Pk . | awk 'NR == 2 {print $$4}'); \
	  if [ "$$free_kb" -lt $(VENV_NEEDS_KB) ]; then \
	    echo "error: only $$((free_kb / 1048576)) GiB free here; the virtual environment needs about 8 GiB" \
	         "(torch $(TORCH_PIN) comes with its CUDA libraries, about 6 GiB installed, plus the downloads)." \
	         "Free some space (old clones' .venv folders, ~/.cache/pip) and run make again." >&2; \
	    exit 1; \
	  fi; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "nas-hw (.venv)"
	@if command -v dot >/dev/null 2>&1; then \
	  echo "graphviz: $$(command -v dot)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing the Debian graphviz binaries (cell diagrams) ..."; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq graphviz >/dev/null 2>&1 \
	    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq graphviz >/dev/null 2>&1; } \
	    || echo "note: could not install graphviz; cell diagrams fall back to matplotlib"; \
	else \
	  echo "note: graphviz 'dot' not found (apt-get install graphviz); cell diagrams fall back to matplotlib"; \
	fi
	@touch $@

test: $(STAMP) ## run all tests (pytest)
	$(PY) -m pytest -q

reproduce: $(STAMP) ## run every stage on the default CPU profile (results and figures are committed)
	$(PIPELINE) --profile default

smoke: $(STAMP) clean-smoke ## run every stage on tiny synthetic settings from scratch (results/smoke, figures/smoke)
	$(PIPELINE) --profile smoke

figures: $(STAMP) ## redraw the figures from the committed results/summary only
	$(PIPELINE) --profile default --only figures

runs: $(STAMP) ## only the search runs of PROFILE, one make target each: make -j 2 runs THREADS=1
	@mkdir -p .make
	$(PY) -m nas plan --profile $(PROFILE) --format make --threads $(THREADS) --python $(PY) > .make/runs-$(PROFILE).mk
	$(MAKE) -f .make/runs-$(PROFILE).mk all

lab: $(STAMP) ## open JupyterLab on notebooks/ (kernel nas-hw; also as root, as in containers)
	$(VENV)/bin/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks/

data: $(STAMP) ## prepare and verify Fashion-MNIST and CIFAR-10 under data/
	$(PY) -m nas.data prepare fashion-mnist cifar10

clean-smoke: ## delete the outputs of `make smoke`
	rm -rf results/smoke figures/smoke notebooks/executed/smoke
