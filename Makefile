# Parley's build and test entry points. `make test` is what CI runs.
GO ?= go

.PHONY: test tools vet fmt-check gotest jstest generate-check generate bench fuzz fuzz-short fuzz-each

## test: everything CI checks: tools, vet, formatting, Go tests with the race
## detector (browser tests included), a short run of every fuzz target, JS
## unit tests, and generated code.
test: tools vet fmt-check gotest fuzz-short jstest generate-check

## tools: make sure Chromium and Node.js are there, installing them as root.
tools:
	@bash .ci/ensure-tools

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

gotest:
	$(GO) test -race -count=1 -timeout 15m ./...

jstest:
	node --test jsruntime/

## fuzz: run every fuzz target in FUZZPKGS (default: the whole module),
## found with `go test -list`, for FUZZTIME each (default 2m). A crash
## fails the run and leaves its input under the package's testdata/fuzz/
## as a new regression case.
FUZZTIME ?= 2m
FUZZPKGS ?= ./...
fuzz:
	@$(MAKE) --no-print-directory fuzz-each FUZZ_FOR=$(FUZZTIME)

## fuzz-short: the same for FUZZTIME_SHORT each, as part of test: a count
## of inputs (default 10000x, a few seconds), since a time budget can end a
## run with "context deadline exceeded" while a worker is still busy.
FUZZTIME_SHORT ?= 10000x
fuzz-short:
	@$(MAKE) --no-print-directory fuzz-each FUZZ_FOR=$(FUZZTIME_SHORT)

fuzz-each:
	@list=$$($(GO) test -run '^$$' -list '^Fuzz' $(FUZZPKGS)) || { echo "$$list"; exit 1; }; \
	targets=$$(echo "$$list" | awk '/^Fuzz/ { names = names " " $$1 } /^ok/ { n = split(names, a, " "); for (i = 1; i <= n; i++) print $$2 "," a[i]; names = "" }'); \
	for t in $$targets; do \
		pkg=$${t%%,*}; name=$${t#*,}; \
		echo "fuzz $$pkg $$name for $(FUZZ_FOR)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_FOR) $$pkg || exit 1; \
	done

## generate: regenerate every generated file.
generate:
	$(GO) generate ./...

## generate-check: fail if `go generate` changes the tree.
generate-check:
	@before=$$(git status --porcelain --untracked-files=all; git diff); \
	$(GO) generate ./... || exit 1; \
	after=$$(git status --porcelain --untracked-files=all; git diff); \
	if [ "$$before" != "$$after" ]; then \
		echo "go generate changed the tree; commit its output:"; git status --short; exit 1; \
	fi; echo "generated files are up to date"

## bench: a short run of every benchmark (a few minutes): Go benchmarks of
## the hot paths, then parleybench's paper grid, fan-out, idle memory and a
## small cluster (3 servers sharing 10,000 pages through NATS).
## Reports and SVG charts go to cmd/parleybench/results/. Not part of test.
BENCH_OUT ?= cmd/parleybench/results
bench:
	@mkdir -p $(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'Dispatch|OutboxAppendAck|FanoutPageIndex' -benchmem ./rpc ./reverse | tee $(BENCH_OUT)/gobench.txt
	$(GO) build -o $(BENCH_OUT)/.parleybench ./cmd/parleybench
	$(BENCH_OUT)/.parleybench paper -users 100,1000,5000,18000 -intervals 5,15,50 -messages 10 -time-scale 0.02 -out $(BENCH_OUT)
	$(BENCH_OUT)/.parleybench fanout -pages 1000,10000,18000 -transports longpoll,sse,websocket -repeat 3 -timeout 10s -out $(BENCH_OUT)
	$(BENCH_OUT)/.parleybench idle -pages 18000 -transports longpoll,sse,websocket,sse-h2,poll,passive -baseline -release longpoll,sse,websocket -out $(BENCH_OUT)
	$(BENCH_OUT)/.parleybench cluster -nodes 3 -pages 10000 -repeat 3 -transports websocket -out $(BENCH_OUT)
	@rm -f $(BENCH_OUT)/.parleybench
