# sfn-rollout. `make test` is what CI runs (.ci/run); `make help` lists the targets.

FUNCTIONS := prepare register advance rollback finalize control deploy deploystatus
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 20s
SEEDS ?= 100000
FIRST ?= 1
EVENT ?=

.PHONY: help tools build test lint bench fuzz sim invoke-% demo clean synth

help:
	@echo "demo    the whole system on one machine: a healthy rollout and a bad one rolled back"
	@echo "tools   install the node tools under .tools/ (asl-validator, dynalite, aws-cdk)"
	@echo "build   the Lambda bootstraps into bin/<fn>/bootstrap (linux/arm64)"
	@echo "test    go vet and go test, with the node tools"
	@echo "synth   build, then cdk synth the controller stack offline into cdk.out/"
	@echo "lint    gofmt, go vet, staticcheck"
	@echo "bench   the benchmarks, with the node tools (the end-to-end ones run on local mode)"
	@echo "fuzz    every fuzz target for FUZZTIME (default $(FUZZTIME))"
	@echo "sim     the controller's interleaving simulation for SEEDS seeds from FIRST (default $(SEEDS) from $(FIRST); make test runs 2000)"
	@echo "invoke-<fn> EVENT=events/<file>.json   run one function on a sample event"
	@echo "clean   remove bin/ and cdk.out/"

# The stamp is newer than the lock file once `npm ci` has installed it; npm ci removes
# node_modules first, so a half-finished install leaves no stamp.
tools: .tools/node_modules/.installed

.tools/node_modules/.installed: .tools/package.json .tools/package-lock.json
	npm ci --prefix .tools --no-audit --no-fund
	@touch $@

# The bootstraps inline only this module's code and the Go runtime: inlining everywhere else
# (the AWS SDK, net/http, TLS, encoding/json, …) is what takes them over the 10 MB target
# (10^6 bytes), for a few tens of microseconds of CPU an invocation (README, "Measured").
# `make build LAMBDA_GCFLAGS=` builds them with the compiler's defaults.
LAMBDA_GCFLAGS ?= -gcflags=all=-l -gcflags=github.com/sfn-rollout/sfn-rollout/...= -gcflags=runtime=
BOOTSTRAP_TARGET := 10000000

build:
	@set -e; for fn in $(FUNCTIONS); do \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' $(LAMBDA_GCFLAGS) -o bin/$$fn/bootstrap ./functions/$$fn; \
		size=$$(wc -c < bin/$$fn/bootstrap); \
		if [ $$size -gt $(BOOTSTRAP_TARGET) ]; then over=" (over the $(BOOTSTRAP_TARGET)-byte target)"; else over=""; fi; \
		echo "build $$fn: bin/$$fn/bootstrap $$size bytes$$over"; \
	done

test: tools
	go vet ./...
	go test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt:"; echo "$$out"; exit 1; fi
	go vet ./...
	go run $(STATICCHECK) ./...

bench: tools
	go test -run '^$$' -bench . -benchmem ./...

# Go fuzzes one target per run, so each target found in a _test.go gets its own.
fuzz:
	@set -e; for file in $$(grep -rl --include='*_test.go' --exclude-dir=.git --exclude-dir=.tools --exclude-dir=.cache --exclude-dir=node_modules '^func Fuzz' .); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzz $$target in $$(dirname $$file) for $(FUZZTIME)"; \
			go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$(dirname $$file); \
		done; \
	done

# TestSim (internal/controller/sim_test.go) over seeds 1..SEEDS; a failure prints the seed,
# the broken invariant and the trace. Replay one: go test ./internal/controller -run TestSim -sim.seed=N -v
sim:
	SIM_SEEDS=$(SEEDS) SIM_FIRST=$(FIRST) go test -count=1 -timeout 0 -run '^TestSim$$' -v ./internal/controller

# The CDK CLI from .tools/, offline: no version check, no notices or telemetry (cdk.json),
# its state and jsii's package cache under .cache/ in the repository.
CDK_ENV := CDK_DISABLE_VERSION_CHECK=1 JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	CDK_HOME=$(CURDIR)/.cache/cdk JSII_RUNTIME_PACKAGE_CACHE_ROOT=$(CURDIR)/.cache/jsii

synth: tools build
	$(CDK_ENV) node .tools/node_modules/aws-cdk/bin/cdk synth --quiet

invoke-%:
	@test -n "$(EVENT)" || { echo "usage: make invoke-$* EVENT=events/<file>.json"; exit 2; }
	go run ./cmd/invoke -fn $* -event $(EVENT)

# The local demo: a healthy LINEAR rollout and a bad CANARY one rolled back by an alarm,
# through the AWS SDK against the local endpoint. Exits 0 only when both end as they should.
demo: tools
	go run ./cmd/sfn-rollout demo

clean:
	rm -rf bin cdk.out
