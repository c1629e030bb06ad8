# UltraZend recovery runbook. Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PARAMS ?= params/sandbox.yaml
SCENARIO ?= email_verified_only

.PHONY: setup demo test lab bench clean sandbox-up sandbox-down system-deps test-deps

setup: $(VENV)/.installed sandbox/node_modules/.installed system-deps ## venv + npm packages (idempotent)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

sandbox/node_modules/.installed: sandbox/package.json sandbox/package-lock.json
	cd sandbox && npm ci --no-audit --no-fund
	touch $@

system-deps: ## tools the runbook drives on the host
	scripts/ensure-debian-packages sqlite3=sqlite3 git=git

test-deps: ## a real OpenSSH server and a headless browser for the tests
	scripts/ensure-debian-packages /usr/sbin/sshd=openssh-server chromium=chromium,fonts-liberation

demo: setup ## bring the sandbox up broken, then repair it with the whole runbook
	$(BIN)/runbook sandbox up --scenario $(SCENARIO)
	$(BIN)/runbook run $(PARAMS) --apply

test: setup test-deps ## every test: library, CLI, sandbox, SSH, notebooks, end to end
	$(BIN)/python -m pytest

lab: setup ## JupyterLab on the notebooks (run them in order against the sandbox)
	$(BIN)/jupyter lab notebooks/

bench: setup ## the benchmarks of bench/, each against a baseline measured in the same run
	$(BIN)/python bench/run_all.py

sandbox-up: setup
	$(BIN)/runbook sandbox up --scenario $(SCENARIO)

sandbox-down:
	$(BIN)/runbook sandbox down

clean:
	-$(BIN)/runbook sandbox down
	rm -rf $(VENV) sandbox/node_modules
