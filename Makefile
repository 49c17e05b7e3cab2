# Knowledge-distillation book. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Offline machines keep the data sets in ../shared/data; use it when present.
SHARED_DATA := $(wildcard ../shared/data)
ifneq ($(SHARED_DATA),)
export KD_DATA_DIR ?= $(abspath $(SHARED_DATA))
export KD_OFFLINE ?= 1
endif

PROFILE ?= cpu
PROFILES := smoke cpu full auto
# reproduce: the NOTEBOOKS given; else every chapter with ALL=1; else the stale ones (kdbook.fingerprint)
REPRODUCE_ASKED := $(if $(filter undefined,$(origin NOTEBOOKS)),,$(NOTEBOOKS))
NOTEBOOKS ?= $(wildcard notebooks/*.ipynb)

# Check PROFILE before anything is installed or run.
ifneq ($(filter reproduce,$(MAKECMDGOALS)),)
ifneq ($(words $(PROFILE)) $(filter $(PROFILES),$(PROFILE)),1 $(strip $(PROFILE)))
$(error PROFILE='$(PROFILE)' is invalid; use one of: $(PROFILES))
endif
endif

.PHONY: help book test test-browser reproduce dry-run teachers smoke-reference clean colab

help:
	@echo "make book                     build the HTML book into _build/html"
	@echo "make test                     unit tests, papermill smoke runs, book build"
	@echo "make test-browser             the built book in headless Chromium (installs chromium)"
	@echo "make reproduce PROFILE=cpu    execute the stale notebooks in place (smoke|cpu|full|auto), then"
	@echo "      print the regression report (_build/regression/report.md); fails if a claim fails"
	@echo "      NOTEBOOKS=notebooks/x.ipynb to run a single notebook; ALL=1 to run every one;"
	@echo "      two at a time, one thread each, longest first (JOBS=1: one at a time, every thread)"
	@echo "      COLD=1: never load the book's shipped teachers (teachers/), train them"
	@echo "make dry-run                  every notebook's full profile on the CPU, 2 batches per loop"
	@echo "make teachers                 retrain every shipped teacher from an empty cache, rewrite teachers/"
	@echo "      (about 2.8 h of one thread); CACHE=dir exports them from an existing model cache instead"
	@echo "make smoke-reference          rewrite tests/smoke_reference.json on purpose"
	@echo "make colab                    write colab/<chapter>.ipynb, what each chapter's Colab badge opens"
	@echo "make clean                    remove _build"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt -e .
	touch $@

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W --keep-going

test: $(STAMP)
	$(PY) -m pytest -m "not browser"

# Debian's chromium, installed on first use (root, or sudo); Playwright drives it.
test-browser: $(STAMP)
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	$(PY) -m pytest -m browser

# Training bars would be saved into the notebooks as widgets; papermill's own cell bar shows progress.
# The results the run replaces are kept in _build/regression/before for the regression report.
# A cpu run writes results/ (what the book shows); any other profile results/<profile>/, and is
# compared with the earlier runs of its own profile.
REGRESSION := _build/regression
reproduce: $(STAMP)
	set -e; nbs="$(strip $(REPRODUCE_ASKED))"; \
	if [ -z "$$nbs" ] && [ "$(ALL)" = 1 ]; then nbs="$(NOTEBOOKS)"; fi; \
	if [ -z "$$nbs" ]; then $(PY) -m kdbook.fingerprint; nbs=$$($(PY) -m kdbook.fingerprint --names); fi; \
	if [ -z "$$nbs" ]; then echo "every chapter is current: nothing to run (ALL=1 runs them all)"; exit 0; fi; \
	profile=$$($(PY) -c "from kdbook.profiles import resolve_profile; print(resolve_profile('$(PROFILE)'))"); \
	res=results; [ "$$profile" = cpu ] || res=results/$$profile; \
	rm -rf $(REGRESSION)/before && mkdir -p $(REGRESSION)/before; \
	cp $$res/*.json $(REGRESSION)/before/ 2>/dev/null || true; \
	ran=0; $(if $(filter 1,$(COLD)),KD_TEACHERS=0) KD_PROGRESS=$${KD_PROGRESS:-0} $(PY) -m kdbook.reproduce --profile $$profile --results $$res \
	  $(if $(JOBS),--jobs $(JOBS)) $$nbs || ran=$$?; \
	$(PY) -m kdbook.regression report --before $(REGRESSION)/before --after $$res --out $(REGRESSION) $$nbs || ran=1; \
	if [ "$$profile" = cpu ]; then $(PY) -m kdbook.colab $$(for n in $$nbs; do basename $$n .ipynb; done) || ran=1; fi; \
	exit $$ran

# The full profile's code path on the CPU: full-size models, data, budgets and grids, 2 batches
# per training loop (see kdhelpers/dryrun.py). Results and notebooks go to _build/dry-run only.
dry-run: $(STAMP)
	mkdir -p _build/dry-run
	set -e; for nb in $(NOTEBOOKS); do \
	  echo "== $$nb (full profile, dry run)"; \
	  KD_DRY_RUN=1 KD_PROGRESS=0 KD_RESULTS_DIR=$(abspath _build/dry-run/results) \
	  KD_CACHE_DIR=$(abspath _build/dry-run/cache) $(PY) -m papermill "$$nb" \
	    "_build/dry-run/$$(basename $$nb)" -p profile full --cwd notebooks; \
	done

# The book's trained teachers (kdbook/teachers.py): trained afresh in an empty cache, as the
# chapters' notebooks train them (kdbook/build_teachers.py), then exported with a new manifest.
TEACHERS_CACHE := _build/teachers-cache
teachers: $(STAMP)
	$(if $(CACHE),,rm -rf $(TEACHERS_CACHE))
	KD_TEACHERS=0 KD_CACHE_DIR=$(abspath $(or $(CACHE),$(TEACHERS_CACHE))) $(PY) -m kdbook.build_teachers --out teachers

smoke-reference: $(STAMP)
	$(PY) -m kdbook.regression smoke-reference --out tests/smoke_reference.json $(NOTEBOOKS)

# What each chapter's "Open in Colab" badge opens: the chapter without papermill's injected profile,
# with its MyST roles rendered and absolute links (kdbook/colab.py); tests/test_colab.py checks them.
colab: $(STAMP)
	$(PY) -m kdbook.colab

clean:
	rm -rf _build
