# The two entry points: `make run` (set up, then the main job on the tiny profile) and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 DAGSTER_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 \
	DVC_NO_ANALYTICS=1 PATH="$(CURDIR)/.venv/bin:$(CURDIR)/.venv-dvc/bin:$$PATH" DAGSTER_HOME="$(CURDIR)/.dagster_home"

.PHONY: setup run ui report demo data foundations train evaluate test bench

setup:
	@bash scripts/setup.sh

# The whole lineage for every variant in params.yaml (dvc.yaml); finished stages are skipped, so it resumes.
run: setup
	$(OFFLINE) dvc repro
	@$(OFFLINE) $(PY) -m orchestration.dvc_state
	@$(OFFLINE) $(PY) -m reports.cli --where

# The Dagster UI on http://127.0.0.1:3000 (asset graph, partitions A-F, checks, schedule and sensor).
ui: setup
	$(OFFLINE) dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# Only the report (and the tables), from the results there are.
report: setup
	$(OFFLINE) dvc repro comparison_report
	@$(OFFLINE) $(PY) -m reports.cli --where

demo: setup data
	$(OFFLINE) $(PY) -m janusflow.cli.demo --out artifacts/demo

data: setup
	$(OFFLINE) $(PY) -m data.cli shapes-world
	$(OFFLINE) $(PY) -m data.cli filter
	$(OFFLINE) $(PY) -m data.cli shards

foundations: data
	$(OFFLINE) $(PY) -m janusflow.foundations.cli all

VARIANT ?= F
train: foundations
	for stage in stage1 stage2 stage3; do $(OFFLINE) $(PY) -m janusflow.training.cli $$stage --variant $(VARIANT) || exit 1; done

evaluate: train
	$(OFFLINE) $(PY) -m evals.cli variant --variant $(VARIANT) --sweep
	$(OFFLINE) $(PY) -m evals.cli tables

test: setup
	@bash scripts/browser.sh
	$(OFFLINE) $(PY) -m pytest -q

bench: setup
	$(OFFLINE) $(PY) benchmarks/sampling.py
	$(OFFLINE) $(PY) benchmarks/data_loading.py
	$(OFFLINE) $(PY) benchmarks/training.py
	$(OFFLINE) $(PY) benchmarks/generation_step.py
	$(OFFLINE) $(PY) benchmarks/detector.py
