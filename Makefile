# kestrel — the two commands of the README:
#   make demo   install deps, build, fetch models, detect faces in a sample image
#   make test   install deps, build (+ sanitizer build), run the whole test suite
BUILD ?= build
BUILD_SAN ?= build-asan
JOBS ?= $(shell nproc)
IMAGE ?= images/ultraface/17.jpg

.PHONY: deps build models demo test test-fast test-san clean

deps:
	@bash scripts/setup.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

models:
	@bash scripts/fetch-models.sh

demo: build models
	KESTREL_MODELS=$(CURDIR)/models $(BUILD)/kestrel detect $(IMAGE) --json out/detections.json --draw out/
	@echo "demo: JSON in out/detections.json, drawn image in out/"

# The whole suite: release build tests (ONNX conformance, CPU reference vs
# onnxruntime on every shared model, detectors vs reference outputs, bad
# inputs, GPU tests that skip without a GPU), then the tests
# again under ASan+UBSan (every test but valgrind and the slow detector
# reference sweep and batch-rewrite check, which run in the release build).
test: build models
	@KESTREL_MODELS=$(CURDIR)/models KESTREL_IMAGES=$(CURDIR)/images \
	    ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	@$(MAKE) --no-print-directory test-san

test-san: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DKS_SANITIZE=ON -DKS_ENABLE_CUDA=OFF >/dev/null
	@cmake --build $(BUILD_SAN) -j$(JOBS)
	@KESTREL_MODELS=$(CURDIR)/models KESTREL_IMAGES=$(CURDIR)/images ASAN_OPTIONS=detect_leaks=1 \
	    ctest --test-dir $(BUILD_SAN) --output-on-failure -j$(JOBS) -E "valgrind|test_detect_reference|test_pass_batch"

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
