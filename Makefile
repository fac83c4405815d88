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

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache benchmarks/out
