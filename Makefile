# CurveBench: `make bench` runs the main study on the shipped tables, `make test` runs the tests.
# Both set everything up first (a virtual environment in .venv) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch by default. On a CUDA machine: make setup TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,optuna,smac,dehb,adastop
# dehb 0.1.2 pins numpy<2 but runs on numpy 2 (which pyarrow needs): install it without its pins
DEHB_SPEC ?= dehb==0.1.2
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# Raw datasets: $CURVEBENCH_DATA_ROOT, else ../shared/datasets when it exists beside the checkout.
ifeq ($(origin CURVEBENCH_DATA_ROOT), undefined)
ifneq ($(wildcard ../shared/datasets/SHA256SUMS),)
export CURVEBENCH_DATA_ROOT := $(abspath ../shared/datasets)
endif
endif
export PYTHONHASHSEED := 0

.PHONY: help setup test test-slow test-all test-docs bench report readme-figures perf perf-quick perf-report $(PERF_TARGETS) lint format surrogates tables fcnet-grid clean-venv

# The full FCNet grid of one dataset (62,208 configurations x 4 seeds x 100 epochs), sized for a GPU: every run of one
# (batch size, widths) shape in one group (432 configurations x 4 seeds), one group per shard, outside the repository
GRID_DATASET ?= naval
GRID_DIR ?= grid
GRID = family=fcnet dataset=$(GRID_DATASET) n_configs=62208 'seeds=[0,1,2,3]' name=fcnet-$(GRID_DATASET)-grid \
	max_group=1728 shard_runs=1728 shard_seconds=604800 device=auto \
	sweeps_dir=$(GRID_DIR)/sweeps tables_dir=$(GRID_DIR)/tables

help:
	@echo "make setup             create .venv and install CurveBench with its extras (CPU torch; TORCH_SPEC=torch for CUDA)"
	@echo "make bench             run the default study (shipped tables, their surrogates, published tables) and its report"
	@echo "make report STUDY=NAME write the report of a study's results"
	@echo "make readme-figures    copy the README figures from the bench and mo reports into docs/figures"
	@echo "make test              run the test suite (fast tests)"
	@echo "make test-slow         the slow tests only; make test-all: every test"
	@echo "make test-docs         run every command of README.md, docs/ and data/README.md with small budgets (minutes)"
	@echo "make perf              performance against baselines measured in the same run (every section; 10 min: on a slower machine each section cuts rounds or sizes to fit, and says what)"
	@echo "make perf-quick        every section in its quick mode (smaller sizes, unclocked: a CI smoke test, a few minutes)"
	@echo "make perf-tables, make perf-simulator, make perf-optimizers, make perf-training, make perf-surrogates, make perf-studies, make perf-scaling, make perf-multiobjective: one section"
	@echo "make perf-report       docs/performance.md from the saved results of the last make perf (.perf/)"
	@echo "make surrogates        fit the shipped surrogates and regenerate their quality cards"
	@echo "make tables            regenerate the shipped tables from real training (hours on a CPU)"
	@echo "make fcnet-grid        the full FCNet grid of GRID_DATASET (naval) on a GPU, its projected time first"
	@echo "make lint              ruff check and ruff format --check; make format: ruff format"
	@echo "make clean-venv        remove .venv"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(if $(findstring dehb,$(EXTRAS)),$(BIN)/python -m pip install --quiet --no-deps "$(DEHB_SPEC)")
	@touch $@

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

test-all: setup
	$(BIN)/python -m pytest -q -m "slow or not slow"

test-docs: setup
	$(BIN)/python -m pytest -q -m "slow or not slow" tests/test_docs_commands.py

bench: setup
	$(BIN)/python -m runners.bench

report: setup
	$(BIN)/python -m runners.report study=$(or $(STUDY),bench)

# the README's two figures, copied from the reports of `make bench` and `python -m runners.study run study=mo`
README_FIGURES = reports/bench/figures/nregret_over_time.png:docs/figures/bench-nregret.png \
	reports/mo/figures/hv_regret_per_benchmark.png:docs/figures/mo-hv-regret.png
readme-figures:
	@for pair in $(README_FIGURES); do src=$${pair%%:*}; dst=$${pair##*:}; \
		test -f $$src || { echo "error: $$src is missing: run make bench and python -m runners.study run study=mo first" >&2; exit 2; }; \
		cp $$src $$dst && echo "$$src -> $$dst"; done

perf: setup $(VENV)/.installed-perf
	$(BIN)/python -m perf

perf-quick: setup $(VENV)/.installed-perf
	$(BIN)/python -m perf --quick

perf-report: setup
	$(BIN)/python -m perf report --markdown docs/performance.md

PERF_TARGETS := perf-tables perf-simulator perf-optimizers perf-training perf-surrogates perf-studies perf-scaling perf-multiobjective
perf-tables perf-simulator perf-optimizers perf-training perf-surrogates perf-studies perf-scaling perf-multiobjective: setup $(VENV)/.installed-perf
	$(BIN)/python -m perf $(patsubst perf-%,%,$@)

$(VENV)/.installed-perf: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS),perf]" || echo "the extra 'perf' (Syne Tune, pymoo) did not install: make perf skips the Syne Tune comparison and the multiobjective section"
	$(if $(findstring dehb,$(EXTRAS)),$(BIN)/python -m pip install --quiet --no-deps "$(DEHB_SPEC)")
	@touch $@

surrogates: setup
	$(BIN)/python -m surrogates.build
	$(BIN)/python -m runners.card_study

tables: setup
	$(BIN)/python -m data.build

fcnet-grid: setup
	$(BIN)/python -m data.sweep $(GRID) project=true
	$(BIN)/python -m data.sweep $(GRID)

lint: setup
	$(BIN)/ruff check benchmarks surrogates data runners tests perf
	$(BIN)/ruff format --check benchmarks surrogates data runners tests perf

format: setup
	$(BIN)/ruff format benchmarks surrogates data runners tests perf

clean-venv:
	rm -rf $(VENV)
