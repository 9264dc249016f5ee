# Two commands on a fresh Debian or Ubuntu machine: `make demo` and `make test`.
# Both run `setup` first, which installs only what is missing.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PACKAGES := gcc make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
JOBS ?= 2

.PHONY: setup deb venv test demo bench lint clean fuzz-protocol kill-test

setup: deb venv

deb:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

# Reinstalls only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml
	@[ -x $(VPY) ] || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[test]'
	@touch $@

test: setup
	$(VPY) -m pytest -n $(JOBS) -q

demo: setup
	$(VENV)/bin/mcu-mobilenet demo

bench: setup
	$(VPY) -m mcu_mobilenet.benchmarks

# The serial protocol against the firmware in QEMU, long runs of what `make test` runs small:
# 1,000 fuzzed frames, and a 150 KB input sent 20 times while two busy loops load the host.
fuzz-protocol: setup
	MM_PROTOCOL_FUZZ_FRAMES=1000 MM_LOADED_TRANSFERS=20 \
	  $(VPY) -m pytest -q -s tests/test_protocol_robustness.py

# bench, run, validate and sweep killed (SIGTERM) at 20 random moments: no emulator left
# running, no temporary folder left (`make test` runs 5).
kill-test: setup
	MM_KILL_ROUNDS=20 $(VPY) -m pytest -q -s tests/test_termination.py -k killed_commands

# CMSIS-NN for the cmsis-nn backend: downloads the pinned release into third_party/ and checks
# its content hash (mcu_mobilenet/cmsis_nn.py). CMSIS_NN_PATH=<checkout> uses one you have.
.PHONY: cmsis-nn
cmsis-nn: venv
	$(VPY) -m mcu_mobilenet.cmsis_nn fetch

lint: setup
	$(VENV)/bin/ruff check mcu_mobilenet codegen tests
	$(VENV)/bin/ruff format --check mcu_mobilenet codegen tests

clean:
	rm -rf build out .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
