# The README's commands. `make demo` and `make test` each do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.vaearr-installed
OUT    ?= out/demo
TORCH_VERSION ?= 2.13.0

.PHONY: setup sysdeps demo test test-all lint serve bench docs notebooks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, the CPU build where there is no GPU (PyTorch's CPU index where it answers, else a CPU wheel the
	# configured sources hold): an open range would pull the 6 GB CUDA build. It says which build and its size.
	bash .ci/torch.sh $(BIN)/python $(TORCH_VERSION)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

sysdeps:
	bash .ci/sysdeps.sh

setup: $(STAMP) sysdeps

# the demo needs no system package: only the Python environment
demo: $(STAMP)
	$(BIN)/vaearr demo --out $(OUT)

# test processes: a test file to each in turn, so its module fixtures are built once (2: CI's cores)
TEST_WORKERS ?= 2

# the fast part first, then the end-to-end part (docs build, notebooks, demo, Prefect server, browser, S3 server):
# both run, and the target fails if either does
test: setup
	$(BIN)/python -m pytest -q -m "not slow and not e2e" -n $(TEST_WORKERS) --dist loadfile; fast=$$?; \
	$(BIN)/python -m pytest -q -m "e2e and not slow" -n $(TEST_WORKERS) --dist loadfile; e2e=$$?; \
	test $$fast -eq 0 -a $$e2e -eq 0

test-all: setup
	$(BIN)/python -m pytest -q -m "" -n $(TEST_WORKERS) --dist loadfile

# the house rules (ARCHITECTURE.md, "House rules"): ruff, mypy and import-linter's contracts; fails on any of them.
# The complexity list between them is a report to read, never a failure.
lint: $(STAMP)
	$(BIN)/ruff check
	@echo "complexity (a report, not a check): functions over ruff's bounds"
	$(BIN)/ruff check --select C901,PLR0912,PLR0915 --exit-zero --output-format concise vaearr flows
	$(BIN)/mypy
	$(BIN)/lint-imports

serve: setup
	BIN=$(BIN) bash flows/serve.sh

# the documentation site into site/ (offline; the gallery's examples run: about 2 minutes on 2 cores)
docs: $(STAMP)
	VAEARR_PROGRESS=off $(BIN)/python -m mkdocs build --strict

# the walkthrough notebooks executed (a fresh kernel each) and stored with their outputs; `make docs` executes them too
notebooks: $(STAMP)
	VAEARR_PROGRESS=off $(BIN)/python docs/hooks.py

# every benchmark at its quick size, one after the other (python -m benchmarks list: what each asks; BENCHMARKS.md)
bench: setup
	$(BIN)/python -m benchmarks all

clean:
	rm -rf $(VENV) out .pytest_cache site docs/generated
