#!/usr/bin/env bash
# Side-by-side TCP bulk receive: one Linux sender (python3) in namespace ns-tx sends the same number of bytes over
# one TCP connection to (a) Sluice, a discard server on a TAP device (bench/Sluice.TcpSink), with virtio-net offload
# and without it, and (b) a Linux discard server (python3) in namespace ns-rx behind a veth pair. One run; prints the
# rates and the Sluice/Linux ratios. Time is measured by the sender, from connect to the receiver's close after EOF.
# Needs root, /dev/net/tun, iproute2, python3 and the .NET SDK (or SINK=path/to/Sluice.TcpSink).
# Usage: [SINK=path] [MODES="offload plain"] bench/tcp-vs-linux.sh [megabytes, default 1000]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

megabytes="${1:-1000}"
modes="${MODES:-offload plain}"
id="$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
tx="ns-tx-$id"
rx="ns-rx-$id"
limit=180   # seconds any one side may take
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        [[ -n "$pid" ]] || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for ns in "$tx" "$rx"; do ip netns delete "$ns" 2>/dev/null || true; done
    [[ -z "${log:-}" ]] || rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "tcp-vs-linux: failed at line $LINENO" >&2' ERR

if [[ "$(id -u)" != 0 ]]; then echo "needs root" >&2; exit 2; fi
if [[ ! "$megabytes" =~ ^[0-9]+$ || "$megabytes" -lt 1 || "$megabytes" -gt 100000 ]]; then echo "megabytes: 1..100000" >&2; exit 2; fi
bytes=$((megabytes * 1000000))

sink="${SINK:-}"
if [[ -z "$sink" ]]; then
    timeout 600 dotnet build "$root/bench/Sluice.TcpSink" -c Release -v q -nologo >&2
    sink="$root/bench/Sluice.TcpSink/bin/Release/net10.0/Sluice.TcpSink"
fi
if [[ ! -x "$sink" ]]; then echo "no sink executable at $sink" >&2; exit 2; fi

in_ns() { local ns="$1"; shift; timeout "$limit" ip netns exec "$ns" "$@"; }

# The sender: connects to $1:$2, sends $bytes bytes, half-closes, waits for the receiver's close; prints seconds.
send() {
    in_ns "$tx" python3 - "$1" "$2" "$bytes" <<'PY'
import socket, sys, time
host, port, left = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
chunk = memoryview(bytes(1 << 20))
for attempt in range(50):
    try:
        s = socket.create_connection((host, port), timeout=30)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("connect failed")
start = time.monotonic()
while left:
    n = s.send(chunk[:min(left, len(chunk))])
    left -= n
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print(f"{time.monotonic() - start:.6f}")
PY
}

gbits() { python3 -c "print(f'{$bytes * 8 / $1 / 1e9:.2f}')"; }

ip netns add "$tx"
ip netns add "$rx"
in_ns "$tx" ip link set lo up
in_ns "$rx" ip link set lo up

# Linux -> Linux over a veth pair (198.51.100.0/24).
ip link add "vtx$id" netns "$tx" type veth peer name "vrx$id" netns "$rx"
in_ns "$tx" ip addr add 198.51.100.1/24 dev "vtx$id"
in_ns "$rx" ip addr add 198.51.100.2/24 dev "vrx$id"
in_ns "$tx" ip link set "vtx$id" up
in_ns "$rx" ip link set "vrx$id" up

log="$(mktemp /tmp/tcp-vs-linux.XXXXXX)"
in_ns "$rx" python3 - "$bytes" >"$log" <<'PY' &
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("198.51.100.2", 5001))
l.listen(1)
l.settimeout(60)
c, _ = l.accept()
buf = bytearray(1 << 20)
n = 0
while True:
    k = c.recv_into(buf)
    if not k:
        break
    n += k
c.close()
print(n)
PY
pids+=($!)
sleep 0.5
linux_s="$(send 198.51.100.2 5001)"
wait "${pids[-1]}" || true
linux_bytes="$(tr -d '\n' <"$log")"
[[ "$linux_bytes" == "$bytes" ]] || { echo "Linux receiver counted $linux_bytes of $bytes bytes" >&2; exit 1; }
linux_rate="$(gbits "$linux_s")"
echo "Linux -> Linux (veth):              $megabytes MB in ${linux_s}s = $linux_rate Gbit/s"

# Linux -> Sluice over TAP (192.0.2.0/24), per mode.
for mode in $modes; do
    tap="slk$id${mode:0:1}"
    "$sink" "$tap" 192.0.2.2/24 5001 "$mode" "$limit" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 200); do grep -q ready "$log" && break; sleep 0.1; done
    grep -q ready "$log" || { echo "sink did not start:" >&2; cat "$log" >&2; exit 1; }
    ip link set "$tap" netns "$tx"
    in_ns "$tx" ip addr add 192.0.2.1/24 dev "$tap"
    in_ns "$tx" ip link set "$tap" up
    sluice_s="$(send 192.0.2.2 5001)"
    wait "${pids[-1]}" || true
    read -r sluice_bytes _ gso largest < <(tail -n 1 "$log")
    [[ "$sluice_bytes" == "$bytes" ]] || { echo "Sluice counted $sluice_bytes of $bytes bytes" >&2; cat "$log" >&2; exit 1; }
    sluice_rate="$(gbits "$sluice_s")"
    ratio="$(python3 -c "print(f'{$sluice_rate / $linux_rate:.3f}')")"
    printf 'Linux -> Sluice (TAP, %-7s):   %s MB in %ss = %s Gbit/s  (%s of Linux; %s GSO frames, largest %s bytes)\n' \
        "$mode" "$megabytes" "$sluice_s" "$sluice_rate" "$ratio" "$gso" "$largest"
done
