# SPDX-License-Identifier: Apache-2.0
# Two commands on a fresh Debian or Ubuntu machine: `make demo` and `make test`.
# Both run `setup` first, which installs only what is missing.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PACKAGES := gcc make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang-format
JOBS ?= 2

.PHONY: setup deb venv test demo bench fuzz fuzz-protocol kill-test lint clean

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
	$(VPY) -m pip install --quiet -e '.[test,cluster]'
	@touch $@

test: setup
	$(VPY) -m pytest -n $(JOBS) -q

demo: setup
	$(VENV)/bin/mcu-mobilenet demo

bench: setup
	$(VPY) -m mcu_mobilenet.benchmarks

# The long fuzzing run (README, "Fuzzing"): FUZZ_RUNS inputs through the .tflite reader and
# the compiler front end, from the seed corpus (and person_detect where ../shared/models has
# it); the corpus it grows is kept in build/fuzz/corpus, any finding in build/fuzz/.
FUZZ_RUNS ?= 100000
SHARED_SEEDS := $(wildcard ../shared/models/person_detect.tflite)
fuzz: setup
	@mkdir -p build/fuzz/corpus build/fuzz/seeds
	@$(if $(SHARED_SEEDS),cp $(SHARED_SEEDS) build/fuzz/seeds/,true)
	$(VPY) fuzz/fuzz_compiler.py -runs=$(FUZZ_RUNS) -timeout=10 -rss_limit_mb=2048 \
	  -print_final_stats=1 -artifact_prefix=build/fuzz/ build/fuzz/corpus fuzz/corpus \
	  fuzz/regressions build/fuzz/seeds

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
# its content hash (mcu_mobilenet/cmsis_nn_release.py). CMSIS_NN_PATH=<checkout> uses one you have.
.PHONY: cmsis-nn
cmsis-nn: venv
	$(VPY) -m mcu_mobilenet.cmsis_nn_release fetch

# Hand-written C: clang-format (.clang-format) and lines of at most 100 columns.
C_SOURCES = $(shell find firmware boards -name '*.[ch]' | sort)

lint: setup
	$(VENV)/bin/ruff check mcu_mobilenet codegen tests fuzz
	$(VENV)/bin/ruff format --check mcu_mobilenet codegen tests fuzz
	@echo 'clang-format --dry-run -Werror on the C sources of firmware/ and boards/'
	@clang-format --dry-run -Werror $(C_SOURCES)
	@awk 'length > 100 { print FILENAME ":" FNR ": longer than 100 columns"; long = 1 } \
	  END { exit long }' $(C_SOURCES)

clean:
	rm -rf build out .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
