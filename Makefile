# crowdtest: `make run` serves the app with a demo experiment, `make test` runs the suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
REQ_HASH := $(shell sha256sum requirements.txt | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
HOST ?= 127.0.0.1
PORT ?= 8000
# Local runs: debug on, links printed for HOST:PORT, SQLite and in-process tasks unless
# DATABASE_URL / CELERY_BROKER_URL say otherwise.
DEV_ENV := DEBUG=$${DEBUG:-1} PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)}

.PHONY: tools venv run demo test bench lint fmt migrations-check messages worker ci clean help axe vendor-js

help:
	@echo "make run    create the virtualenv, migrate, load the demo experiment, serve http://$(HOST):$(PORT)"
	@echo "make test   run the whole test suite"
	@echo "make bench  run the benchmarks (figures go to docs/benchmarks.md by hand)"
	@echo "make lint   ruff, mypy and the migrations check"

# ffmpeg and espeak-ng: installed from Debian's packages when allowed, else a clear stop.
tools:
	@scripts/need-tools

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

run: tools venv
	@mkdir -p var
	$(DEV_ENV) $(BIN)/python manage.py migrate --no-input
	$(DEV_ENV) $(BIN)/python manage.py load_demo
	$(DEV_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

demo: tools venv
	@mkdir -p var
	$(DEV_ENV) $(BIN)/python manage.py migrate --no-input
	$(DEV_ENV) $(BIN)/python manage.py load_demo

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m bench $(BENCH_ARGS)

# axe-core for the browser tests' accessibility check, from the npm registry, kept in the
# user's cache (the tests look there, or at AXE_CORE_JS).
AXE_VERSION := 4.14.1
AXE_DIR := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/crowdtest/axe-core-$(AXE_VERSION)

axe: $(AXE_DIR)/package/axe.min.js

$(AXE_DIR)/package/axe.min.js:
	@mkdir -p $(AXE_DIR)
	cd $(AXE_DIR) && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
	  && tar -xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js && rm axe-core-$(AXE_VERSION).tgz

# Chart.js for the Results tab's interactive plots, from the npm registry, committed under
# static/vendor/ (served from our own static files; the source-map line is dropped, as no
# map is shipped).
CHARTJS_VERSION := 4.6.1
vendor-js:
	@rm -rf var/chartjs && mkdir -p var/chartjs static/vendor/chartjs
	cd var/chartjs && npm pack --silent chart.js@$(CHARTJS_VERSION) >/dev/null && tar -xzf chart.js-$(CHARTJS_VERSION).tgz
	grep -v '^//# sourceMappingURL=' var/chartjs/package/dist/chart.umd.min.js > static/vendor/chartjs/chart.umd.min.js
	cp var/chartjs/package/LICENSE.md static/vendor/chartjs/LICENSE.md
	echo $(CHARTJS_VERSION) > static/vendor/chartjs/VERSION
	@rm -rf var/chartjs

lint: venv migrations-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations-check: venv
	@mkdir -p var
	CROWDTEST_INSECURE_DEFAULTS=1 $(BIN)/python manage.py makemigrations --check --dry-run

# The rater's languages (locale/): gather newly marked strings into the .po files, then
# compile the .mo files the app reads (both committed; needs GNU gettext).
MESSAGE_LANGUAGES := de fr es
messages: venv
	CROWDTEST_INSECURE_DEFAULTS=1 $(BIN)/python manage.py makemessages --no-location \
	  $(addprefix -l ,$(MESSAGE_LANGUAGES)) -i ".venv/*" -i "var/*" -i "tests/*" -i "bench/*" -i "modeling/*"
	CROWDTEST_INSECURE_DEFAULTS=1 $(BIN)/python manage.py compilemessages $(addprefix -l ,$(MESSAGE_LANGUAGES))

worker: venv
	$(BIN)/celery -A crowdtest worker -Q default,audio,gpu --loglevel=INFO

ci:
	.ci/run

clean:
	rm -rf var/media var/static var/crowdtest.sqlite3
