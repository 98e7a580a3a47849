# The two commands a person needs are `go run ./cmd/demo` and `make test`.
# `make test` installs what the tests need and the machine lacks, then runs
# every test with the race detector, and every test once more without it:
# built with it, transports/evloop makes its non-blocking system calls
# through x/sys/unix (which tells the detector about them) instead of its
# own raw ones, which the second run covers, with the timing of a build
# without the detector's slowdown.

GO ?= go
TEST_FLAGS ?= -race -timeout 20m
NORACE_PKGS ?= ./...

.PHONY: test setup vet bench cross

test: setup
	$(GO) test $(TEST_FLAGS) ./...
	$(GO) test -timeout 10m $(NORACE_PKGS)

# setup installs the system packages and npm packages later tests use. It
# changes nothing when they are present.
setup:
	bash tests/setup.sh

vet:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./tests/... ./actors/...

cross:
	GOOS=windows $(GO) build ./...
	GOOS=darwin $(GO) build ./...
	GOOS=freebsd $(GO) build ./...
