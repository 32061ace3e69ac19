# dpstats — the two commands a new user needs are `make run` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/dpstats
OUT      ?= out

.PHONY: build run test test-race bench lint fuzz corpus-stress clean

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
test: lint
	$(GO) build -o bin/testsummary ./scripts/testsummary
	./bin/testsummary -count=1 -timeout 30m ./...

test-race:
	$(GO) test -race -count=1 -timeout 30m ./dp/... ./jobs/...

bench: build
	./scripts/bench.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; fi

fuzz:
	$(GO) test ./datasets -run '^$$' -fuzz FuzzOpen -fuzztime 60s

# The slow, memory-hungry files of the corpus, kept out of `make test`.
corpus-stress:
	DPSTATS_STRESS=1 $(GO) test -count=1 -run TestCorpusStress -v -timeout 30m ./datasets

clean:
	rm -rf bin $(OUT) walkthrough
