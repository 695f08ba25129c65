# sluice: build, test and benchmark. Every target installs what it needs.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/sluice
GOTEST_TIMEOUT ?= 75m

.PHONY: all deps build web test test-go test-web lint vet staticcheck fuzz demo \
	bench bench-decode bench-capture bench-catchup bench-lag bench-snapshot bench-check bench-check-live bench-schedule clean

all: build

deps:
	./scripts/deps.sh

# The console is built first when its sources exist, so that go build embeds it.
web:
	@if [ -f web/package.json ]; then ./scripts/web-build.sh; fi

build: web
	$(GO) build -tags webui -o $(BIN) ./cmd/sluice

# The main job: two throwaway MariaDB servers, a light write load, a sync
# from one to the other and the console.
demo: deps build
	./$(BIN) demo

vet:
	$(GO) vet ./...

staticcheck: deps
	./bin/staticcheck ./...

lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every test, integration tests against real mariadbd servers included.
test: deps web lint test-go test-web

test-go:
	$(GO) test -count=1 -timeout $(GOTEST_TIMEOUT) ./...

test-web:
	@if [ -f web/package.json ]; then ./scripts/web-test.sh; fi

# Short fuzz runs of every fuzz target (seeded from the fixtures).
fuzz:
	./scripts/fuzz.sh

bench-decode bench-capture bench-catchup bench-lag bench-snapshot bench-check bench-check-live bench-schedule: deps build
	$(GO) run ./bench $(@:bench-%=%)

bench: bench-decode bench-capture bench-catchup bench-lag bench-snapshot bench-check bench-check-live bench-schedule

clean:
	rm -rf bin web/dist
