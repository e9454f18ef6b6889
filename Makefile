# owl — two commands on a fresh Debian 12 machine:
#   make run    installs missing Debian packages, builds Release, runs the bundled model
#   make test   installs, builds, runs every test (Release, then ASan+UBSan, then fuzzers briefly,
#               then the arm64 build under qemu)
JOBS ?= $(shell nproc)
RELEASE_DIR := build/release
SANITIZE_DIR := build/sanitize
ARM64_DIR := build/arm64
FUZZ_SECONDS ?= 20
PROMPT ?= Once upon a time

.PHONY: all deps build build-sanitize run test test-release test-interop test-serve test-sanitize test-arm64 fuzz-smoke fuzz bench clean

all: build

deps:
	@scripts/install-deps

$(RELEASE_DIR)/build.ninja: | deps
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS)

run: build
	$(RELEASE_DIR)/owl run -p "$(PROMPT)" -n 200

test: test-release test-interop test-serve test-sanitize fuzz-smoke test-arm64

test-release: build
	cd $(RELEASE_DIR) && ctest --output-on-failure -j $(JOBS)

# GGUF files written by owl give the same greedy tokens in llama.cpp (node-llama-cpp from npm).
test-interop: build
	scripts/test-interop $(RELEASE_DIR)

# owl serve with the official OpenAI client (openai from npm): end-to-end cases, 32 streaming
# clients for OWL_LOAD_SECONDS (default 60), chaos (aborts, bad bodies, stalled sockets).
test-serve: build
	scripts/test-serve $(RELEASE_DIR)

# The arm64 build (scalar kernels), cross-compiled, with every test under qemu-aarch64.
test-arm64:
	JOBS=$(JOBS) scripts/test-arm64 $(ARM64_DIR)

# owl vs llama.cpp on a synthetic Llama-3.2-1B-shaped model; results go in docs/performance.md.
bench: build
	bench/vs-llamacpp/run.sh $(shell nproc) 3 16

# Sanitizer build with clang: ASan+UBSan on every test, and the libFuzzer targets.
$(SANITIZE_DIR)/build.ninja: | deps
	CC=clang CXX=clang++ cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DOWL_SANITIZE=ON -DOWL_FUZZ=ON

build-sanitize: deps $(SANITIZE_DIR)/build.ninja
	cmake --build $(SANITIZE_DIR) -j $(JOBS)

test-sanitize: build-sanitize
	cd $(SANITIZE_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Each fuzzer runs over its seed corpus and then briefly explores; `make fuzz` runs them longer.
fuzz-smoke: build-sanitize
	scripts/run-fuzzers $(SANITIZE_DIR) 15

fuzz: build-sanitize
	scripts/run-fuzzers $(SANITIZE_DIR) 600

clean:
	rm -rf build
