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

# A fresh Debian 12 may lack a C compiler: install one (as root) rather than
# fail on the first command of the README.
ifeq ($(shell command -v $(firstword $(CC)) 2>/dev/null),)
  ifeq ($(shell id -u),0)
    $(info corio: no C compiler ($(CC)); installing gcc and libc6-dev with apt-get...)
    $(shell (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev) >/dev/null 2>&1)
  else
    $(error no C compiler '$(CC)': run 'sudo apt-get install gcc libc6-dev' (Debian) first)
  endif
endif
SAN ?=
CTX ?=
CROSS ?=

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
OPT := -O2 -g
BASE_CFLAGS := -std=gnu11 $(OPT) $(WARN) -fPIC -pthread -Iinclude -Isrc -D_GNU_SOURCE
ifneq ($(SAN),)
  BASE_CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDSAN := -fsanitize=$(SAN)
endif
ifeq ($(CTX),ucontext)
  BASE_CFLAGS += -DCORIO_CTX_UCONTEXT=1
endif
# Link-time optimisation: the hot paths (yield, spawn, wake) cross files:
# scheduler, task state, coroutine switch. LTO lets gcc inline them into each
# other (yield_many: 18 -> 8 ns per yield). Fat objects keep libcorio.a
# usable by linkers without LTO support. Off for sanitizer, ucontext and
# cross builds, and for compilers other than gcc.
IS_GCC := $(shell $(CC) -v 2>&1 | grep -q '^gcc version' && echo 1)
ifeq ($(SAN)$(CTX)$(CROSS)$(IS_GCC),1)
  LTO ?= 1
endif
ifeq ($(LTO),1)
  BASE_CFLAGS += -flto=auto -ffat-lto-objects
  AR := gcc-ar
endif
ALL_CFLAGS := $(BASE_CFLAGS) $(CFLAGS)
LDLIBS := -pthread $(LDSAN)

LIB_SRCS := $(wildcard src/*/*.c)
LIB_ASM := $(wildcard src/arch/*.S)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB_ASM:%.S=$(BUILD)/obj/%.o)
HDRS := $(wildcard include/*.h include/corio/*.h src/*/*.h)

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)
TEST_SRCS := $(wildcard tests/*.c)
TEST_BIN := $(BUILD)/tests/run_tests
BENCH_SRCS := $(wildcard bench/*.c)
BENCHES := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

STATIC_LIB := $(BUILD)/lib/libcorio.a
SHARED_LIB := $(BUILD)/lib/libcorio.so

.PHONY: all lib examples tests bench test demo install clean test-aarch64 check-valgrind \
	check-install
all: lib examples tests bench

lib: $(STATIC_LIB) $(SHARED_LIB)
examples: $(EXAMPLES)
tests: $(TEST_BIN) $(EXAMPLES)
bench: $(BENCHES) $(BUILD)/bench/max_threads

# Tells ../shared/peers/run.sh that corio's benchmarks are single-threaded
# for now (only the current-thread runtime exists): no threads=2 runs.
$(BUILD)/bench/max_threads: bench/max_threads
	@mkdir -p $(dir $@)
	cp $< $@

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS) src/corio.map
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -Wl,--version-script=src/corio.map -Wl,-soname,libcorio.so.0 -o $@ $(LIB_OBJS) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(STATIC_LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(STATIC_LIB) $(LDLIBS)

$(TEST_BIN): $(TEST_SRCS) tests/test.h tests/util.h $(STATIC_LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests $(TEST_SRCS) -o $@ $(STATIC_LIB) $(LDLIBS) -lm

$(BUILD)/bench/%: bench/%.c bench/bench.h $(STATIC_LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O3 $< -o $@ $(STATIC_LIB) $(LDLIBS)

# TEST_ARGS: e.g. TEST_ARGS="-j1 timer" to run the tests whose name contains "timer".
test: $(TEST_BIN) $(EXAMPLES)
	CORIO_BUILD=$(BUILD) CORIO_EXEC="$(TEST_RUNNER)" $(TEST_RUNNER) $(TEST_BIN) $(TEST_ARGS)

demo: $(BUILD)/examples/demo
	$(BUILD)/examples/demo

install: lib
	install -d $(DESTDIR)$(PREFIX)/include/corio $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/corio.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/corio/*.h $(DESTDIR)$(PREFIX)/include/corio/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(PREFIX)/lib/libcorio.so.0
	ln -sf libcorio.so.0 $(DESTDIR)$(PREFIX)/lib/libcorio.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|0.1.0|g' corio.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/corio.pc

# Install into a scratch prefix, then build and run an example against the
# installed headers and libraries through pkg-config, statically and shared.
check-install:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MAKE) --no-print-directory install PREFIX=$$tmp >/dev/null && \
	export PKG_CONFIG_PATH=$$tmp/lib/pkgconfig && \
	$(CC) -o $$tmp/app examples/count_to_three.c $$(pkg-config --cflags --libs corio) && \
	LD_LIBRARY_PATH=$$tmp/lib $$tmp/app | grep -q "Result: 4" && \
	$(CC) -o $$tmp/app_static examples/count_to_three.c $$(pkg-config --cflags corio) \
	  $$tmp/lib/libcorio.a -pthread && $$tmp/app_static | grep -q "Result: 4" && \
	echo "install: headers, libcorio.a, libcorio.so and corio.pc work"

# Cross-build for AArch64 with Debian's cross compiler and run under qemu-user.
AARCH64_CC := aarch64-linux-gnu-gcc
test-aarch64:
	@command -v $(AARCH64_CC) >/dev/null && command -v qemu-aarch64 >/dev/null || \
	  { echo "installing gcc-aarch64-linux-gnu and qemu-user..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user) >/dev/null; }
	$(MAKE) CC=$(AARCH64_CC) CROSS=aarch64 AR=aarch64-linux-gnu-ar \
	  TEST_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" test

# The examples under valgrind's memcheck: no error, no leak. Stacks are
# registered with valgrind, and task memory falls back to malloc under it.
VALGRIND_EXAMPLES := count_to_three two_tasks forget_await timeout
check-valgrind: $(EXAMPLES)
	@for e in $(VALGRIND_EXAMPLES); do \
	  echo "valgrind $$e"; \
	  valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
	    $(BUILD)/examples/$$e $$(case $$e in two_tasks) echo 50;; timeout) echo fast;; esac) \
	    >/dev/null 2>$(BUILD)/valgrind-$$e.log || { cat $(BUILD)/valgrind-$$e.log; exit 1; }; \
	done; echo "valgrind: no errors, no leaks"

clean:
	rm -rf build
