# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' -c requirements.lock   # pinned versions (requirements.lock)
	# the digest chart needs a CJK font (Debian's fonts-wqy-microhei); installed only as root with apt-get
	fc-list :lang=zh 2>/dev/null | grep -q . || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && (apt-get install -y -q fonts-wqy-microhei || (apt-get update -q && apt-get install -y -q fonts-wqy-microhei))) || true
	# the console's browser tests (tests/e2e) drive Debian's chromium + chromium-driver; installed only as root with apt-get
	command -v chromium >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && (apt-get install -y -q chromium chromium-driver || (apt-get update -q && apt-get install -y -q chromium chromium-driver))) || true
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gridbot demo

test: $(STAMP)
	$(BIN)/pytest -q

# ruff (style, imports, bugbear, late imports) and mypy (types), configured in pyproject.toml; both always run.
lint: $(STAMP)
	status=0; $(BIN)/ruff check . || status=1; $(BIN)/mypy || status=1; exit $$status

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache
