# blackant-sync — the two set-up commands (`make run`, `make test`) and the rest.
# Every target installs what it needs first (scripts/ensure-deps.sh: Debian's chromium, and
# poppler-utils for the benchmarks), so each works on a bare machine with a Rust toolchain.

CARGO  ?= cargo
LISTEN ?= 127.0.0.1:50051
DATA   ?= data
# `make run FIRST_SYNC="--first-sync customers:agent1 --first-sync products"` to choose.
FIRST_SYNC ?=

.PHONY: run test bench fuzz chaos soak screenshot deps build lint fmt fixtures clean

## run: install what is missing, build (release), serve gRPC with the embedded simulator and
## run the first syncs with progress bars; Ctrl-C stops it.
run: deps
	$(CARGO) build --release --bin blackant
	BLACKANT_HTTP_DASHBOARD=true ./target/release/blackant serve --sim --listen $(LISTEN) --data $(DATA) $(FIRST_SYNC)

## test: the whole suite (unit, simulator, PDF fixtures, real Chromium end to end, gRPC).
## cargo-nextest when present (parallel per test, one summary line), cargo test otherwise.
## Doc tests first, so the run closes on the main runner's summary line.
test: deps
	$(CARGO) test --workspace --doc
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --no-fail-fast; \
	fi

## bench: the figures of the issues (release build, medians, side by side with pdftotext).
## (the order-load part runs `blackant sim` in its own process, hence the binary first)
bench:
	bash scripts/ensure-deps.sh
	bash scripts/big-reports.sh target/bench-pdfs || echo "(big reports of other producers not written: figure 1 goes on without them)"
	$(CARGO) build --release --bin blackant
	$(CARGO) bench --bench figures

## fuzz: the PDF reader against mutated reports for FUZZ_SECS (default 600; `make test` runs
## the same target for 15 s). FUZZ_SEED picks another sequence.
FUZZ_SECS ?= 600
FUZZ_SEED ?= 1
fuzz:
	BLACKANT_FUZZ_SECS=$(FUZZ_SECS) BLACKANT_FUZZ_SEED=$(FUZZ_SEED) \
	  $(CARGO) test --release --test tests fuzz:: -- --nocapture

## chaos: faults, browser kills and SIGKILLs of the service for CHAOS_LIVES lives (default 12;
## `make test` runs 3), then the invariants; prints rounds, kills, faults and retries.
CHAOS_LIVES ?= 12
CHAOS_SEED  ?= 11
chaos: deps
	BLACKANT_CHAOS_LIVES=$(CHAOS_LIVES) BLACKANT_CHAOS_SEED=$(CHAOS_SEED) \
	  $(CARGO) test --test tests chaos:: -- --nocapture

## soak: `blackant serve` on compressed schedules with orders placed, for SOAK_SECS (default
## 1800; `make test` runs 90): prints RSS, open files, browsers and the data folder at the
## start, the end and the peak, and fails if files, browsers or the data folder grow.
SOAK_SECS ?= 1800
soak: deps
	BLACKANT_SOAK_SECS=$(SOAK_SECS) $(CARGO) test --release --test tests soak:: -- --nocapture

## screenshot: the dashboard of a running `make run` (e.g. during its first syncs) as
## dashboard.png, through headless Chromium. DASHBOARD_URL points elsewhere.
DASHBOARD_URL ?= http://127.0.0.1:50052/dashboard
screenshot: deps
	profile=$$(mktemp -d) && chromium --headless --no-sandbox --disable-gpu --no-first-run \
	  --disable-background-networking --disable-component-update --disable-sync \
	  --user-data-dir=$$profile --hide-scrollbars --window-size=1280,2200 \
	  --timeout=4000 --screenshot=dashboard.png $(DASHBOARD_URL); \
	  status=$$?; rm -rf $$profile; exit $$status

deps:
	bash scripts/ensure-deps.sh

build:
	$(CARGO) build --workspace --all-targets

## lint: what every commit must pass.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(DATA)
