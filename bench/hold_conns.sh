#!/bin/sh
# bench/hold_conns.sh - hold as many connections as the fd limit allows in
# one echo server process and report its resident memory per connection
# (bench/hold_conns.c does the measuring; this runs it for each server).
#
#   bench/hold_conns.sh                     corio (coroutine and stackless
#                                           connections), tokio and Go, as built
#   bench/hold_conns.sh corio=build/bench/tcp_echo threads=build/bench_threads/tcp_echo
#   BUILD=build/x THREADS=2 CONNS=10000 bench/hold_conns.sh
#
# BUILD: corio's build folder (default build); PEERS: the peers' built
# implementations (default ../shared/peers/build/impls); THREADS: the
# servers' threads= (default 1); CONNS: connections (default: as many as
# the hard fd limit allows, less a margin). Each server gets a port of its
# own (from 17600 up), so connections of one run left in TIME_WAIT do not
# collide with the next. 127.0.0.1 only; each run is bounded (alarm 120 s)
# and takes a few seconds.
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PEERS=${PEERS:-../shared/peers/build/impls}
THREADS=${THREADS:-1}
CONNS=${CONNS:-0}
DRIVER=$BUILD/bench/hold_conns
if [ ! -x "$DRIVER" ]; then
    mkdir -p "$BUILD/bench"
    ${CC:-cc} -std=gnu11 -O2 -D_GNU_SOURCE -o "$DRIVER" bench/hold_conns.c
fi
port=17600
run() {
    if [ ! -x "$2" ]; then
        echo "hold_conns: no $2, $1 skipped" >&2
        return 0
    fi
    "$DRIVER" server="$2" label="$1" port=$port threads="$THREADS" conns="$CONNS"
    port=$((port + 1))
}
echo "hard fd limit per process: $(ulimit -Hn)"
if [ $# -gt 0 ]; then
    for spec in "$@"; do
        run "${spec%%=*}" "${spec#*=}"
    done
else
    run corio "$BUILD/bench/tcp_echo"
    run corio-stackless "$BUILD/bench_stackless/tcp_echo"
    run tokio "$PEERS/tokio/tcp_echo"
    run go "$PEERS/go/tcp_echo"
fi
