# recstream — one non-recursive Makefile.
#
#   make            build build/recstream
#   make demo       run the demo on the embedded broker
#   make test       unit, config, interop, end-to-end and docker/ (offline) tests
#   make test-long  what takes longer (the 1M / 3M users memory test)
#   make docs       regenerate docs/pipeline.md (recstream doc)
#   make asan       the whole suite under AddressSanitizer + UBSan + LSan
#   make valgrind   the unit tests under valgrind memcheck
#   make fuzz       libFuzzer targets (tests/fuzz/: Avro decoders in each
#                   framing, the YAML loader, the CSV and JSON-lines
#                   readers), FUZZ_SECONDS (60) each, built with clang in
#                   build/fuzz; fails on any crash, leak or sanitizer error
#   make bench      benchmarks (see BENCHMARKS.md)
#   make deps       install the Debian packages (root)
#   V=1             show full commands

CC       ?= cc
PYTHON   ?= /usr/bin/python3
BUILD    ?= build
PREFIX   ?= /usr/local

PKGS      := rdkafka avro-c yaml-0.1 openblas zlib libmicrohttpd
TEST_PKGS := cmocka
APT_PKGS  := build-essential pkg-config librdkafka-dev libavro-dev \
             libopenblas-dev libyaml-dev zlib1g-dev libcmocka-dev python3 \
             python3-confluent-kafka python3-avro kcat clang-format valgrind \
             clang-14 libclang-rt-14-dev libmicrohttpd-dev curl \
             python3-prometheus-client

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wvla
# CFLAGS/LDFLAGS are the caller's (optimisation, sanitizers); RS_CFLAGS
# are what the code needs and always apply.
CFLAGS   ?= -O2 -g
RS_CFLAGS := -std=c11 $(WARN) -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
            -Iinclude -Isrc -I$(BUILD)/gen -MMD -MP
# Recursively expanded: evaluated at link time, after `deps` has run.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS       = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
TEST_LIBS  = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRCS := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/schemas.o \
            $(BUILD)/gen/pipelines.o
BIN      := $(BUILD)/recstream
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BINS := $(BUILD)/tests/codec_tool $(BUILD)/tests/stream_rss
SCHEMAS  := $(wildcard schemas/*.avsc)

.PHONY: FORCE all deps check-deps check-test-deps test test-long unit asan asan-run valgrind \
        demo bench fuzz fuzz-build fuzz-syntax format format-check install clean \
        docs
all: $(BIN)

# --- dependencies -----------------------------------------------------------
# The build checks pkg-config first; as root it installs what is missing,
# otherwise it prints the exact apt-get line and stops.
define need_deps
	@if ! command -v pkg-config >/dev/null 2>&1 || \
	    ! pkg-config --exists $(1) 2>/dev/null || ! $(2); then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "recstream: installing build and test dependencies"; \
			$(MAKE) --no-print-directory deps; \
		else \
			echo "recstream: missing dependencies; run:"; \
			echo "  sudo apt-get update && sudo apt-get install -y $(APT_PKGS)"; \
			exit 1; \
		fi; \
	fi
endef

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(APT_PKGS)

check-deps:
	$(call need_deps,$(PKGS),true)

TEST_TOOLS_OK = $(PYTHON) -c 'import confluent_kafka; import avro; import prometheus_client' 2>/dev/null && \
                command -v kcat >/dev/null && command -v curl >/dev/null
check-test-deps:
	$(call need_deps,$(PKGS) $(TEST_PKGS),$(TEST_TOOLS_OK))

# --- build ------------------------------------------------------------------
# `recstream --version`: VERSION, the git revision when built from a
# checkout ("unknown" from a tarball without .git; "-dirty" with local
# changes) and avro-c's version from pkg-config (avro-c has no run-time
# version call). build/gen/version.h is rewritten only when they change.
VERSION  ?= 0.12.0
GIT_REV   = $(shell if [ -e .git ]; then git describe --always --dirty \
              --abbrev=12 2>/dev/null || echo unknown; else echo unknown; fi)
AVRO_VERSION = $(shell pkg-config --modversion avro-c 2>/dev/null || echo unknown)

$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(@D)
	$(Q)printf '#define RS_VERSION "%s"\n#define RS_GIT_REV "%s"\n' \
		'$(VERSION)' '$(GIT_REV)' >$@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/src/cli/version.o: $(BUILD)/gen/version.h
$(BUILD)/src/io/codec.o: RS_DEFS = -DRS_AVRO_VERSION='"$(AVRO_VERSION)"'

$(BUILD)/gen/schemas.c: scripts/embed-schemas.sh $(SCHEMAS)
	@mkdir -p $(@D)
	$(Q)sh scripts/embed-schemas.sh $@ $(SCHEMAS)

# The demo pipeline, built in: `recstream demo` runs from any directory.
$(BUILD)/gen/pipelines.c: scripts/embed-text.sh pipelines/demo.yaml
	@mkdir -p $(@D)
	$(Q)sh scripts/embed-text.sh $@ rs_pipeline_demo_yaml=pipelines/demo.yaml

$(BUILD)/gen/pipelines.o: $(BUILD)/gen/pipelines.c
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c | check-deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) $(RS_DEFS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/gen/schemas.o: $(BUILD)/gen/schemas.c
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) -c $< -o $@

$(BUILD)/librecstream.a: $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(BUILD)/src/cli/main.o $(BUILD)/librecstream.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/codec_tool: tests/tools/codec_tool.c $(BUILD)/librecstream.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librecstream.a $(LIBS)

$(BUILD)/tests/stream_rss: tests/tools/stream_rss.c $(BUILD)/librecstream.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librecstream.a $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/librecstream.a | check-test-deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librecstream.a \
		$(TEST_LIBS) $(LIBS)

# --- run --------------------------------------------------------------------
demo: $(BIN)
	$(BIN) demo

test: check-test-deps $(BIN) $(UNIT_BINS) $(TOOL_BINS) fuzz-syntax
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) sh tests/run.sh

test-long: check-test-deps $(BIN) $(TOOL_BINS)
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) sh tests/run.sh long

unit: $(UNIT_BINS) $(TOOL_BINS)
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) sh tests/run.sh unit interop

# AddressSanitizer + UBSan (and LeakSanitizer) over the whole suite, in
# its own tree: the unit tests, and every Python suite running the
# sanitized recstream — config, golden, eval, interop, e2e on the dev
# broker, cli. Any report fails the run.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" asan-run

asan-run: check-test-deps $(BIN) $(UNIT_BINS) $(TOOL_BINS)
	$(Q)$(ASAN_ENV) BUILD=$(BUILD) PYTHON=$(PYTHON) sh tests/run.sh

# valgrind over the unit tests (memcheck: invalid accesses, leaks).
VALGRIND := valgrind --quiet --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect
valgrind: $(UNIT_BINS)
	$(Q)fail=0; for t in $(UNIT_BINS); do \
		echo "# valgrind $$t"; \
		OPENBLAS_NUM_THREADS=1 $(VALGRIND) $$t >/dev/null 2>$$t.vg || \
			{ fail=1; cat $$t.vg; echo "valgrind: $$t failed"; }; \
	done; [ $$fail = 0 ] && echo "valgrind: $(words $(UNIT_BINS)) unit test binaries clean"

# libFuzzer targets (tests/fuzz/README.md), in their own tree: the library
# built by clang with ASan + UBSan and fuzzer coverage, each target linked
# with libFuzzer, then run by tests/fuzz/run.sh for FUZZ_SECONDS each on a
# temporary copy of its corpus tests/fuzz/corpus/<target>/.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := codec_plain codec_confluent codec_single_object pipeline \
                csv jsonl
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SCHEMAS := $(wildcard tests/fuzz/schemas/*.avsc)

fuzz:
	$(Q)command -v $(FUZZ_CC) >/dev/null || { \
		echo "recstream: $(FUZZ_CC) missing; run:"; \
		echo "  sudo apt-get update && sudo apt-get install -y clang-14 libclang-rt-14-dev"; \
		exit 1; }
	$(Q)$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) \
		CFLAGS="-O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
		LDFLAGS="-fsanitize=fuzzer $(FUZZ_SAN)" fuzz-build
	$(Q)BUILD=build/fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) \
		sh tests/fuzz/run.sh $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

# The harnesses checked by the ordinary compiler, and the library by the
# fuzz build's compiler when it is there (its warnings differ), so `make
# test` catches what would fail the libFuzzer build in CI.
fuzz-syntax: $(BUILD)/gen/schemas.c
	$(Q)if command -v $(FUZZ_CC) >/dev/null; then \
		for f in $(LIB_SRCS); do \
			$(FUZZ_CC) $(filter-out -MMD -MP,$(RS_CFLAGS)) $(PKG_CFLAGS) \
				-O1 -fsyntax-only $$f || exit 1; \
		done; \
	fi
	$(Q)for f in tests/fuzz/*.c; do \
		$(CC) $(filter-out -MMD -MP,$(RS_CFLAGS)) $(PKG_CFLAGS) \
			-Wno-attributes -fsyntax-only \
			-DFRAMING=RS_FRAMING_PLAIN -DSUFFIX='".csv"' $$f || exit 1; \
	done

$(BUILD)/gen/fuzz_schemas.c: scripts/embed-schemas.sh $(FUZZ_SCHEMAS)
	@mkdir -p $(@D)
	$(Q)sh scripts/embed-schemas.sh $@ $(FUZZ_SCHEMAS)

$(BUILD)/fuzz_codec_plain: FUZZ_DEFS := -DFRAMING=RS_FRAMING_PLAIN
$(BUILD)/fuzz_codec_confluent: FUZZ_DEFS := -DFRAMING=RS_FRAMING_CONFLUENT
$(BUILD)/fuzz_codec_single_object: FUZZ_DEFS := -DFRAMING=RS_FRAMING_SINGLE_OBJECT
$(BUILD)/fuzz_csv: FUZZ_DEFS := -DSUFFIX='".csv"'
$(BUILD)/fuzz_jsonl: FUZZ_DEFS := -DSUFFIX='".jsonl"'

# A static pattern: a plain one would also match the .d files beside them.
FUZZ_CODEC_BINS := $(BUILD)/fuzz_codec_plain $(BUILD)/fuzz_codec_confluent \
                   $(BUILD)/fuzz_codec_single_object
$(FUZZ_CODEC_BINS): $(BUILD)/fuzz_codec_%: tests/fuzz/fuzz_codec.c \
		$(BUILD)/gen/fuzz_schemas.c $(BUILD)/librecstream.a
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) $(FUZZ_DEFS) $(LDFLAGS) -o $@ $< \
		$(BUILD)/gen/fuzz_schemas.c $(BUILD)/librecstream.a $(LIBS)

$(BUILD)/fuzz_pipeline: tests/fuzz/fuzz_pipeline.c $(BUILD)/librecstream.a
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librecstream.a $(LIBS)

$(BUILD)/fuzz_csv $(BUILD)/fuzz_jsonl: tests/fuzz/fuzz_evfile.c $(BUILD)/librecstream.a
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) $(FUZZ_DEFS) $(LDFLAGS) -o $@ $< \
		$(BUILD)/librecstream.a $(LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/librecstream.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(RS_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librecstream.a $(LIBS)

bench: $(BIN) $(BUILD)/bench/codec_bench $(BUILD)/bench/ingest_bench $(BUILD)/bench/kafka_bench \
       $(BUILD)/bench/state_bench
	$(Q)BUILD=$(BUILD) sh bench/run.sh

# docs/pipeline.md is generated (tests/run.sh config fails when it is stale).
docs: $(BIN)
	$(Q)env -u KAFKA_BOOTSTRAP -u RECSTREAM_HTTP_PORT $(BIN) doc --compare pipelines/video.yaml >docs/pipeline.md

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

format-check:
	$(Q)clang-format --dry-run --Werror $(shell git ls-files '*.c' '*.h')

install: $(BIN)
	install -D -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/recstream
	install -d $(DESTDIR)$(PREFIX)/share/recstream/pipelines $(DESTDIR)$(PREFIX)/share/recstream/schemas
	install -m 644 pipelines/*.yaml $(DESTDIR)$(PREFIX)/share/recstream/pipelines
	install -m 644 schemas/*.avsc $(DESTDIR)$(PREFIX)/share/recstream/schemas

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
