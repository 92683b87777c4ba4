VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz

.PHONY: demo test install system-deps clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) system-deps

# Debian packages: the full Fashion-MNIST (the demo falls back to the embedded subset without
# it) and Chromium for the review App's browser test. Installed when running as root.
system-deps:
	@missing=""; \
	[ -e $(FASHION_MNIST) ] || missing="$$missing dataset-fashion-mnist"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "please install with apt-get:$$missing"; exit 1; \
		fi; \
	fi

demo: install
	$(VENV)/bin/curate demo

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
