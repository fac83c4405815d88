# The two commands: `make demo` and `make test` (see README.md).
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup bench bench-quick install uninstall clean

setup:
	@./scripts/bootstrap

demo: setup
	$(BIN)/nightcramp demo

# The suite runs in TEST_JOBS worker processes (pytest-xdist): most tests wait on a broker, a child
# process or simulated time, so three workers finish sooner than two even on a 2-core machine.
# TEST_JOBS=0 runs it in one process.
TEST_JOBS ?= 3

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_JOBS)

# Every benchmark, one summary line each; full runs write their figures into docs/ (see README.md).
bench: setup
	$(BIN)/python -m benchmarks

# The same at small size, to see that they all work (writes nothing into docs/).
bench-quick: setup
	$(BIN)/python -m benchmarks --quick

# Install as a system service (run as root); see docs/install.md.
# PREFIX, CONFDIR, DESTDIR, NIGHTCRAMP_INSTALL_DRYRUN=1 and PURGE=1 are passed through.
install:
	@./scripts/install

uninstall:
	@./scripts/uninstall

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache benchmarks/out
