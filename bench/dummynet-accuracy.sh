#!/usr/bin/env bash
# Accuracy of `sluice wan` on real time: Linux curl and ping between two namespaces through sluice wan at 1, 10 and
# 100 Mbit/s and 0, 10 and 50 ms delay each way. Prints achieved rate and added one-way delay against the
# configuration, with the error in percent (rate) and milliseconds (delay).
# Needs root, /dev/net/tun, iproute2, curl, python3 and the .NET SDK (or SLUICE=path/to/sluice).
# Usage: [SLUICE=path/to/sluice] [TRANSFER_SECONDS=seconds per transfer, default 3] bench/dummynet-accuracy.sh
# Rate: the body's bytes over the transfer time after the first byte (curl), scaled to IP bytes (1500-byte packets
# carry 1448 bytes of body with TCP timestamps) because dummynet's bw counts IP bytes; slow start stays in the figure.
# Delay: (ping RTT - RTT without pipes - 84-byte serialisation both ways) / 2, averaged over 20 pings.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${TRANSFER_SECONDS:-3}"
id="$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
na="ns-wa-$id"
nb="ns-wb-$id"
ta="wa$id"
tb="wb$id"
dir="$(mktemp -d /tmp/dummynet-accuracy.XXXXXX)"
wan_pid=""
srv_pid=""

stop_wan() {
    [[ -n "$wan_pid" ]] || return 0
    kill -INT "$wan_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$wan_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$wan_pid" 2>/dev/null || true
    wait "$wan_pid" 2>/dev/null || true
    wan_pid=""
}

cleanup() {
    [[ -z "$srv_pid" ]] || kill "$srv_pid" 2>/dev/null || true
    stop_wan
    ip netns delete "$na" 2>/dev/null || true
    ip netns delete "$nb" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "dummynet-accuracy: failed at line $LINENO" >&2' ERR

if [[ "$(id -u)" != 0 ]]; then echo "needs root" >&2; exit 2; fi

sluice="${SLUICE:-}"
if [[ -z "$sluice" ]]; then
    timeout 600 dotnet build "$root/src/Sluice.Cli" -c Release -v q -nologo >&2
    sluice="$root/src/Sluice.Cli/bin/Release/net10.0/sluice"
fi
if [[ ! -x "$sluice" ]]; then echo "no sluice executable at $sluice" >&2; exit 2; fi

in_ns() { local ns="$1"; shift; timeout 60 ip netns exec "$ns" "$@"; }

ip netns add "$na"
ip netns add "$nb"
in_ns "$na" ip link set lo up
in_ns "$nb" ip link set lo up

# Starts sluice wan with the same pipe both ways and puts its TAP devices into the namespaces.
start_wan() {
    "$sluice" wan -t 120 --ab "$1" --ba "$1" "tap:$ta" "tap:$tb" >"$dir/wan.out" 2>"$dir/wan.err" &
    wan_pid=$!
    for _ in $(seq 1 100); do grep -q running "$dir/wan.err" 2>/dev/null && break; sleep 0.1; done
    grep -q running "$dir/wan.err" || { cat "$dir/wan.err" >&2; exit 1; }
    ip link set "$ta" netns "$na"
    ip link set "$tb" netns "$nb"
    in_ns "$na" ip addr add 192.0.2.1/24 dev "$ta"
    in_ns "$nb" ip addr add 192.0.2.2/24 dev "$tb"
    in_ns "$na" ip link set "$ta" up
    in_ns "$nb" ip link set "$tb" up
    in_ns "$na" ping -c 1 -W 3 192.0.2.2 >/dev/null
}

rtt_avg() { in_ns "$na" ping -q -c 20 -i 0.05 -W 3 192.0.2.2 | awk -F/ '/^rtt/ { print $5 }'; }

# Base RTT without pipes: what the TAP path itself adds.
start_wan ""
base="$(rtt_avg)"
stop_wan

printf '%-10s %-6s | %14s %8s | %12s %8s\n' "bw" "delay" "rate Mbit/s" "err %" "delay ms" "err ms"
for bw in 1 10 100; do
    # Enough bytes for $seconds at the configured rate (bounded: at most ~38 MB at 100 Mbit/s).
    bytes=$(( bw * 1000000 / 8 * seconds ))
    head -c "$bytes" /dev/zero > "$dir/blob"
    for delay in 0 10 50; do
        start_wan "bw ${bw}Mbit/s delay ${delay}ms queue 100"
        in_ns "$nb" python3 -m http.server -b 192.0.2.2 -d "$dir" 8080 >/dev/null 2>&1 &
        srv_pid=$!
        for _ in $(seq 1 50); do in_ns "$na" curl -s -o /dev/null "http://192.0.2.2:8080/" && break; sleep 0.1; done
        read -r size total first < <(in_ns "$na" curl -s -o /dev/null -w '%{size_download} %{time_total} %{time_starttransfer}\n' "http://192.0.2.2:8080/blob")
        rtt="$(rtt_avg)"
        kill "$srv_pid" 2>/dev/null || true
        wait "$srv_pid" 2>/dev/null || true
        srv_pid=""
        stop_wan
        python3 - "$bw" "$delay" "$size" "$total" "$first" "$rtt" "$base" <<'PY'
import sys
bw, delay, size, total, first, rtt, base = (float(x) for x in sys.argv[1:])
rate = size * 8 / max(1e-9, total - first) / 1e6 * 1500 / 1448
ser = 2 * 84 * 8 / (bw * 1e6) * 1e3
added = (rtt - base - ser) / 2
print(f"{bw:>4.0f}Mbit/s {delay:>4.0f}ms | {rate:14.3f} {100 * (rate - bw) / bw:+8.2f} | {added:12.3f} {added - delay:+8.3f}")
PY
    done
done
echo "base RTT without pipes: ${base} ms"
