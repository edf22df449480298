# The two commands a newcomer needs: `make demo` and `make test`. Each installs into .venv only what it needs:
# the demo gridbot itself (and a CJK font for the digest chart); the tests also their tools and a browser.
PY ?= python3
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint install bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e . -c requirements.lock   # pinned versions (requirements.lock)
	# the digest chart needs a CJK font (Debian's fonts-wqy-microhei); installed only as root with apt-get
	fc-list :lang=zh 2>/dev/null | grep -q . || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && (apt-get install -y -q fonts-wqy-microhei || (apt-get update -q && apt-get install -y -q fonts-wqy-microhei))) || true
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test]' -c requirements.lock
	# the console's browser tests (tests/e2e) drive Debian's chromium + chromium-driver; installed only as root with apt-get
	command -v chromium >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && (apt-get install -y -q chromium chromium-driver || (apt-get update -q && apt-get install -y -q chromium chromium-driver))) || true
	touch $(TEST_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gridbot demo --port $(PORT)

test: $(TEST_STAMP)
	$(BIN)/pytest -q

# ruff (style, imports, bugbear, late imports) and mypy (types), configured in pyproject.toml; both always run.
lint: $(TEST_STAMP)
	status=0; $(BIN)/ruff check . || status=1; $(BIN)/mypy || status=1; exit $$status

bench: $(TEST_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache
