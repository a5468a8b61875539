# nodekit: make test | make bench | make demo | make tools
# Run `make help` for a line on each target.

GO              ?= go
STATICCHECK_VER := v0.8.2
GOBIN           ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK     := $(GOBIN)/staticcheck
# Packages the CI test run covers.
PKGS            ?= ./...
# Benchmarks named in the issues; override BENCH to run fewer.
BENCH           ?= .
BENCHCOUNT      ?= 1
BENCHPKGS       ?= ./proxy/ ./kubelet/... ./stats/...

# Debian packages the privileged tests and the demo need, and the command
# each provides (the check looks for the command, apt installs the package).
TOOL_PKGS := runc:runc conmon:conmon iptables:iptables conntrack:conntrack \
	containernetworking-plugins:/usr/lib/cni/bridge busybox-static:busybox \
	iproute2:ip

.PHONY: help test fmt-check vet staticcheck unit bench demo tools

help:
	@echo "make test   gofmt check, go vet, staticcheck $(STATICCHECK_VER), go test -race ./... (privileged tests run when root)"
	@echo "make bench  the benchmarks named in the issues, output in benchstat format (bench.txt)"
	@echo "make demo   a working node from examples/node (root)"
	@echo "make tools  install the system packages the privileged tests need (root, Debian/Ubuntu)"

test: fmt-check vet staticcheck unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

$(STATICCHECK):
	GOBIN=$(GOBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VER)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)

unit:
	@if [ "$$(id -u)" != 0 ]; then echo "not root: privileged tests will be skipped"; fi
	$(GO) test -race $(PKGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count=$(BENCHCOUNT) $(BENCHPKGS) | tee bench.txt

# The demo needs root: say so before installing or building anything. Then
# it installs what is missing (make tools), builds examples/node and runs its
# demo, which stops by itself with DEMO_ONCE=1.
DEMO_BIN ?= $(or $(TMPDIR),/tmp)/nodekit-demo-node
demo:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make demo: needs root: it runs pods with runc and creates a network namespace (its own, the machine's network is not touched)."; \
		echo "make demo: run it as root, for example: sudo make demo"; exit 1; \
	fi
	@$(MAKE) --no-print-directory tools
	$(GO) build -o $(DEMO_BIN) ./examples/node
	$(DEMO_BIN) demo --manifests examples/node/manifests

tools:
	@missing=""; pkgs=""; \
	for pair in $(TOOL_PKGS); do \
		pkg=$${pair%%:*}; cmd=$${pair#*:}; \
		case "$$cmd" in /*) test -x "$$cmd" ;; *) command -v "$$cmd" >/dev/null 2>&1 ;; esac \
			|| { missing="$$missing $$cmd"; pkgs="$$pkgs $$pkg"; }; \
	done; \
	if [ -z "$$pkgs" ]; then echo "tools: everything is installed"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "tools: missing:$$missing"; \
		echo "tools: install as root on Debian/Ubuntu with: apt-get install -y$$pkgs"; exit 1; \
	fi; \
	echo "tools: installing$$pkgs"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$pkgs
