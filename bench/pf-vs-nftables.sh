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
name=pf-vs-nftables
if ! command -v nft >/dev/null 2>&1; then echo "needs nft (apt-get install -y nftables)" >&2; exit 2; fi
# shellcheck source=bench/lib/udp-forwarding.sh
source "$root/bench/lib/udp-forwarding.sh"

# --- (a) Linux kernel router with nftables -------------------------------------------------------------------------
linux_router
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

describe_generator
read -r linux_offered linux_rate < <(measure "d$id")
echo "nftables: offered ${linux_offered} pps, forwarded ${linux_rate} pps, $(mbits "$linux_rate") Mbit/s (${size}-byte UDP, ${duration}s)"

# --- (b) Sluice with pf between two TAP devices --------------------------------------------------------------------
# The same two hosts, now joined by `sluice run examples/pf-live-nat.lab` (run from the repository root, where the lab
# finds examples/pf-live-nat.conf); the Linux ends of the TAP devices take the veths' place in $src/$dst.
sluice_router "p$id" examples/pf-live-nat.lab "pf-live-nat: NAT"
in_ns "$src" ping -c 1 -W 2 203.0.113.2 >/dev/null
if in_ns "$dst" ping -c 1 -W 1 198.51.100.2 >/dev/null 2>&1; then echo "pf policy let the outside in" >&2; exit 1; fi

read -r sluice_offered sluice_rate < <(measure "p${id}tap1")
echo "sluice pf: offered ${sluice_offered} pps, forwarded ${sluice_rate} pps, $(mbits "$sluice_rate") Mbit/s (${size}-byte UDP, ${duration}s)"
finish nftables "$linux_rate" "$sluice_rate"
