.PHONY: serve test test-fast lint

serve:
	bash scripts/serve.sh

test:
	bash scripts/test.sh $(ARGS)

# Quick loop: what needs no lab (no clusters, SSH hosts or MinIO), on SQLite.
test-fast:
	bash scripts/bootstrap.sh --test
	TAICHU_TEST_DB=sqlite .venv/bin/pytest -n "$${TAICHU_TEST_WORKERS:-2}" -q -p no:cacheprovider -m "not lab and not slow and not web" $(ARGS)

lint:
	.venv/bin/ruff check taichu tests bench
	.venv/bin/ruff format --check taichu tests bench
