# kstream tools. `make demo` and `make test` set everything up themselves on a fresh Debian machine.
BUILD ?= build
JOBS  ?= $(shell nproc)
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the build, the tests, the local broker and the benchmarks need.
DEB_PACKAGES := g++ cmake ninja-build pkg-config librdkafka-dev libsimdjson-dev libfmt-dev \
                libcli11-dev libcurl4-openssl-dev libdlib-dev libblas-dev liblapack-dev chromium chromium-driver python3-selenium ca-certificates openssl catch2 kcat openjdk-17-jre-headless maven procps time jq python3 tzdata

.PHONY: all deps build test unit test-asan unit-asan demo bench clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -G Ninja
	cmake --build $(BUILD) -j $(JOBS)

# Unit tests, then end-to-end tests against a real Kafka broker that the test run starts and stops.
test: build
	# KS_REQUIRE_BROWSER: the web page test fails instead of skipping when Chromium is missing.
	# Twice as many tests as cores at once: the end-to-end tests mostly wait (for the broker, for
	# timers), and they are written to pass on a loaded machine.
	cd $(BUILD) && KS_REQUIRE_BROWSER=1 ctest --output-on-failure --timeout 600 -j $$(( $(JOBS) * 2 ))

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

# The whole suite (unit-asan: the unit tests) built with AddressSanitizer and UBSan, in its own
# build directory. Any report fails the test that caused it. -O0 -g1: the sanitizers need no
# optimiser, and it keeps CI under 20 minutes (the ASan build took 555 s at -O1 -g1, 324 s at
# -O0; the unit tests then run 52 s instead of 23).
ASAN_BUILD ?= build-asan
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
asan-build: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1 -DNDEBUG" -DKS_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)

test-asan: asan-build
	cd $(ASAN_BUILD) && ctest --output-on-failure --timeout 900 -j $$(( $(JOBS) * 2 ))

unit-asan: asan-build
	cd $(ASAN_BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

demo: build
	scripts/demo

bench: build
	bench/run

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
