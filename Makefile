# dpstats — the two commands a new user needs are `make run` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/dpstats
BEAM_BIN := bin/dpstats-beam
OUT      ?= out

.PHONY: build run test test-race bench lint lint-core lint-beam fuzz corpus-stress clean beam test-beam

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/dpstats

# run: the main job on the sample data embedded in the binary.
run: build
	./$(BIN) demo --out $(OUT)

# test: every test, including the corpus of foreign Parquet/Arrow files
# (../shared/corpus, or DPSTATS_CORPUS) and the browser test of the HTML
# report. The output is plain go test's (ok / FAIL per package, failing
# tests' logs), then the list of tests that skipped and why. Under CI=true
# the browser and corpus tests fail instead of skipping.
# It never compiles the Beam engine (a test of cmd/dpstats checks that no
# package of the core module imports Beam): that is `make test-beam`.
test: lint-core
	$(GO) build -o bin/testsummary ./scripts/testsummary
	./bin/testsummary -count=1 -timeout 30m ./...

# beam: bin/dpstats-beam, the same command line with the Privacy on Beam
# engine (--engine beam), from its own Go module in beam/ (docs/beam.md).
# The first build downloads the Beam SDK's modules (minutes).
beam:
	cd beam && $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o ../$(BEAM_BIN) ./cmd/dpstats-beam

# test-beam: the Beam engine's tests (direct runner), listed like make test's.
test-beam: lint-beam
	$(GO) build -o bin/testsummary ./scripts/testsummary
	cd beam && ../bin/testsummary -count=1 -timeout 40m ./...

test-race:
	$(GO) test -race -count=1 -timeout 30m ./dp/... ./jobs/...

bench: build
	./scripts/bench.sh

# lint: gofmt over every Go file (the beam module's too), go vet and
# staticcheck over the core module, then over the beam module if there is
# one. make test runs lint-core only: vetting beam/ compiles Beam.
lint: lint-core lint-beam

lint-core:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; fi

lint-beam:
	@if [ -f beam/go.mod ]; then \
	  cd beam && $(GO) vet ./... && \
	  if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; fi; \
	else echo "lint-beam: no beam/go.mod, nothing to vet"; fi

fuzz:
	$(GO) test ./datasets -run '^$$' -fuzz FuzzOpen -fuzztime 60s

# The slow, memory-hungry files of the corpus, kept out of `make test`.
corpus-stress:
	DPSTATS_STRESS=1 $(GO) test -count=1 -run TestCorpusStress -v -timeout 30m ./datasets

clean:
	rm -rf bin $(OUT) walkthrough beamdemo
