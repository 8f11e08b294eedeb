# Nucleus - a lightweight container runtime (C core, Lua 5.4 control layer).
#
#   make deps     install build and test dependencies (Debian/Ubuntu, as root)
#   make          build build/bin/nucleus, build/lib/nucleus/core.so, build/lib/libnucleus.a
#   make demo     build and run a real agent sandbox
#   make check    the whole test suite (TAP, gathered by prove), VM stage included
#   make bench    benchmarks against the peers (tests/bench/all.sh; not part of check)
#   make check-workloads  CPython's regression tests bare, under bubblewrap and under
#                 nucleus (tests/workloads/cpython.t; not part of check: about an hour)
#   make install  PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
LUA ?= lua5.4
PKG_CONFIG ?= pkg-config

B := build
LUA_CFLAGS = $(shell $(PKG_CONFIG) --cflags lua5.4 2>/dev/null)
NL_CFLAGS = $(shell $(PKG_CONFIG) --cflags libnl-route-3.0 2>/dev/null)
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fPIC -D_FORTIFY_SOURCE=2 \
          -Icore/include $(LUA_CFLAGS) $(NL_CFLAGS)
# The CLI is one static PIE: no loader, no shared objects to map, no symbol
# to look up at its start (a third of a millisecond per container, measured
# in tests/bench/startup.sh's notes).  lua-cjson is in it (package.preload),
# the only C module its Lua code loads; the host's user database is read
# from its files by glibc's own code, and through getent(1) for names those
# lack (main.c), since a static glibc cannot load NSS modules.  core.so
# links no liblua at all.
CLI_LIBS := -static-pie -llua5.4-cjson -llua5.4 -lseccomp -lcap -lcrypto -lnl-route-3 -lnl-3 -lm
# core.so takes libseccomp, libcap and libcrypto in too, their symbols kept
# to itself: loading their shared objects (libcrypto's relocations above
# all) cost a stock lua5.4 1.5 ms at every `require`.  libnl's archives are
# not position-independent: those stay shared.
SO_LIBS := -Wl,--exclude-libs,ALL -Wl,-Bstatic -lseccomp -lcrypto -lcap -Wl,-Bdynamic -lnl-route-3 -lnl-3

CORE_SRC := core/src/err.c core/src/plan.c core/src/seccomp.c core/src/landlock.c \
            core/src/hash.c core/src/trace.c core/src/spawn.c core/src/child.c \
            core/src/netns.c core/src/helper.c
BIND_SRC := core/bind/l_core.c core/bind/l_plan.c core/bind/l_net.c
CORE_OBJ := $(CORE_SRC:%.c=$(B)/obj/%.o) $(B)/obj/core/src/init_blob.o
BIND_OBJ := $(BIND_SRC:%.c=$(B)/obj/%.o)
HEADERS := $(wildcard core/include/nucleus/*.h core/src/*.h core/bind/*.h)

LUA_MODULES := $(sort $(shell find lua -name '*.lua'))
# overlays (derived profiles) last: they name a base given before them
POLICIES := $(sort $(filter-out %-overlay.json,$(wildcard policies/*.json)) $(wildcard policies/*.toml)) \
            $(sort $(wildcard policies/*.seccomp-overlay.json))
SECCOMP_BUILTINS := $(notdir $(wildcard policies/*.seccomp.json) \
                    $(subst -overlay,,$(wildcard policies/*.seccomp-overlay.json)))
# module name = path under lua/ with / -> . and init dropped
modname = $(subst /,.,$(patsubst lua/%.lua,%,$(patsubst %/init.lua,%.lua,$(1))))

all: $(B)/bin/nucleus $(B)/lib/nucleus/core.so $(B)/lib/libnucleus.a

$(B)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# nucleus-init, PID 1 of every container: freestanding (no libc), static,
# a few kilobytes; linked into the CLI and core.so as data (init_blob.S)
# and exec'd from a sealed memfd (core/init/init.c says why).
INIT_CFLAGS := -Os -static -nostdlib -ffreestanding -fno-stack-protector -fno-builtin \
               -fno-asynchronous-unwind-tables -fno-pie -no-pie -Wall -Wextra -Werror \
               -Wl,--build-id=none -Wl,-z,noexecstack -s
$(B)/init/nucleus-init: core/init/init.c
	@mkdir -p $(dir $@)
	$(CC) $(INIT_CFLAGS) -o $@ $<

$(B)/obj/core/src/init_blob.o: core/src/init_blob.S $(B)/init/nucleus-init
	@mkdir -p $(dir $@)
	$(CC) -c -DNC_INIT_PATH='"$(B)/init/nucleus-init"' -o $@ $<

$(B)/lua/nucleus/policies.lua: tools/embed.lua $(POLICIES)
	@mkdir -p $(dir $@)
	$(LUA) tools/embed.lua policies $@ $(POLICIES)

$(B)/gen/embedded.c: tools/embed.lua $(LUA_MODULES) $(B)/lua/nucleus/policies.lua
	@mkdir -p $(dir $@)
	$(LUA) tools/embed.lua modules $@ \
	  $(foreach m,$(LUA_MODULES),$(call modname,$(m))=$(m)) \
	  nucleus.policies=$(B)/lua/nucleus/policies.lua

$(B)/gen/embedded_lib.c: tools/embed.lua $(LUA_MODULES) $(B)/lua/nucleus/policies.lua
	@mkdir -p $(dir $@)
	$(LUA) tools/embed.lua library $@ \
	  $(foreach m,$(LUA_MODULES),$(call modname,$(m))=$(m)) \
	  nucleus.policies=$(B)/lua/nucleus/policies.lua

# The built-in seccomp profiles, compiled once here instead of at every
# start, by a first build of core.so that has none.
$(B)/gen/no_builtin.c:
	@mkdir -p $(dir $@)
	printf '#include "nucleus/nc_plan.h"\nconst struct nc_sc_builtin nc_seccomp_builtins[] = { { 0, 0, 0 } };\n' > $@

$(B)/gen/stage1/nucleus/core.so: $(CORE_OBJ) $(BIND_OBJ) $(B)/obj/gen/no_builtin.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(SO_LIBS)

$(B)/gen/seccomp_builtin.c: tools/embed.lua $(B)/gen/stage1/nucleus/core.so $(B)/lua/nucleus/policies.lua
	LUA_CPATH="$(B)/gen/stage1/?.so" LUA_PATH="$(B)/lua/?.lua" $(LUA) tools/embed.lua seccomp $@ \
	  $(SECCOMP_BUILTINS)

BUILTIN_OBJ := $(B)/obj/gen/seccomp_builtin.o

$(B)/bin/nucleus: $(B)/obj/core/main.o $(CORE_OBJ) $(BIND_OBJ) $(B)/obj/gen/embedded.o $(BUILTIN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_LIBS)

$(B)/obj/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/lib/nucleus/core.so: $(CORE_OBJ) $(BIND_OBJ) $(BUILTIN_OBJ) $(B)/obj/gen/embedded_lib.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(SO_LIBS)

$(B)/lib/libnucleus.a: $(CORE_OBJ) $(BUILTIN_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/probe: tests/helpers/probe.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -static -Wall -Wextra -o $@ $<

# --- dependencies -----------------------------------------------------------
BUILD_DEPS := gcc make pkg-config libc6-dev liblua5.4-dev lua5.4 lua-cjson lua-cjson-dev \
              libseccomp-dev libcap-dev libssl-dev libnl-3-dev libnl-route-3-dev
# the workload suite (tests/integration/workloads.t) runs gdb, venvs and node
TEST_DEPS := python3 ca-certificates git iproute2 util-linux procps perl spin iptables slirp4netns \
             busybox-static python3-venv gdb nodejs
FUZZ_DEPS := clang libclang-rt-dev llvm
WORKLOAD_DEPS := python3.11 libpython3.11-testsuite bubblewrap util-linux iproute2
BENCH_DEPS := hyperfine bubblewrap crun runc busybox-static gnuplot-nox postgresql-15 postgresql-client-15
VM_DEPS = $(shell cat tests/vm/deps.txt 2>/dev/null)

define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_DEPS) $(TEST_DEPS) $(FUZZ_DEPS) $(VM_DEPS))

fuzz-deps:
	$(call apt_install,$(BUILD_DEPS) $(FUZZ_DEPS))

bench-deps:
	$(call apt_install,$(BENCH_DEPS))

workload-deps:
	$(call apt_install,$(BUILD_DEPS) $(WORKLOAD_DEPS))

# --- running ----------------------------------------------------------------
demo: deps
	@$(MAKE) -s all
	@echo '$$ nucleus run --rm --context lua -- sh -c "id; hostname; ls /context/nucleus | head -3; cat /proc/1/comm; grep Seccomp: /proc/self/status"'
	@$(B)/bin/nucleus run --rm --context lua -- sh -c 'id; hostname; ls /context/nucleus | head -3; cat /proc/1/comm; grep Seccomp: /proc/self/status'

# C unit tests: tests/core/test_*.c -> build/tests/test_*.t (TAP executables)
CORE_TESTS := $(patsubst tests/core/%.c,$(B)/tests/%.t,$(wildcard tests/core/test_*.c))
$(B)/tests/%.t: tests/core/%.c $(B)/lib/libnucleus.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/lib/libnucleus.a -lseccomp -lcap -lcrypto

TESTS_HOST = $(sort $(wildcard tests/unit/*.t tests/core/*.t tests/plan/*.t tests/integration/*.t \
                              tests/fuzz/*.t tests/formal/*.t)) $(CORE_TESTS)
TESTS_VM = $(sort $(wildcard tests/vm/*.t))
TEST_BUILD := all $(B)/probe $(CORE_TESTS)

# deps first, in its own make, so that pkg-config sees what it installed
check: deps
	$(MAKE) check-host check-vm

check-host: $(TEST_BUILD)
	prove -f $(TESTS_HOST)

check-vm: $(TEST_BUILD)
	$(if $(TESTS_VM),prove -f $(TESTS_VM),@echo "no VM tests")

# the fuzzers for longer than check's few seconds
fuzz: fuzz-deps
	$(MAKE) all
	tests/fuzz/run.sh 300

bench: bench-deps
	$(MAKE) all
	tests/bench/all.sh

# a module passing bare and failing under nucleus fails this, unless
# tests/workloads/cpython-restrictions.txt says why (README: "CPython's
# regression tests")
check-workloads: workload-deps
	$(MAKE) all
	prove -v tests/workloads/cpython.t

# --- install ----------------------------------------------------------------
LUA_LMOD := $(PREFIX)/share/lua/5.4
LUA_CMOD := $(PREFIX)/lib/lua/5.4

install: all
	install -D -m 0755 $(B)/bin/nucleus $(DESTDIR)$(PREFIX)/bin/nucleus
	install -D -m 0755 $(B)/lib/nucleus/core.so $(DESTDIR)$(LUA_CMOD)/nucleus/core.so
	install -D -m 0644 $(B)/lib/libnucleus.a $(DESTDIR)$(PREFIX)/lib/libnucleus.a
	for h in core/include/nucleus/*.h; do install -D -m 0644 $$h $(DESTDIR)$(PREFIX)/include/nucleus/$$(basename $$h); done
	for m in $(LUA_MODULES); do install -D -m 0644 $$m $(DESTDIR)$(LUA_LMOD)/$${m#lua/}; done
	install -D -m 0644 $(B)/lua/nucleus/policies.lua $(DESTDIR)$(LUA_LMOD)/nucleus/policies.lua

clean:
	rm -rf $(B)/obj $(B)/gen $(B)/bin $(B)/lib $(B)/lua $(B)/probe $(B)/tests $(B)/fuzz $(B)/init

.PHONY: all deps bench-deps fuzz-deps workload-deps demo check check-host check-vm check-workloads fuzz bench \
        install clean
