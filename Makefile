# etcd-dr — the two commands a newcomer needs are `make drill` and `make test`.
GO        ?= go
BIN       := bin/etcd-dr
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test drill bench lint faults clean

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/etcd-dr

# The whole suite with the race detector: real SSH servers (in-process and
# OpenSSH sshd), real etcd members, a real kube-apiserver. The lab's binaries
# are built from the Go module proxy on first use and cached outside the clone.
# Lab tests claim their address block with nodes/lab/labtest and run in
# parallel, at most GOMAXPROCS+1 labs per package (ETCD_DR_TEST_LABS to
# change it); -parallel 4 leaves room for the other parallel tests beside
# them.
test:
	@./.ci/deps
	$(GO) test -race -count=1 -timeout 80m -parallel 4 $(PKGS)

# The console against a fresh embedded lab (3 control-plane nodes, 2 workers).
drill: build
	./$(BIN) drill

# Benchmarks, side by side with peers where they exist.
# make bench installs the peers (pssh, ansible) itself and writes
# bench/results.json; BENCH_FLAGS=--quick for the short CI-sized run.
bench: build
	./bench/peers.sh
	$(GO) run ./cmd/bench -etcd-dr $(BIN) -o bench/results.json $(BENCH_FLAGS)

# The fault matrix on the lab (also part of make test): each case injects a
# real fault and ends with the lab's safety invariants. Each case logs one
# FAULTROW line (case, injected, what the operator saw, invariants held,
# time to detect); they are printed as one aligned table, then PASS/FAIL
# per test.
FAULTS := TestEveryInjectedFault|TestANodeWhoseSSH|TestMembersRestoredInto|TestSudoWantingAPassword|TestASecondOperator|TestAConsoleKilledMidStep|TestCheckAgainstOpenSSH
faults:
	@log=$$(mktemp); $(GO) test -race -count=1 -timeout 60m -parallel 4 -v -run '$(FAULTS)' ./cmd/etcd-dr/ >$$log 2>&1; rc=$$?; \
	  { printf 'case\tinjected\twhat the operator saw\tinvariants held\ttime to detect\n'; \
	    sed -n 's/^.*FAULTROW\t//p' $$log | awk '{ print ($$1 ~ /^[0-9]+$$/ ? $$1 : 99) "\t" $$0 }' | \
	      sort -t "$$(printf '\t')" -k1,1n -k2 | cut -f2-; } | awk -F'\t' ' \
	    { for (i = 1; i <= NF; i++) { c[NR, i] = $$i; if (length($$i) > w[i]) w[i] = length($$i) } n = NR } \
	    END { for (r = 1; r <= n; r++) { line = ""; \
	      for (i = 1; i <= 5; i++) line = line sprintf("%-*s", (i < 5 ? w[i] + 2 : 0), c[r, i]); print line } }'; \
	  echo; grep -E '^(--- |    --- |ok|FAIL)' $$log; [ $$rc -eq 0 ] || echo "full log: $$log"; exit $$rc

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^testdata/')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

clean:
	rm -rf bin
