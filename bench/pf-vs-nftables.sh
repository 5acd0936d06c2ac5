#!/usr/bin/env bash
# Side-by-side stateful NAT: UDP from ns-src (198.51.100.2, inside) to ns-dst (203.0.113.2, outside) through
# (a) a Linux router namespace with nftables (masquerade + forward policy drop, conntrack accepts the flow) and
# (b) Sluice with pf (examples/pf-live-nat.lab: `sluice run` between two TAP devices, examples/pf-live-nat.conf).
# Same policy, generator and packet size in one run; prints both rates and the ratio sluice/linux.
# Needs root, /dev/net/tun, iproute2, nftables (apt-get install -y nftables), python3 and the .NET SDK (or
# SLUICE=path/to/sluice).
# Usage: [SIZE=payload-bytes] [SLUICE=path/to/sluice] bench/pf-vs-nftables.sh [seconds per side, default 5]
# Mbit/s counts whole Ethernet frames (payload + 8 UDP + 20 IPv4 + 14 Ethernet bytes), without preamble and FCS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

duration="${1:-5}"
size="${SIZE:-64}"
id="$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
src="ns-src-$id"
dst="ns-dst-$id"
rtr="ns-rtr-$id"
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
trap 'echo "pf-vs-nftables: failed at line $LINENO" >&2' ERR

if [[ "$(id -u)" != 0 ]]; then echo "needs root" >&2; exit 2; fi
if [[ ! "$duration" =~ ^[0-9]+$ || "$duration" -lt 1 || "$duration" -gt 600 ]]; then echo "seconds: 1..600" >&2; exit 2; fi
if ! command -v nft >/dev/null 2>&1; then echo "needs nft (apt-get install -y nftables)" >&2; exit 2; fi

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
    gen="$(mktemp /tmp/pf-vs-nftables-gen.XXXXXX)"
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

for ns in "$src" "$dst"; do ip netns add "$ns"; in_ns "$ns" ip link set lo up; done

# --- (a) Linux kernel router with nftables -------------------------------------------------------------------------
ip netns add "$rtr"
in_ns "$rtr" ip link set lo up
ip link add "s$id" netns "$src" type veth peer name "rs$id" netns "$rtr"
ip link add "d$id" netns "$dst" type veth peer name "rd$id" netns "$rtr"
in_ns "$src" ip addr add 198.51.100.2/24 dev "s$id"
in_ns "$src" ip link set "s$id" up
in_ns "$src" ip route add default via 198.51.100.1
in_ns "$dst" ip addr add 203.0.113.2/24 dev "d$id"
in_ns "$dst" ip link set "d$id" up
in_ns "$rtr" ip addr add 198.51.100.1/24 dev "rs$id"
in_ns "$rtr" ip addr add 203.0.113.1/24 dev "rd$id"
in_ns "$rtr" ip link set "rs$id" up
in_ns "$rtr" ip link set "rd$id" up
in_ns "$rtr" sysctl -qw net.ipv4.ip_forward=1
# The policy of examples/pf-live-nat.conf: NAT the inside to the outside address, drop what no inside flow started.
in_ns "$rtr" nft -f - <<NFT
table ip sluicebench {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "rd$id" ip saddr 198.51.100.0/24 masquerade
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "rs$id" ip saddr 198.51.100.0/24 ct state new accept
    }
}
NFT
in_ns "$src" ping -c 1 -W 2 203.0.113.2 >/dev/null
# The outside cannot open a flow inward (a state is needed), as with pf's block all.
if in_ns "$dst" ping -c 1 -W 1 198.51.100.2 >/dev/null 2>&1; then echo "nftables policy let the outside in" >&2; exit 1; fi

echo "generator: $([[ -n "$gen" ]] && echo "C sendmmsg" || echo "python3 sendto"), ${size}-byte UDP payloads to 203.0.113.2:9, ${duration}s per side"
read -r linux_offered linux_rate < <(measure "d$id")
echo "nftables: offered ${linux_offered} pps, forwarded ${linux_rate} pps, $(mbits "$linux_rate") Mbit/s (${size}-byte UDP, ${duration}s)"

# --- (b) Sluice with pf between two TAP devices --------------------------------------------------------------------
# The same two hosts, now joined by `sluice run examples/pf-live-nat.lab` (run from the repository root, where the lab
# finds examples/pf-live-nat.conf); the Linux ends of the TAP devices take the veths' place in $src/$dst.
ip netns delete "$rtr" # takes the veth pairs (and the hosts' addresses) with it

log="$(mktemp /tmp/pf-vs-nftables.XXXXXX)"
(cd "$root" && exec "$sluice" run -p "p$id" -t "$((duration + 60))" examples/pf-live-nat.lab) >"$log" 2>&1 &
sluice_pid=$!
pids+=("$sluice_pid")
for _ in $(seq 1 300); do
    grep -q "pf-live-nat: NAT" "$log" && break
    kill -0 "$sluice_pid" 2>/dev/null || { cat "$log" >&2; echo "sluice run exited early" >&2; exit 1; }
    sleep 0.1
done
grep -q "pf-live-nat: NAT" "$log" || { cat "$log" >&2; echo "sluice run did not come up" >&2; exit 1; }

ip link set "p${id}tap0" netns "$src"
ip link set "p${id}tap1" netns "$dst"
in_ns "$src" ip addr add 198.51.100.2/24 dev "p${id}tap0"
in_ns "$src" ip link set "p${id}tap0" up
in_ns "$src" ip route add default via 198.51.100.1
in_ns "$dst" ip addr add 203.0.113.2/24 dev "p${id}tap1"
in_ns "$dst" ip link set "p${id}tap1" up
in_ns "$src" ping -c 1 -W 2 203.0.113.2 >/dev/null
if in_ns "$dst" ping -c 1 -W 1 198.51.100.2 >/dev/null 2>&1; then echo "pf policy let the outside in" >&2; exit 1; fi

read -r sluice_offered sluice_rate < <(measure "p${id}tap1")
echo "sluice pf: offered ${sluice_offered} pps, forwarded ${sluice_rate} pps, $(mbits "$sluice_rate") Mbit/s (${size}-byte UDP, ${duration}s)"

kill -TERM "$sluice_pid" 2>/dev/null || true
wait "$sluice_pid" 2>/dev/null || true

if [[ "$linux_rate" -gt 0 ]]; then
    echo "ratio sluice/nftables: $(python3 -c "print(f'{$sluice_rate / $linux_rate:.3f}')")"
else
    echo "ratio sluice/nftables: n/a (nftables forwarded nothing)"
fi
