namespace Sluice.Pf.Engine;

/// <summary>
/// A state key (pf's <c>pf_state_key</c>): family, protocol, two addresses and two ports. Address 0 is the side
/// packets come from when they travel inbound; outbound packets are looked up with source and destination swapped.
/// </summary>
internal readonly struct PfStateKey : IEquatable<PfStateKey>
{
    public readonly UInt128 Addr0, Addr1;
    public readonly ushort Port0, Port1;
    public readonly byte Proto;
    public readonly bool V6;

    public PfStateKey(bool v6, byte proto, UInt128 addr0, ushort port0, UInt128 addr1, ushort port1)
    {
        V6 = v6;
        Proto = proto;
        Addr0 = addr0;
        Addr1 = addr1;
        Port0 = port0;
        Port1 = port1;
    }

    /// <summary>The key of a packet seen in direction <paramref name="inbound"/>: straight inbound, reversed outbound.</summary>
    public static PfStateKey ForPacket(bool v6, byte proto, UInt128 src, ushort sport, UInt128 dst, ushort dport, bool inbound) =>
        inbound ? new(v6, proto, src, sport, dst, dport) : new(v6, proto, dst, dport, src, sport);

    public bool Equals(PfStateKey other) => Addr0 == other.Addr0 && Addr1 == other.Addr1 && Port0 == other.Port0
        && Port1 == other.Port1 && Proto == other.Proto && V6 == other.V6;

    public override bool Equals(object? obj) => obj is PfStateKey k && Equals(k);

    public override int GetHashCode()
    {
        var a = (ulong)Addr0 ^ (ulong)(Addr0 >> 64) * 0x9E3779B97F4A7C15UL;
        var b = (ulong)Addr1 ^ (ulong)(Addr1 >> 64) * 0xC2B2AE3D27D4EB4FUL;
        var h = a * 31 + b + ((ulong)Port0 << 32 | (ulong)Port1 << 16 | Proto);
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        return (int)(h ^ (h >> 32));
    }
}

/// <summary>One side of a TCP connection as pf tracks it (pf's <c>pf_state_peer</c>).</summary>
internal struct PfStatePeer
{
    public uint SeqLo, SeqHi, SeqDiff;
    public ushort MaxWin;
    public byte WScale; // PF_WSCALE_FLAG (0x80) | shift
    public byte State;

    // pf_state_scrub (reassemble tcp), inline so that no state allocates a second object.
    public bool Scrub; // pf's peer->scrub != NULL
    public byte ScrubFlags; // PFSS_*
    public byte ScrubTtl; // the highest TTL/hop limit seen from this peer
    public uint TsMod, TsVal0, TsVal, TsEcr;
    public long TsLast; // ns, when the last timestamp was taken into account
}

/// <summary>TCP states as pf stores them per peer (FreeBSD's TCPS_* values).</summary>
internal static class PfTcpState
{
    public const byte Closed = 0, Listen = 1, SynSent = 2, SynReceived = 3, Established = 4, CloseWait = 5, FinWait1 = 6,
        Closing = 7, LastAck = 8, FinWait2 = 9, TimeWait = 10, ProxySrc = 11, ProxyDst = 12;

    public static readonly string[] Names =
        ["CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT"];
}

/// <summary>A state (pf's <c>pf_kstate</c>).</summary>
internal sealed class PfState
{
    public PfStateKey Wire, Stack;
    public bool Inbound; // direction of the packet that created it
    public string InterfaceName = "all";
    public PfRuleC? Rule;
    public PfRuleC? NatRule;
    public PfRuleC? AnchorRule;
    public PfStatePeer Src, Dst;
    public long Creation, Expire; // ns
    public int Timeout; // PFTM_* index
    public ulong Id;
    public ulong Packets0, Packets1, Bytes0, Bytes1;
    public bool Sloppy, Log, Purged;
    public ushort Tag;
    public PfSourceNode? SourceNode;
    public int ListIndex = -1;
    public uint[]? RuleTimeouts;
    public ushort ProxyMss; // synproxy: the MSS pf announced to the client and asks the server for
    public PfRuleActions Actions; // pf_kstate.act: the match rules' and the rule's actions, for every packet
    public PfRuleC[]? LogAllMatches; // match rules with log (all)
    public bool HalfOpen; // counted in pf_status.states_halfopen
    public bool TcpEstablished; // pf_state_peer.tcp_est: counted in the source node's connections
}

/// <summary>A source-tracking node (pf's <c>pf_ksrc_node</c>): per source address, per rule or global.</summary>
internal sealed class PfSourceNode
{
    public required PfRuleC? Rule;
    public required UInt128 Address;
    public required bool V6;
    public int States;
    public int Connections;
    public long Creation, Expire;
    // pf_threshold: count scaled by 1000, decays over 'seconds'.
    public uint ThresholdLimit, ThresholdSeconds, ThresholdCount;
    public long ThresholdLast;
}
