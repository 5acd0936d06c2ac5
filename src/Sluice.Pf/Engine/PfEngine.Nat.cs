using Sluice.Pf.Config;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;

namespace Sluice.Pf.Engine;

public sealed partial class PfEngine
{
    /// <summary>binat inbound: a packet to the external (pool) address of a binat rule on this interface.</summary>
    private PfRuleC? MatchBinatInbound(NetworkInterface ifp, ref PfPacket pd)
    {
        foreach (var r in _rules.Binat)
        {
            r.Evaluations++;
            var a = r.Ast;
            if (a.Action != PfAction.Binat || (r.IfName is not null && InterfaceMatches(ifp, r.IfName) == r.IfNegated))
            {
                continue;
            }

            if ((a.Family != PfFamily.Any && (a.Family == PfFamily.Inet6) != pd.V6) || (a.Protocol != 0 && a.Protocol != pd.Proto))
            {
                continue;
            }

            if (!PoolAddress(r, pd.V6, pd.Src, out var ext, out var mask, ifp))
            {
                continue;
            }

            if ((pd.Dst & mask) != (ext & mask))
            {
                continue;
            }

            if (!AddrMatches(r.Dst, pd.V6, pd.Src, ifp, true, -1))
            {
                continue;
            }

            return r;
        }

        return null;
    }

    /// <summary>The first address of a rule's pool (resolving <c>(if)</c> now) and its netmask.</summary>
    private bool PoolAddress(PfRuleC r, bool v6, UInt128 hashSource, out UInt128 addr, out UInt128 mask, NetworkInterface ifp)
    {
        addr = 0;
        mask = v6 ? UInt128.MaxValue : uint.MaxValue;
        var pool = r.Ast.NatPool;
        if (pool.Addresses.IsEmpty)
        {
            return false;
        }

        var count = pool.Addresses.Length;
        var index = pool.Type switch
        {
            PfPoolType.RoundRobin when count > 1 => (int)(r.RoundRobin++ % (uint)count),
            PfPoolType.Random when count > 1 => _stack.Random.Next(count),
            PfPoolType.SourceHash when count > 1 => (int)((uint)Hash(hashSource, pool.Key) % (uint)count),
            _ => 0,
        };
        var pa = pool.Addresses[index].Address;
        switch (pa.Kind)
        {
            case PfAddrKind.DynamicInterface:
                {
                    var target = pa.Name == "self" ? ifp : _stack.FindInterface(pa.Name!);
                    if (target is null)
                    {
                        return false;
                    }

                    if (!v6)
                    {
                        foreach (var a in target.IPv4Addresses)
                        {
                            addr = a.Address.Value;
                            return true;
                        }

                        return false;
                    }

                    foreach (var a in target.IPv6Addresses)
                    {
                        if (!a.Address.IsLinkLocal)
                        {
                            addr = FromV6(a.Address);
                            return true;
                        }
                    }

                    return false;
                }

            case PfAddrKind.AddrMask:
                {
                    if ((pa.Address.Family == PfFamily.Inet6) != v6)
                    {
                        return false;
                    }

                    var width = v6 ? 128 : 32;
                    var all = v6 ? UInt128.MaxValue : uint.MaxValue;
                    var len = Math.Clamp(pa.Prefix < 0 ? width : pa.Prefix, 0, width);
                    mask = len == 0 ? 0 : (all << (width - len)) & all;
                    var net = pa.Address.Bits & mask;
                    var host = ~mask & all;
                    addr = pool.Type switch
                    {
                        PfPoolType.Random when host != 0 => net | ((UInt128)(ulong)_stack.Random.NextInt64() & host),
                        PfPoolType.SourceHash when host != 0 => net | ((UInt128)Hash(hashSource, pool.Key) & host),
                        PfPoolType.RoundRobin when host != 0 => net | ((UInt128)(r.RoundRobin++) & host),
                        _ => pa.Address.Bits,
                    };
                    return true;
                }

            default:
                return false;
        }
    }

    private static ulong Hash(UInt128 a, UInt128 key)
    {
        var h = (ulong)a ^ (ulong)(a >> 64) ^ (ulong)key ^ ((ulong)(key >> 64) * 0x9E3779B97F4A7C15UL);
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        return h;
    }

    /// <summary>pf_get_translation + pf_get_sport: rewrites the packet for a nat/rdr/binat rule.</summary>
    private bool Translate(Packet packet, NetworkInterface ifp, bool inbound, ref PfPacket pd, PfRuleC nr)
    {
        var a = nr.Ast;
        packet.MakeWritable();
        switch (a.Action)
        {
            case PfAction.Nat:
                {
                    if (!PoolAddress(nr, pd.V6, pd.Src, out var naddr, out var mask, ifp))
                    {
                        return false;
                    }

                    if (a.NatPool.Type == PfPoolType.Bitmask)
                    {
                        var all = pd.V6 ? UInt128.MaxValue : uint.MaxValue;
                        naddr = (naddr & mask) | (pd.Src & ~mask & all);
                    }

                    var nport = pd.Sport;
                    if (pd.Proto is PfPacket.Tcp or PfPacket.Udp or PfPacket.Icmp or PfPacket.Icmp6)
                    {
                        if (!FreePort(ref pd, naddr, a.NatPool, out nport))
                        {
                            return false;
                        }
                    }

                    PfRewrite.ChangeSource(packet.Data, ref pd, naddr, nport);
                    return true;
                }

            case PfAction.Rdr:
                {
                    if (!PoolAddress(nr, pd.V6, pd.Src, out var raddr, out var mask, ifp))
                    {
                        return false;
                    }

                    if (a.NatPool.Type == PfPoolType.Bitmask)
                    {
                        var all = pd.V6 ? UInt128.MaxValue : uint.MaxValue;
                        raddr = (raddr & mask) | (pd.Dst & ~mask & all);
                    }

                    var rport = pd.Dport;
                    if (a.NatPool.ProxyPortLow != 0 && pd.Proto is PfPacket.Tcp or PfPacket.Udp)
                    {
                        var dp = a.Destination.Port;
                        rport = (ushort)a.NatPool.ProxyPortLow;
                        if (a.NatPool.ProxyPortHigh > a.NatPool.ProxyPortLow && dp.Op == PfOp.Range)
                        {
                            rport = (ushort)(a.NatPool.ProxyPortLow + (pd.Dport - dp.Low));
                        }
                    }

                    PfRewrite.ChangeDestination(packet.Data, ref pd, raddr, rport);
                    return true;
                }

            case PfAction.Binat:
                {
                    var all = pd.V6 ? UInt128.MaxValue : uint.MaxValue;
                    if (!inbound)
                    {
                        if (!PoolAddress(nr, pd.V6, pd.Src, out var ext, out var mask, ifp))
                        {
                            return false;
                        }

                        PfRewrite.ChangeSource(packet.Data, ref pd, (ext & mask) | (pd.Src & ~mask & all), pd.Sport);
                        return true;
                    }

                    // Inbound: back to the internal address (the rule's source), host bits kept.
                    var src = nr.Src;
                    if (src.Kind != PfAddrKind.AddrMask || !PoolAddress(nr, pd.V6, pd.Src, out _, out var pmask, ifp))
                    {
                        return false;
                    }

                    var internalAddr = (src.Addr & pmask) | (pd.Dst & ~pmask & all);
                    PfRewrite.ChangeDestination(packet.Data, ref pd, internalAddr, pd.Dport);
                    return true;
                }

            default:
                return true;
        }
    }

    /// <summary>pf_get_sport: a source port (ICMP id) whose wire key is free, from the proxy range (50001–65535).</summary>
    private bool FreePort(ref PfPacket pd, UInt128 naddr, PfPool pool, out ushort port)
    {
        var icmp = pd.Proto is PfPacket.Icmp or PfPacket.Icmp6;
        uint low = icmp ? 1u : pool.ProxyPortLow, high = icmp ? 65535u : pool.ProxyPortHigh;
        if (low == 0 && high == 0)
        {
            low = 50001;
            high = 65535;
        }

        if (high < low)
        {
            (low, high) = (high, low);
        }

        bool Free(ushort p, ref PfPacket pd)
        {
            var k = PfStateKey.ForPacket(pd.V6, pd.Proto, naddr, p, pd.Dst, pd.Proto is PfPacket.Icmp or PfPacket.Icmp6 ? p : pd.Dport, inbound: false);
            return !_wire.ContainsKey(k) && !_stackKeys.ContainsKey(k);
        }

        if ((pool.StaticPort || (low == high && low == 0)) && Free(pd.Sport, ref pd))
        {
            port = pd.Sport;
            return true;
        }

        if (pool.StaticPort)
        {
            port = 0;
            return false;
        }

        if (low == high)
        {
            port = (ushort)low;
            return Free(port, ref pd);
        }

        var span = high - low + 1;
        var start = low + (uint)_stack.Random.NextInt64(span);
        for (uint i = 0; i < span; i++)
        {
            var p = (ushort)(low + ((start - low + i) % span));
            if (Free(p, ref pd))
            {
                port = p;
                return true;
            }
        }

        port = 0;
        return false;
    }
}
