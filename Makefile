# bot4.hft — developer entry points.
#   make lab    boot the local lab and run playbooks/production.yml against it
#   make test   lint, unit tests and the molecule scenarios
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
VBIN := $(CURDIR)/$(VENV)/bin
export PATH := $(VBIN):$(PATH)
export BOT4_CACHE_DIR ?= $(HOME)/.cache/bot4-hft
# Collections resolve from this checkout (ansible_collections/bot4/hft -> repo root).
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.cache/collections:$(CURDIR)/$(VENV)/lib/python3.11/site-packages

VENV_STAMP := $(VENV)/.stamp-$(shell cat requirements.txt requirements-test.txt | sha256sum | cut -c1-16)

.PHONY: help
help:
	@echo "make lab      boot the lab VMs and run playbooks/production.yml (inventories/lab)"
	@echo "make test     lint + unit tests + molecule scenarios"

$(VENV_STAMP): requirements.txt requirements-test.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VBIN)/pip install -q --disable-pip-version-check -r requirements-test.txt
	touch $@

.PHONY: venv
venv: $(VENV_STAMP) collection-link

# Make this checkout importable as ansible_collections.bot4.hft without building.
.PHONY: collection-link
collection-link:
	mkdir -p .cache/collections/ansible_collections/bot4
	ln -sfn $(CURDIR) .cache/collections/ansible_collections/bot4/hft
