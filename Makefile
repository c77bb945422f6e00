.PHONY: serve test lint

serve:
	bash scripts/serve.sh

test:
	bash scripts/test.sh $(ARGS)

lint:
	.venv/bin/ruff check taichu tests bench
	.venv/bin/ruff format --check taichu tests bench
