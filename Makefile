# Two entry points for a fresh machine: `make demo` and `make test`. Each installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean sysdeps

# the demo needs only what minewatch itself runs on; the tests add pyspark, selenium, schemathesis ...
# (~1.5 GB more), so `make demo` on a fresh machine does not download them
RUNSTAMP := $(VENV)/.installed-run

$(RUNSTAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUNSTAMP)

$(STAMP): pyproject.toml $(RUNSTAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages the tests start or compare against (real tools, started by the tests themselves):
# tshark/softflowd/nfdump/pmacct for captures, NetFlow and sFlow, nft/named-checkzone/ipset for exports, chromium for
# the web pages, poppler and a CJK font for the PDF report, postgresql for the team store; a Java
# runtime (any, default-jre-headless when none) for the Spark path.
SYSPKGS := tshark softflowd nfdump pmacct nftables bind9-utils ipset iproute2 chromium chromium-driver \
	poppler-utils fonts-wqy-microhei postgresql

sysdeps:
	@missing=""; \
	for p in $(SYSPKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "note: missing Debian packages:$$missing (tests that need them will skip)"; fi; \
	fi

demo: $(RUNSTAMP)
	$(BIN)/minewatch demo

test: $(STAMP) sysdeps
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -n 2 --dist loadfile -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP) sysdeps
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
