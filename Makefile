# presenced — see README.md. Every target works on a fresh clone.
GO            ?= go
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GRAIN := github.com/asynkron/protoactor-go/protobuf/protoc-gen-go-grain@v0.0.0-20240822202345-3c0e61ca19c9
BIN           := bin/presenced
TEST_FLAGS    ?=

.PHONY: run build test test-short test-browser proto fuzz vet fmt clean

run: build
	./$(BIN) --config config/dev.yaml

build:
	$(GO) build -o $(BIN) ./cmd/presenced

# Everything: unit, deterministic actor tests, end-to-end over real WebSockets,
# the store conformance suite against PostgreSQL (PRESENCED_TEST_POSTGRES_URL),
# and the dashboard in a real Chromium (apt-get install -y chromium).
test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) -count=1 -timeout 20m ./...
ifneq (,$(findstring -race,$(TEST_FLAGS)))
	# Proto.Actor's remoting races with itself when several members share a
	# process: the in-process cluster tests run without the detector.
	$(GO) test -count=1 -timeout 10m -run '^TestCluster' ./actors/
endif

test-short:
	$(GO) test -short -count=1 ./...

# Only the dashboard and presence-client.js, driven in Chromium; screenshots
# land in artifacts/.
test-browser:
	$(GO) test $(TEST_FLAGS) -count=1 -v ./web

# Regenerates messages/*.pb.go (messages and grains) with pinned generators. Needs protoc
# (Debian: apt-get install -y protobuf-compiler).
proto:
	GOBIN=$(CURDIR)/bin $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(CURDIR)/bin $(GO) install $(PROTOC_GEN_GRAIN)
	protoc --plugin=protoc-gen-go=$(CURDIR)/bin/protoc-gen-go \
		--plugin=protoc-gen-go-grain=$(CURDIR)/bin/protoc-gen-go-grain \
		--go_out=. --go_opt=module=github.com/presenced/presenced \
		--go-grain_out=. --go-grain_opt=module=github.com/presenced/presenced \
		-I messages messages/*.proto

# A small load profile (a few minutes): a fresh presenced per scenario, then
# idle, presence, messages, storm and a charted message-rate sweep. Results
# go to $$BENCH_OUT or a new folder under /tmp. See docs/benchmarks.md.
.PHONY: bench
bench:
	GO=$(GO) bash cmd/presenced-bench/profile.sh

fuzz:
	$(GO) test ./transport -run '^$$' -fuzz FuzzDecodeFrame -fuzztime 60s

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

clean:
	rm -rf bin
