# Shared by bench/forward-vs-linux.sh and bench/pf-vs-nftables.sh: UDP from namespace $src (198.51.100.2) to $dst
# (203.0.113.2) through a router, (a) a Linux router namespace $rtr joined by veths, then (b) Sluice between two TAP
# devices. The caller sets root, name (for messages and temp files), duration, size, id, src, dst, rtr; sourcing this
# file checks root and arguments, finds or builds sluice, builds the generator and sets the cleanup traps.
# shellcheck shell=bash

pids=()

cleanup() {
    # sluice run removes its TAP devices when it stops; give it a bounded moment before the namespaces go.
    for pid in "${pids[@]}"; do
        [[ -n "$pid" ]] || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for ns in "$src" "$dst" "$rtr"; do ip netns delete "$ns" 2>/dev/null || true; done
    [[ -z "${log:-}" ]] || rm -f "$log"
    [[ -z "${gen:-}" ]] || rm -f "$gen"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "$name: failed at line $LINENO" >&2' ERR

if [[ "$(id -u)" != 0 ]]; then echo "needs root" >&2; exit 2; fi
if [[ ! "$duration" =~ ^[0-9]+$ || "$duration" -lt 1 || "$duration" -gt 600 ]]; then echo "seconds: 1..600" >&2; exit 2; fi

sluice="${SLUICE:-}"
if [[ -z "$sluice" ]]; then
    timeout 600 dotnet build "$root/src/Sluice.Cli" -c Release -v q -nologo >&2
    sluice="$root/src/Sluice.Cli/bin/Release/net10.0/sluice"
fi
if [[ ! -x "$sluice" ]]; then echo "no sluice executable at $sluice" >&2; exit 2; fi

in_ns() { local ns="$1"; shift; timeout 30 ip netns exec "$ns" "$@"; }

rx_packets() { in_ns "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }

# Ethernet-frame Mbit/s of $1 packets per second of $size-byte UDP payloads.
mbits() { python3 -c "print(f'{$1 * ($size + 42) * 8 / 1e6:.1f}')"; }

# The generator: a small C sender using sendmmsg(2) (batches of 64) when a C compiler is here, else Python.
gen=""
if command -v cc >/dev/null 2>&1; then
    gen="$(mktemp /tmp/$name-gen.XXXXXX)"
    cat >"$gen.c" <<'C'
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
int main(int argc, char **argv) {
    if (argc != 4) return 2;
    int size = atoi(argv[2]);
    double duration = atof(argv[3]);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
    if (s < 0 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1 || size < 0 || size > 1472) return 2;
    static char payload[1472];
    struct iovec iov = { payload, (size_t)size };
    struct mmsghdr msgs[64];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 64; i++) {
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof to;
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += (time_t)duration;
    long long sent = 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec)) break;
        int n = sendmmsg(s, msgs, 64, 0);
        if (n > 0) sent += n;
    }
    printf("%lld\n", sent);
    return 0;
}
C
    cc -O2 -o "$gen" "$gen.c" 2>/dev/null || gen=""
    rm -f "$gen.c"
fi

# Sends UDP datagrams of $size bytes to $2 from namespace $1 for $duration seconds; prints the count sent.
blast() {
    if [[ -n "$gen" ]]; then
        in_ns "$1" "$gen" "$2" "$size" "$duration"
        return
    fi

    in_ns "$1" python3 - "$2" "$size" "$duration" <<'PY'
import socket, sys, time
dst, size, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"\x00" * size
sent = 0
end = time.monotonic() + duration
while time.monotonic() < end:
    for _ in range(256):
        try:
            s.sendto(payload, (dst, 9))
            sent += 1
        except (BlockingIOError, OSError):
            pass
print(sent)
PY
}

# Runs the generator and prints "offered forwarded" packets per second, counted at the destination's interface.
measure() {
    local before after sent
    before="$(rx_packets "$dst" "$1")"
    sent="$(blast "$src" 203.0.113.2)"
    sleep 0.5
    after="$(rx_packets "$dst" "$1")"
    echo "$((sent / duration)) $(((after - before) / duration))"
}

# Creates $src and $dst, and the Linux router $rtr joined to them by veths (forwarding on, hosts routed through it).
linux_router() {
    for ns in "$src" "$dst" "$rtr"; do ip netns add "$ns"; in_ns "$ns" ip link set lo up; done
    ip link add "s$id" netns "$src" type veth peer name "rs$id" netns "$rtr"
    ip link add "d$id" netns "$dst" type veth peer name "rd$id" netns "$rtr"
    in_ns "$src" ip addr add 198.51.100.2/24 dev "s$id"
    in_ns "$src" ip link set "s$id" up
    in_ns "$src" ip route add default via 198.51.100.1
    in_ns "$dst" ip addr add 203.0.113.2/24 dev "d$id"
    in_ns "$dst" ip link set "d$id" up
    in_ns "$dst" ip route add default via 203.0.113.1
    in_ns "$rtr" ip addr add 198.51.100.1/24 dev "rs$id"
    in_ns "$rtr" ip addr add 203.0.113.1/24 dev "rd$id"
    in_ns "$rtr" ip link set "rs$id" up
    in_ns "$rtr" ip link set "rd$id" up
    in_ns "$rtr" sysctl -qw net.ipv4.ip_forward=1
}

describe_generator() {
    echo "generator: $([[ -n "$gen" ]] && echo "C sendmmsg" || echo "python3 sendto"), ${size}-byte UDP payloads to 203.0.113.2:9, ${duration}s per side"
}

# Replaces the Linux router by `sluice run -p PREFIX LAB` (run from the repository root) and waits for READY in its
# output; then moves the TAP devices PREFIXtap0/PREFIXtap1 into $src/$dst with the veths' addresses. Sets sluice_pid.
sluice_router() {
    local prefix="$1" lab="$2" ready="$3"
    ip netns delete "$rtr" # takes the veth pairs (and the hosts' addresses) with it
    log="$(mktemp "/tmp/$name.XXXXXX")"
    (cd "$root" && exec "$sluice" run -p "$prefix" -t "$((duration + 60))" "$lab") >"$log" 2>&1 &
    sluice_pid=$!
    pids+=("$sluice_pid")
    for _ in $(seq 1 300); do
        grep -q "$ready" "$log" && break
        kill -0 "$sluice_pid" 2>/dev/null || { cat "$log" >&2; echo "sluice run exited early" >&2; exit 1; }
        sleep 0.1
    done
    grep -q "$ready" "$log" || { cat "$log" >&2; echo "sluice run did not come up" >&2; exit 1; }

    ip link set "${prefix}tap0" netns "$src"
    ip link set "${prefix}tap1" netns "$dst"
    in_ns "$src" ip addr add 198.51.100.2/24 dev "${prefix}tap0"
    in_ns "$src" ip link set "${prefix}tap0" up
    in_ns "$src" ip route add default via 198.51.100.1
    in_ns "$dst" ip addr add 203.0.113.2/24 dev "${prefix}tap1"
    in_ns "$dst" ip link set "${prefix}tap1" up
    in_ns "$dst" ip route add default via 203.0.113.1
}

# Stops sluice and prints "ratio sluice/PEER: R" from the two forwarded rates.
finish() {
    local peer="$1" linux_rate="$2" sluice_rate="$3"
    kill -TERM "$sluice_pid" 2>/dev/null || true
    wait "$sluice_pid" 2>/dev/null || true
    if [[ "$linux_rate" -gt 0 ]]; then
        echo "ratio sluice/$peer: $(python3 -c "print(f'{$sluice_rate / $linux_rate:.3f}')")"
    else
        echo "ratio sluice/$peer: n/a ($peer forwarded nothing)"
    fi
}
