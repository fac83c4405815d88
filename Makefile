# The two commands: `make demo` and `make test` (see README.md).
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup bench install uninstall clean

setup:
	@./scripts/bootstrap

demo: setup
	$(BIN)/nightcramp demo

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/python -m benchmarks

# Install as a system service (run as root); see docs/install.md.
# PREFIX, CONFDIR, DESTDIR, NIGHTCRAMP_INSTALL_DRYRUN=1 and PURGE=1 are passed through.
install:
	@./scripts/install

uninstall:
	@./scripts/uninstall

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache benchmarks/out
