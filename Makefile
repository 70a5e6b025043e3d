# prelabel — the two commands a fresh machine needs: `make demo` and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: bench-eval-scale bench-route-compose demo test test-fast venv system assets labelstudio-venv lint typecheck check bench clean fuzz

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[all,sam,dev]"
	touch $(STAMP)

venv: $(STAMP)

## System packages the test suite drives for real (Chromium for the portal tests).
system:
	bash scripts/install-system.sh

## Set up, fetch the default model, pre-label the bundled sample frames, draw overlays.
demo: venv
	rm -rf demo-out
	$(BIN)/prelabel label examples/sample_frames --out demo-out/labels.jsonl   # no --model: the best preset
	$(BIN)/prelabel show demo-out/labels.jsonl --all -o demo-out/overlays
	@echo "labels:   $(CURDIR)/demo-out/labels.jsonl"
	@echo "overlays: $(CURDIR)/demo-out/overlays/"

## Browser assets the portal serves from the package (three.js from npm, exact versions in package-lock.json).
ASSETS := src/prelabel/review/static/vendor/three/three.module.js
$(ASSETS): package.json package-lock.json scripts/build-assets.sh
	bash scripts/build-assets.sh

assets: system $(ASSETS)

## Label Studio in its own venv (.venv-ls, ~1 GB, pinned deps) for the live round-trip test; idempotent.
labelstudio-venv:
	PY=$(PY) bash scripts/labelstudio-venv.sh

## Set up, then run the whole test suite (lint and types first).
test: venv system assets labelstudio-venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python scripts/check_layers.py
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

## Unit tests that need no shared data, model download, browser or server (under a minute).
FAST := -m "not slow and not browser and not ray and not s3 and not data and not model and not server"
test-fast: venv
	$(BIN)/python -m pytest -q $(FAST)

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python scripts/check_layers.py

typecheck:
	$(BIN)/mypy

## Fuzz the service API (schemathesis, ~2 min) against a `prelabel serve` on 127.0.0.1 with a token and one root.
fuzz: venv
	$(BIN)/python scripts/fuzz_service.py --max-time 120

## Every benchmark (benchmarks/bench_*.py); one alone: make bench-NAME (e.g. make bench-detectors).
bench: venv
	@set -e; for f in benchmarks/bench_*.py; do n=$$(basename $$f .py); echo "== $$n"; $(BIN)/python -m benchmarks.$$n; done

bench-eval-scale: venv
	$(BIN)/python -m benchmarks.bench_eval_scale

bench-route-compose: venv
	$(BIN)/python -m benchmarks.bench_route_compose --before $(BEFORE)

## prelabel 0.1 (commit c606d55) as a source tree, for the before/after of bench-route-compose.
BEFORE ?= /tmp/prelabel-c606d55
$(BEFORE):
	mkdir -p $@ && git archive c606d55 src | tar -x -C $@

bench-route-compose: $(BEFORE)

bench-%: venv
	$(BIN)/python -m benchmarks.bench_$*

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache node_modules src/prelabel/review/static/vendor
