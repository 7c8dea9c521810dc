# corio - build, test, bench, install.
#
#   make                 library (static + shared), examples, tests, benchmarks
#   make test            build and run the whole test suite
#   make test SAN=address,undefined   ... under ASan+UBSan (build/san-address-undefined)
#   make test SAN=thread                ... under TSan (build/san-thread)
#   make test CTX=ucontext              ... with the portable context switch
#   make test-aarch64    cross-build for AArch64 and run the suite under qemu
#   make demo            build and run the showcase
#   make bench           benchmark programs into build/bench/
#   make install PREFIX=/usr/local
#   make check-install   install to a scratch prefix, build an example via pkg-config
#   make check-valgrind  run examples under valgrind memcheck (no error, no leak)
#
# Variables: CC, CFLAGS (extra), SAN, CTX, BUILD (output folder), PREFIX,
# LTO (1: link-time optimisation; the default for a plain native gcc build).

CC ?= cc
PREFIX ?= /usr/local
SAN ?=
CTX ?=
CROSS ?=

# The version is written once, in include/corio.h.
VERSION := $(shell sed -n 's/^\#define CORIO_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$$/\2/p' include/corio.h | paste -sd.)
SONAME := libcorio.so.$(firstword $(subst ., ,$(VERSION)))

comma := ,
ifneq ($(SAN),)
  BUILD ?= build/san-$(subst $(comma),-,$(SAN))
else ifneq ($(CTX),)
  BUILD ?= build/ctx-$(CTX)
else ifneq ($(CROSS),)
  BUILD ?= build/$(CROSS)
else
  BUILD ?= build
endif

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
# What users get from corio.pc too: a frame larger than a page probes each
# page on its way down, so it faults in a coroutine's guard instead of
# jumping over it into the neighbouring stack (docs/runtime.md, Stacks).
HARDEN := -fstack-clash-protection
OPT := -O2 -g
BASE_CFLAGS := -std=gnu11 $(OPT) $(WARN) $(HARDEN) -fPIC -pthread -Iinclude -Isrc -D_GNU_SOURCE
ifneq ($(SAN),)
  BASE_CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDSAN := -fsanitize=$(SAN)
endif
ifeq ($(CTX),ucontext)
  BASE_CFLAGS += -DCORIO_CTX_UCONTEXT=1
endif
# Link-time optimisation: the hot paths (yield, spawn, wake) cross files:
# scheduler, task state, coroutine switch. LTO lets gcc inline them into each
# other (yield_many: 18 -> 8 ns per yield), in the library and into the
# programs that link it with -flto (the benchmarks do). Off for sanitizer,
# ucontext and cross builds, and for compilers other than gcc.
IS_GCC := $(shell $(CC) -v 2>&1 | grep -q '^gcc version' && echo 1)
ifeq ($(SAN)$(CTX)$(CROSS)$(IS_GCC),1)
  LTO ?= 1
endif
ifeq ($(LTO),1)
  BASE_CFLAGS += -flto=auto -ffat-lto-objects
  AR := gcc-ar
endif
ALL_CFLAGS := $(BASE_CFLAGS) $(CFLAGS)
DEPFLAGS = -MMD -MP -MF $(@:%=%.d)
LDLIBS := -pthread $(LDSAN)
# The target's nm (the symbol test reads the libraries with it).
NM ?= $(patsubst %gcc,%nm,$(filter %gcc,$(CC)))
ifeq ($(NM),)
  NM := nm
endif

LIB_SRCS := $(wildcard src/*/*.c)
LIB_ASM := $(wildcard src/arch/*.S)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB_ASM:%.S=$(BUILD)/obj/%.o)

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)
TEST_SRCS := $(wildcard tests/test_*.c) tests/main.c $(wildcard tests/util*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(BUILD)/tests/run_tests
TEST_HELPERS := $(BUILD)/tests/symbol_clash $(BUILD)/tests/small_messages
BENCH_SRCS := $(wildcard bench/*.c)
BENCHES := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

# libcorio.a holds the library's objects as they are (with their link-time
# optimisation data, so a program built with -flto gets corio's hot paths
# inlined into it); the names its files share are in the reserved corio__
# namespace (src/internal_names.h), so a program may define its own
# task_init or driver_open. libcorio.so exports only the CORIO_API functions.
STATIC_LIB := $(BUILD)/lib/libcorio.a
SHARED_LIB := $(BUILD)/lib/libcorio.so
INTERNAL_NAMES := -include src/internal_names.h

# A fresh Debian 12 may lack a C compiler: the first target that needs one
# installs it (as root) rather than fail on the first command of the README.
CC_OK := $(BUILD)/.cc-ok

.PHONY: all lib examples tests bench test demo install clean test-aarch64 check-valgrind \
	check-install FORCE

# Plain `make` builds everything (the flags file's rule below comes first).
.DEFAULT_GOAL := all

# Everything is rebuilt when the flags change (a new CFLAGS, another CC):
# objects depend on this file, rewritten only when its contents differ.
FLAGS_FILE := $(BUILD)/.flags
$(FLAGS_FILE): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CC) $(ALL_CFLAGS) $(INTERNAL_NAMES) $(LDLIBS)' | cmp -s - $@ || \
	  echo '$(CC) $(ALL_CFLAGS) $(INTERNAL_NAMES) $(LDLIBS)' > $@
all: lib examples tests bench

lib: $(STATIC_LIB) $(SHARED_LIB)
examples: $(EXAMPLES)
tests: $(TEST_BIN) $(TEST_HELPERS) $(EXAMPLES) $(SHARED_LIB)
bench: $(BENCHES)
# The thread-per-connection echo baseline, where the peers' harness finds a
# tcp_echo (PEERS_EXTRA_IMPLS="threads=$(BUILD)/bench_threads")
$(BUILD)/bench_threads/tcp_echo: $(BUILD)/bench/tcp_echo_threads
	@mkdir -p $(dir $@)
	ln -sf ../bench/tcp_echo_threads $@
bench: $(BUILD)/bench_threads/tcp_echo
# The stackless echo server, likewise (PEERS_EXTRA_IMPLS="stackless=$(BUILD)/bench_stackless")
$(BUILD)/bench_stackless/tcp_echo: $(BUILD)/bench/tcp_echo_stackless
	@mkdir -p $(dir $@)
	ln -sf ../bench/tcp_echo_stackless $@
bench: $(BUILD)/bench_stackless/tcp_echo

$(CC_OK):
	@mkdir -p $(dir $@)
	@if ! command -v $(firstword $(CC)) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "corio: no C compiler ($(CC)); installing gcc and libc6-dev with apt-get..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev) \
	      >/dev/null || exit 1; \
	  else \
	    echo "no C compiler '$(CC)': run 'sudo apt-get install gcc libc6-dev' (Debian) first"; exit 1; \
	  fi; \
	fi
	@touch $@

# Library objects: everything but the CORIO_API functions has hidden
# visibility, which keeps it out of libcorio.so and lets the optimiser treat
# it as the library's own; internal names take the corio__ prefix.
$(LIB_OBJS): LIB_ONLY := -fvisibility=hidden $(INTERNAL_NAMES)

$(BUILD)/obj/%.o: %.c $(FLAGS_FILE) | $(CC_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIB_ONLY) $(DEPFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.S $(FLAGS_FILE) | $(CC_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIB_ONLY) $(DEPFLAGS) -c $< -o $@

# Unit tests call internal functions: they see the same names.
$(BUILD)/obj/tests/%.o: tests/%.c $(FLAGS_FILE) | $(CC_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INTERNAL_NAMES) -Itests $(DEPFLAGS) -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS) src/corio.map
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -Wl,--version-script=src/corio.map \
	  -Wl,-soname,$(SONAME) -o $@ $(LIB_OBJS) $(LDLIBS)

# Examples are what users copy first: they build with the plain warning set
# a user's project would have, nothing relaxed.
EXAMPLE_WARN := -Wall -Wextra -Werror
$(BUILD)/examples/%: examples/%.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Wno-unused-parameter,$(ALL_CFLAGS)) $(EXAMPLE_WARN) $(DEPFLAGS) \
	  $< -o $@ $(STATIC_LIB) $(LDLIBS)

$(TEST_BIN): $(TEST_OBJS) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_OBJS) -o $@ $(STATIC_LIB) $(LDLIBS) -lm

# Defines names the library uses internally, then links the public archive.
$(BUILD)/tests/symbol_clash: tests/symbol_clash.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $< -o $@ $(STATIC_LIB) $(LDLIBS)

# A user's program with messages smaller than the channels' inlined copy,
# built like one (-Werror, LTO against the archive): its build is the test.
$(BUILD)/tests/small_messages: tests/small_messages.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $< -o $@ $(STATIC_LIB) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O3 $(DEPFLAGS) $< -o $@ $(STATIC_LIB) $(LDLIBS)

# ctx_switch times the machine layer's raw switch, an internal interface.
$(BUILD)/bench/ctx_switch: bench/ctx_switch.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INTERNAL_NAMES) -O3 $(DEPFLAGS) $< -o $@ $(STATIC_LIB) $(LDLIBS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# TEST_ARGS: e.g. TEST_ARGS="-j1 timer" to run the tests whose name contains "timer".
# Under TSan each test (a forked child) and each example it runs would sleep
# TSan's default atexit_sleep_ms (1 s) before exiting, to let threads still
# running race with exit: about 1 s per test, half of the TSan suite's time.
# Every test joins its threads before it exits, so 50 ms keeps that check
# for anything left running. A TSAN_OPTIONS of the caller's comes after, and
# wins.
test: tests
	TSAN_OPTIONS="atexit_sleep_ms=50 $$TSAN_OPTIONS" \
	CORIO_BUILD=$(BUILD) CORIO_NM=$(NM) CORIO_EXEC="$(TEST_RUNNER)" $(TEST_RUNNER) $(TEST_BIN) \
	  $(TEST_ARGS)

demo: $(BUILD)/examples/demo
	$(BUILD)/examples/demo

install: lib
	install -d $(DESTDIR)$(PREFIX)/include/corio $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/corio.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/corio/*.h $(DESTDIR)$(PREFIX)/include/corio/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libcorio.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	  -e 's|@CFLAGS@|$(HARDEN)|g' corio.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/corio.pc

# Install into a scratch prefix, then build and run an example against the
# installed headers and libraries through pkg-config, statically and shared;
# corio.pc must hand users -fstack-clash-protection (HARDEN).
check-install:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MAKE) --no-print-directory install PREFIX=$$tmp >/dev/null && \
	export PKG_CONFIG_PATH=$$tmp/lib/pkgconfig && \
	test "$$(pkg-config --modversion corio)" = "$(VERSION)" && \
	pkg-config --cflags corio | grep -q -- -fstack-clash-protection && \
	$(CC) -o $$tmp/app examples/count_to_three.c $$(pkg-config --cflags --libs corio) && \
	LD_LIBRARY_PATH=$$tmp/lib $$tmp/app | grep -q "Result: 4" && \
	$(CC) -o $$tmp/app_static examples/count_to_three.c $$(pkg-config --cflags corio) \
	  $$tmp/lib/libcorio.a -pthread && $$tmp/app_static | grep -q "Result: 4" && \
	echo "install: headers, libcorio.a, libcorio.so and corio.pc (version $(VERSION)) work"

# Cross-build for AArch64 with Debian's cross compiler and run under qemu-user.
AARCH64_CC := aarch64-linux-gnu-gcc
test-aarch64:
	@command -v $(AARCH64_CC) >/dev/null && command -v qemu-aarch64 >/dev/null || \
	  { echo "installing gcc-aarch64-linux-gnu and qemu-user..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user) >/dev/null; }
	$(MAKE) CC=$(AARCH64_CC) CROSS=aarch64 AR=aarch64-linux-gnu-ar \
	  TEST_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" test

# The examples under valgrind's memcheck: no error, no leak (definite or
# possible). Stacks are registered with valgrind, and task memory falls back
# to malloc under it.
VALGRIND_EXAMPLES := count_to_three two_tasks forget_await timeout delayed_value fetch_data demo \
  multi_thread cpu_intensive batching bounded_spawn producer_consumer choose_channel \
  broadcast_fanout rate_limited mutex_counter channel_capacity tcp_server starvation \
  graceful_shutdown try_join_fetch join_handles select_timeout select_loop select_abort join_all read_file \
  stream_pipeline batch_concurrent shutdown_broadcast scope_borrow cleanup_guard
check-valgrind: $(EXAMPLES)
	@for e in $(VALGRIND_EXAMPLES); do \
	  echo "valgrind $$e"; \
	  valgrind -q --error-exitcode=9 --leak-check=full \
	    --errors-for-leak-kinds=definite,possible \
	    $(BUILD)/examples/$$e $$(case $$e in two_tasks) echo 50;; timeout) echo fast;; delayed_value) echo 100;; \
	      fetch_data) echo 50;; demo) echo quick;; multi_thread) echo 16;; \
	      cpu_intensive) echo 30000;; batching) echo 2001 100;; bounded_spawn) echo 300 20 2;; \
	      producer_consumer) echo 5 10 100;; broadcast_fanout) echo 10;; rate_limited) echo 40 300 5;; \
	      mutex_counter) echo 20 4 20;; channel_capacity) echo 5000 20;; tcp_server) echo 10 5;; \
	      starvation) echo 5 20;; graceful_shutdown) echo 5 20 200;; try_join_fetch) echo fast;; \
	      join_handles) echo 20;; select_timeout) echo scale=0.02;; select_loop) echo 5;; \
	      select_abort) echo 5;; join_all) echo 200 10;; read_file) echo 50;; \
	      stream_pipeline) echo 2;; batch_concurrent) echo 300 50 2;; \
	      shutdown_broadcast) echo 20 70 2;; scope_borrow) echo 5;; cleanup_guard) echo 5;; esac) \
	    >/dev/null 2>$(BUILD)/valgrind-$$e.log || { cat $(BUILD)/valgrind-$$e.log; exit 1; }; \
	done; echo "valgrind: no errors, no leaks"

clean:
	rm -rf build
