# StreamRNN — the two set-up commands for a fresh Debian 12 machine with Swift 6.3:
#   make run    build (release) and replay the bundled speech through the bundled Silero VAD, live-paced,
#               printing speech segments and latency statistics
#   make test   format check, debug and release builds, and every test
# Both install missing apt packages first (`make deps`, needs root or sudo).

SWIFT ?= swift
# Debian packages: the C libraries, pkg-config (finds their flags), what the ALSA tests drive
# (Tests/ALSAKit: python3 for the FIFO feeder, jackd2 and libasound2-plugins for the JACK PCM,
# alsa-utils), binutils (nm: the test that streamrnn keeps the system allocator) and tmux (the live
# meter is checked in a tmux pane).
APT_PACKAGES := pkg-config libsndfile1-dev libsoxr-dev libkissfft-dev libasound2-dev \
  alsa-utils python3 jackd2 libasound2-plugins binutils tmux
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO := Examples/demo

.PHONY: deps build run test lint format golden clean fuzz fuzz-smoke asan tsan

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

build: deps
	$(SWIFT) build -c release

run: build
	.build/release/streamrnn replay $(DEMO)/speech_with_pauses.wav --segments --quiet
	@echo "The same through the library API (Examples/VADExample):"
	.build/release/VADExample $(DEMO)/speech_with_pauses.wav

lint:
	$(SWIFT) format lint --strict --recursive --parallel Sources Tests Examples Package.swift

format:
	$(SWIFT) format --in-place --recursive --parallel Sources Tests Examples Package.swift

# Debug tests catch traps and precondition failures; release tests check the optimised kernels;
# the fuzz smoke run replays the regression inputs and fuzzes each parser for a few seconds.
test: deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(SWIFT) build -c release --build-tests -Xswiftc -enable-testing
	$(SWIFT) test -c release --skip-build -Xswiftc -enable-testing
	$(MAKE) fuzz-smoke

# libFuzzer + AddressSanitizer on every parser (Tests/Fuzz): 60 s per harness.
fuzz: deps
	Tests/Fuzz/run.sh 60

fuzz-smoke: deps
	Tests/Fuzz/run.sh 5

# The test suite under AddressSanitizer, and under ThreadSanitizer (the ring, the producer/consumer
# handoff, the runner and the sources' threads). Separate build folders; not part of `make test`.
# Leak checking is off under ASan: swift-argument-parser's exit on a parse error and
# Foundation.Process in the CLI tests leave small objects behind at process exit (LeakSanitizer
# then writes a report into standard error, which the one-line-error tests read); memory errors
# (overflows, use after free, double free) still abort the run.
asan: deps
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address --scratch-path .build-asan

tsan: deps
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan

# Regenerates the PyTorch golden files (needs torch: see Scripts/make_golden.py). Not run by CI.
golden:
	python3 Scripts/make_golden.py

clean:
	rm -rf .build
