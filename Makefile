# Everyday commands. Each one is a plain command you can also type yourself.
UV ?= uv
TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test test-pg lint format types ci bench school-day

## run: serve on http://127.0.0.1:8000 (SQLite unless TANDEM_DATABASE_URL says otherwise)
run:
	$(UV) run tandem serve

## test: the suite on SQLite
test:
	$(UV) run --group dev pytest

## test-pg: the suite on PostgreSQL + Redis (TEST_DATABASE_URL, TEST_REDIS_URL)
test-pg:
	TANDEM_TEST_DATABASE_URL=$(TEST_DATABASE_URL) TANDEM_TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(UV) run --group dev pytest

## lint: ruff check and ruff format --check
lint:
	$(UV) run --group dev ruff check .
	$(UV) run --group dev ruff format --check .

## format: sort imports and format in place
format:
	$(UV) run --group dev ruff check --select I --fix .
	$(UV) run --group dev ruff format .

## types: mypy --strict over the packages listed in pyproject.toml
types:
	$(UV) run --group dev mypy

## ci: everything CI runs (.ci/run): lint, types, both test passes
ci:
	bash .ci/run

## bench: run every bench/*.py scenario in turn (the scripts with a __main__ block;
## the others are shared helpers)
bench:
	@found=0; for script in bench/*.py; do \
		name=$$(basename "$$script" .py); \
		grep -q '^if __name__ == "__main__"' "$$script" 2>/dev/null || continue; \
		found=1; echo "==> bench/$$name.py"; \
		$(UV) run --group dev python -m "bench.$$name" || exit 1; \
	done; \
	[ "$$found" = 1 ] || echo "no benchmark scripts in bench/ yet"

## school-day: the capacity benchmark (bench/school_day.py): a simulated school on PostgreSQL
## + Redis and two servers, learners ramped until PUT p99 passes 250 ms or an event is lost;
## add options with ARGS="--soak 10 --learners 400" or ARGS="--rolling-restart"
school-day:
	$(UV) run --group dev python -m bench.school_day --redis-url $(BENCH_REDIS_URL) $(ARGS)
