# Two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BOTARMY := $(VENV)/bin/botarmy
STAMP  := $(VENV)/.installed-stamp
DEMO_OUT ?= .botarmy/demo
# `make test` runs the tests in this many processes, each file's tests in one (pytest-xdist --dist loadfile)
TEST_PROCESSES ?= 2

.PHONY: install console demo up corpus test bench chaos stop clean

$(STAMP): pyproject.toml
	@echo "installing BotArmy into $(VENV) (log: $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@( $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e '.[dev]' ) > $(VENV)/install.log 2>&1 \
		|| { tail -40 $(VENV)/install.log; echo "install failed: see $(VENV)/install.log"; exit 1; }
	@touch $(STAMP)

install: $(STAMP) console

# The web console (web/ -> web/dist, served by the API at /): built when Node.js and npm are there.
console:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		echo "building the web console (log: web/build.log)"; \
		( cd web && npm ci --no-audit --no-fund && npm run build ) > web/build.log 2>&1 \
			|| { tail -30 web/build.log; echo "console build failed: see web/build.log"; exit 1; }; \
	else \
		echo "no Node.js: the API works without the web console; install Node.js 20+ and npm, then run 'make console'"; \
	fi

demo: $(STAMP) console
	@$(BOTARMY) dev --detach
	@$(BOTARMY) run greenfield-service --auto-approve --input for_each_epic=2 \
		--input "project_name=Lunch Orders" --out $(DEMO_OUT)
	@echo
	@echo "--- $(DEMO_OUT)/prd.md (first lines) ---"
	@head -n 16 $(DEMO_OUT)/prd.md
	@echo "---"
	@echo "Artifacts are in $(DEMO_OUT)/ (offline model output). The Web UI link above keeps working."
	@echo "'make stop' stops the Temporal server and the worker; 'make up' adds the REST API."

up: $(STAMP)
	@$(BOTARMY) up

# The upstream BMAD files the tests read: the bmad-method npm package pinned in testkit/corpora.toml, fetched once
# into BOTARMY_CACHE_DIR (else ~/.cache/botarmy); the registry is BOTARMY_NPM_REGISTRY, else npm's own setting.
corpus: $(STAMP)
	@$(PY) -m testkit.corpus fetch

test: $(STAMP) corpus
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist loadfile --durations=25

bench: $(STAMP)
	$(PY) -m bench.run

chaos: $(STAMP)
	$(PY) -m chaos.run

stop: $(STAMP)
	@$(BOTARMY) stop

clean: stop
	rm -rf .botarmy
