# bot4.hft — developer entry points.
#   make lab    boot the local lab (VMs + lab Kubernetes cluster, the VM joined
#               as a kubelet node) and run playbooks/production.yml against it
#   make test   lint, unit tests, the cluster tests and the node suite on a lab VM
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
	@echo "make lab      boot the lab VMs, start the lab cluster, join the VMs, run playbooks/production.yml"
	@echo "make test     lint + unit tests + cluster tests + the node suite on a joined lab VM"
	@echo "make molecule the node suite on a standalone lab VM (molecule test -s node; not part of make test)"
	@echo "make cluster-build|cluster-up|cluster-down|cluster-test   the lab Kubernetes cluster (lab/cluster)"
	@echo "make lab-down / lab-destroy   stop (destroy) the lab VMs and the lab cluster"
	@echo "make fleet N=100 / fleet-down   a simulated fleet of N nodes with kwok Nodes (lab/fleet, docs/fleet.md)"
	@echo "make bench-fleet  the controller's cost on simulated fleets of 10, 50 and 100 nodes"

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

# ---------------------------------------------------------------------------
# Host packages (Debian). Every */host-packages.txt lists what that part needs.
HOST_PACKAGE_FILES := $(wildcard lab/host-packages.txt lab/cluster/host-packages.txt tools/host-packages.txt tests/matrix/host-packages.txt)

# $(call install-host-packages,FILES): apt-get install what FILES list and dpkg lacks.
define install-host-packages
@pkgs=$$(cat $(1) /dev/null | sed 's/#.*//' | tr -s ' \t' '\n' | sort -u | grep -v '^$$' || true); \
missing=$$(for p in $$pkgs; do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
if [ -n "$$missing" ]; then \
  echo "installing host packages: $$missing"; \
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
else echo "host packages present"; fi
endef

.PHONY: host-deps
host-deps:
	$(call install-host-packages,$(HOST_PACKAGE_FILES))

# ---------------------------------------------------------------------------
# Tests
.PHONY: test lint yamllint ansible-lint unit k8s-static collection-check molecule molecule-node
# tests/suite.sh runs the phases in order and prints where the time went:
# static checks (the lab build starts beside them, in the background), the
# cluster tests without a VM, then the cluster tests on one lab VM joined as a
# kubelet node, which also run the node suite (molecule/node/tests) from inside
# it. One TCG VM at a time.
test: venv host-deps collection-link
	VBIN=$(VBIN) bash tests/suite.sh

lint: venv yamllint ansible-lint

yamllint: venv
	yamllint -s .

ansible-lint: venv
	ansible-lint --profile production

unit: venv
	pytest tests/unit

# The k8s/ tree and monitoring rules: kustomize build of every overlay, schema
# validation, security scan, promtool rule tests (tools pinned in tools/k8s-tools.sh).
k8s-static: venv
	pytest tests/k8s

# Build the collection tarball and install it into a scratch path (build/).
.PHONY: collection-build galaxy-import ee-context
collection-build: venv
	rm -rf build && mkdir -p build/install
	ansible-galaxy collection build --output-path build .
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/build/install \
	  ansible-galaxy collection install --offline --no-deps --force -p build/install build/bot4-hft-*.tar.gz
	test -f build/install/ansible_collections/bot4/hft/MANIFEST.json

# The built tarball: its modules, filters and roles resolve as bot4.hft.* from
# the installed copy; galaxy-importer takes it; the execution environment's
# build context is written from it.
collection-check: collection-build
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/build/install:$(CURDIR)/$(VENV)/lib/python3.11/site-packages \
	  tests/collection_check.sh
	tests/ee_check.sh
	tests/galaxy_import.sh

# Galaxy's import check (galaxy-importer, no container engine) on the tarball.
galaxy-import: collection-build
	tests/galaxy_import.sh

# execution-environment.yml: the build context (ansible-builder create) and the
# collection's dependencies as ansible-builder finds them; no container engine.
ee-context: collection-build
	tests/ee_check.sh

# The collection's documentation the way Galaxy and the Ansible docsite take it.
# docs-lint: antsibull-docs' linter (the docs' schema and markup, every
# reference to a module, plugin, role or option of this collection and of
# ansible.builtin; from the source tree it does not see galaxy.yml's
# dependencies, and `--validate-collection-refs all`, which loads every
# collection of the ansible package, takes 8 minutes here). docs: antsibull-docs writes reStructuredText for every module,
# filter and role, Sphinx the HTML: build/docs/html/index.html.
.PHONY: docs docs-lint
docs: venv collection-link
	rm -rf build/docs && mkdir -p -m 755 build/docs/rst
	antsibull-docs collection --use-current --squash-hierarchy --fail-on-error \
	  --output-format simplified-rst --dest-dir build/docs/rst bot4.hft
	sphinx-build -q -W --keep-going -b html -c docs/sphinx build/docs/rst build/docs/html
	@echo "docs: $(CURDIR)/build/docs/html/index.html"

docs-lint: venv collection-link
	antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs dependent \
	  --check-extra-docs-refs .cache/collections/ansible_collections/bot4/hft

# ansible-test sanity on the pinned ansible-core, from an
# ansible_collections/bot4/hft copy of the tree (tests/sanity/run.sh), in a tox
# virtualenv with ansible-test's own requirement pins (tox.ini).
.PHONY: sanity matrix
sanity: venv
	tox -e sanity

# The version matrix: sanity and the unit tests on the oldest supported
# ansible-core (meta/runtime.yml) and on the newest. The pinned one is
# `make sanity` and `make unit`. ansible-core 2.20 and later need Python 3.12 or
# later on the controller: a python3.13 or python3.12 that runs on PATH, else
# CPython 3.13 built from its pinned source tarball into $(BOT4_CACHE_DIR)/python/
# (tests/matrix/python.sh, once; its build packages in tests/matrix/host-packages.txt).
# BOT4_PY312=/path/to/python picks one.
MATRIX_HOST_PACKAGE_FILES := tests/matrix/host-packages.txt

.PHONY: matrix-python matrix-host-deps
matrix-host-deps:
	$(call install-host-packages,$(MATRIX_HOST_PACKAGE_FILES))

# The Python 3.12+ of the matrix, built when none is found (its path, last line).
matrix-python:
	@if ! tests/matrix/python.sh found >/dev/null; then \
	  $(MAKE) --no-print-directory matrix-host-deps; fi
	tests/matrix/python.sh find

matrix: venv matrix-python
	tox -e sanity-core217,units-core217
	BOT4_PY312=$$(tests/matrix/python.sh find) tox -e sanity-core221,units-core221

MOLECULE_SCENARIOS ?= node
molecule: venv host-deps collection-link
	@for s in $(MOLECULE_SCENARIOS); do \
	  echo "== molecule test -s $$s"; \
	  rm -f .cache/test-reports/molecule-$$s-*.txt; \
	  molecule test -s $$s || { rc=$$?; $(MAKE) --no-print-directory lab-clean-molecule; \
	    $(MAKE) --no-print-directory molecule-report MOLECULE_SCENARIOS=$$s; exit $$rc; }; \
	done

# After a failed scenario: the verifiers' short test summaries, printed last so
# they are what a CI log's tail shows.
.PHONY: molecule-report
molecule-report:
	@for f in $(foreach s,$(MOLECULE_SCENARIOS),.cache/test-reports/molecule-$(s)-*.txt); do \
	  [ -f "$$f" ] || continue; \
	  echo "== $$f"; \
	  if grep -q 'short test summary info' "$$f"; then \
	    sed -n '/short test summary info/,$$p' "$$f" | cut -c1-400; \
	  else tail -n 30 "$$f" | cut -c1-400; fi; \
	done

molecule-node: MOLECULE_SCENARIOS = node
molecule-node: molecule

.PHONY: bench-tune
# Figures of a tuning run on a fresh lab VM (first converge, no-op re-run, reboots).
bench-tune: venv host-deps
	$(VBIN)/python bench/node_tune.py

# ---------------------------------------------------------------------------
# A simulated fleet (lab/fleet, docs/fleet.md): N node trees from real machine
# shapes, their inventory (.lab/fleet/hosts.yml), and kwok Nodes of the same
# names with pods in the lab cluster FLEET_CLUSTER (started, or reused).
#   make fleet N=100 && ansible-playbook -i .lab/fleet/hosts.yml playbooks/tune_nodes.yml
N ?= 10
FLEET_DIR ?= $(CURDIR)/.lab/fleet
FLEET_CLUSTER ?= fleet
FLEET_PODS ?= 2
FLEETCTL := $(VBIN)/python lab/fleet/fleetctl.py

.PHONY: fleet fleet-down bench-fleet
fleet: venv collection-link cluster-build
	$(FLEETCTL) build --nodes $(N) --dir $(FLEET_DIR)
	$(FLEETCTL) cluster --dir $(FLEET_DIR) --cluster $(FLEET_CLUSTER) --pods-per-node $(FLEET_PODS)

fleet-down:
	$(CLUSTERCTL) down --name $(FLEET_CLUSTER)
	rm -rf $(FLEET_DIR)

# The controller's figures on simulated fleets (bench/fleet.py; several minutes).
bench-fleet: venv collection-link cluster-build
	$(VBIN)/python bench/fleet.py --json bench/results/fleet-2core.json

.PHONY: lab-clean-molecule
lab-clean-molecule:
	-$(VBIN)/python lab/labctl.py destroy --name molecule-node

# ---------------------------------------------------------------------------
# The lab Kubernetes cluster (lab/cluster/README.md): control plane, kubelet,
# etcd, kwok, containerd and the CNI plugins built from the Go module proxy
# (cached under $(BOT4_CACHE_DIR)), running on the host's loopback.
LAB_NAME ?= lab
CLUSTER_NAME ?= $(LAB_NAME)
# inventories/lab deploys 5 engines (one per node) + a canary + a spare.
CLUSTER_KWOK_NODES ?= 7
CLUSTERCTL := $(VBIN)/python lab/cluster/clusterctl.py

.PHONY: cluster-build cluster-up cluster-join cluster-down cluster-test
cluster-build: venv host-deps
	$(CLUSTERCTL) build --images --node

cluster-up: cluster-build
	$(CLUSTERCTL) up --name $(CLUSTER_NAME) --kwok-nodes $(CLUSTER_KWOK_NODES)

# The lab VMs join the cluster as real kubelet nodes (boots/starts what is missing).
cluster-join: lab-up cluster-up
	$(CLUSTERCTL) join-node --name $(CLUSTER_NAME) --lab $(LAB_NAME)

cluster-down:
	$(CLUSTERCTL) down --name $(CLUSTER_NAME)

# The cluster's own tests, incl. a lab VM joining a fresh cluster (one VM boot).
# cluster-test-vm: only those on the lab VM (pytest marker vm).
.PHONY: cluster-test cluster-test-vm
cluster-test: venv host-deps cluster-build
	pytest tests/cluster -m "not realtime" --durations=25

cluster-test-vm: venv host-deps cluster-build
	pytest tests/cluster -m "vm and not realtime" --durations=25

# The real-time kernel scenario (kernel.realtime) on its own joined lab VM: the
# VM downloads Debian's linux-image-rt-amd64 and reboots twice (about 15 minutes
# under TCG), and leaves the node untuned with the RT kernel installed; not part
# of make test (its time budget), run before a release that touches the kernel path.
.PHONY: test-realtime
test-realtime: venv host-deps cluster-build
	pytest tests/cluster -m realtime --durations=10

# ---------------------------------------------------------------------------
# The local lab: VMs that look like two-socket HFT servers, the lab cluster
# with the VMs joined, then the main job.
LAB_NODES ?= 1

.PHONY: lab lab-up lab-down lab-destroy
lab: venv host-deps lab-up cluster-up cluster-join
	BOT4_LAB_CLUSTER=$(CLUSTER_NAME) ansible-playbook -i inventories/lab playbooks/production.yml

lab-up: venv host-deps
	$(VBIN)/python lab/labctl.py up --name $(LAB_NAME) --nodes $(LAB_NODES) --inventory inventories/lab/hosts.yml

lab-down:
	$(VBIN)/python lab/labctl.py down --name $(LAB_NAME)
	$(CLUSTERCTL) down --name $(CLUSTER_NAME)

lab-destroy:
	$(VBIN)/python lab/labctl.py destroy --name $(LAB_NAME)
	$(CLUSTERCTL) down --name $(CLUSTER_NAME) --purge
	rm -f inventories/lab/hosts.yml
