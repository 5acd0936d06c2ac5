#!/usr/bin/env bash
# Side-by-side forwarding rate: UDP from ns-src to ns-dst through (a) a Linux router namespace and (b) Sluice
# forwarding between two TAP devices. Same generator, same packet size, one run; prints both rates and their ratio.
# Needs root, iproute2 and python3. Usage: bench/forward-vs-linux.sh [seconds per side, default 5]
set -euo pipefail

duration="${1:-5}"
size="${SIZE:-64}"
id="$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
src="ns-src-$id"
dst="ns-dst-$id"
rtr="ns-rtr-$id"
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for ns in "$src" "$dst" "$rtr"; do ip netns delete "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "forward-vs-linux: failed at line $LINENO" >&2' ERR

if [[ "$(id -u)" != 0 ]]; then echo "needs root" >&2; exit 2; fi

in_ns() { local ns="$1"; shift; timeout 30 ip netns exec "$ns" "$@"; }

rx_packets() { in_ns "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }

# Sends UDP datagrams of $size bytes to $2 from namespace $1 for $duration seconds; prints the count sent.
blast() {
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

# --- (a) Linux kernel router -------------------------------------------------------------------------------------
ip netns add "$rtr"
in_ns "$rtr" ip link set lo up
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
in_ns "$src" ping -c 1 -W 2 203.0.113.2 >/dev/null

read -r linux_offered linux_rate < <(measure "d$id")
echo "linux:  offered ${linux_offered} pps, forwarded ${linux_rate} pps (${size}-byte UDP, ${duration}s)"

# --- (b) Sluice between two TAP devices --------------------------------------------------------------------------
# TODO(sluice run): once the CLI can run an appliance that forwards between two TAP devices (e.g.
# `sluice run` with tap0 198.51.100.1/24 and tap1 203.0.113.1/24, forwarding on), start it here, move tap0 into
# $src and tap1 into $dst, address them as above, and measure with `measure <tap1 name>` the same way.
sluice=""
if [[ -x "${SLUICE:-}" ]]; then sluice="$SLUICE"; fi
if [[ -n "$sluice" ]] && "$sluice" run --help >/dev/null 2>&1; then
    echo "sluice: 'sluice run' exists but this script does not drive it yet: not yet" >&2
    sluice_rate=""
else
    echo "sluice: not yet (no 'sluice run' to forward between TAP devices)"
    sluice_rate=""
fi

if [[ -n "$sluice_rate" && "$linux_rate" -gt 0 ]]; then
    echo "ratio sluice/linux: $(python3 -c "print(f'{$sluice_rate / $linux_rate:.3f}')")"
else
    echo "ratio sluice/linux: n/a"
fi
