#!/usr/bin/env bash
# Side-by-side forwarding rate: UDP from ns-src to ns-dst through (a) a Linux router namespace and (b) Sluice
# forwarding between two TAP devices. Same generator, same packet size, one run; prints both rates and their ratio.
# Needs root, /dev/net/tun, iproute2, python3 and the .NET SDK (or SLUICE=path/to/sluice).
# Usage: [SIZE=payload-bytes] [SLUICE=path/to/sluice] bench/forward-vs-linux.sh [seconds per side, default 5]
# Mbit/s counts whole Ethernet frames (payload + 8 UDP + 20 IPv4 + 14 Ethernet bytes), without preamble and FCS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

duration="${1:-5}"
size="${SIZE:-64}"
id="$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
src="ns-src-$id"
dst="ns-dst-$id"
rtr="ns-rtr-$id"
name=forward-vs-linux
# shellcheck source=bench/lib/udp-forwarding.sh
source "$root/bench/lib/udp-forwarding.sh"

# --- (a) Linux kernel router -------------------------------------------------------------------------------------
linux_router
in_ns "$src" ping -c 1 -W 2 203.0.113.2 >/dev/null

describe_generator
read -r linux_offered linux_rate < <(measure "d$id")
echo "linux:  offered ${linux_offered} pps, forwarded ${linux_rate} pps, $(mbits "$linux_rate") Mbit/s (${size}-byte UDP, ${duration}s)"

# --- (b) Sluice between two TAP devices --------------------------------------------------------------------------
# The same two hosts, now joined by `sluice run examples/live-router.lab`: Sluice's host stack forwards between tap0
# (198.51.100.1/24) and tap1 (203.0.113.1/24); the Linux ends of the TAP devices take the veths' place in $src/$dst.
sluice_router "b$id" examples/live-router.lab "live-router: forwarding"
in_ns "$src" ping -c 1 -W 2 203.0.113.2 >/dev/null

read -r sluice_offered sluice_rate < <(measure "b${id}tap1")
echo "sluice: offered ${sluice_offered} pps, forwarded ${sluice_rate} pps, $(mbits "$sluice_rate") Mbit/s (${size}-byte UDP, ${duration}s)"
finish linux "$linux_rate" "$sluice_rate"
