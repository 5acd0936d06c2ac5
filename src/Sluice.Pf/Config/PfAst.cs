using System.Collections.Immutable;

namespace Sluice.Pf.Config;

/// <summary>Address family of a rule or host: unspecified, IPv4 or IPv6 (pf's <c>sa_family_t</c>).</summary>
public enum PfFamily : byte
{
    Any = 0,
    Inet = 4,
    Inet6 = 6,
}

/// <summary>What a rule does (pf's <c>PF_PASS</c> … <c>PF_NORDR</c>, plus <c>match</c>).</summary>
public enum PfAction : byte
{
    Pass,
    Block,
    Scrub,
    NoScrub,
    Nat,
    NoNat,
    Binat,
    NoBinat,
    Rdr,
    NoRdr,
    Match,
}

/// <summary>How a block rule answers (<c>drop</c>, <c>return</c>, <c>return-rst</c>, <c>return-icmp</c>).</summary>
public enum PfBlockPolicy : byte
{
    Default,
    Drop,
    Return,
    ReturnRst,
    ReturnIcmp,
}

/// <summary>Direction of a rule.</summary>
public enum PfDirection : byte
{
    Both,
    In,
    Out,
}

/// <summary>State keeping of a rule.</summary>
public enum PfKeepState : byte
{
    None,
    Normal,
    Modulate,
    Synproxy,
}

/// <summary>Port and uid/gid comparison operators (<c>PF_OP_*</c>).</summary>
public enum PfOp : byte
{
    None,
    InclusiveRange, // a >< b
    ExclusiveRange, // a <> b
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Range, // a:b
}

/// <summary>Routing option of a filter rule.</summary>
public enum PfRouteType : byte
{
    None,
    RouteTo,
    ReplyTo,
    DupTo,
}

/// <summary>Address pool selection (<c>PF_POOL_*</c>).</summary>
public enum PfPoolType : byte
{
    None,
    Bitmask,
    Random,
    SourceHash,
    RoundRobin,
}

/// <summary>Kind of an address in a rule.</summary>
public enum PfAddrKind : byte
{
    /// <summary>An address with a netmask; all-zero address and mask is <c>any</c>.</summary>
    AddrMask,
    Range,
    Table,
    /// <summary>An interface name in parentheses, resolved when the interface's addresses change.</summary>
    DynamicInterface,
    NoRoute,
    UrpfFailed,
}

/// <summary>Modifiers of an interface address (<c>:network</c>, <c>:broadcast</c>, <c>:peer</c>, <c>:0</c>).</summary>
[Flags]
public enum PfIfModifiers : byte
{
    None = 0,
    Network = 1,
    Broadcast = 2,
    Peer = 4,
    NoAlias = 8,
}

/// <summary>An IPv4 or IPv6 address; IPv4 occupies the low 32 bits.</summary>
public readonly record struct PfIp(PfFamily Family, UInt128 Bits)
{
    /// <summary>The number of address bits of <paramref name="family"/>.</summary>
    public static int Width(PfFamily family) => family == PfFamily.Inet ? 32 : 128;

    /// <summary>This address with all bits past <paramref name="prefix"/> cleared.</summary>
    public PfIp Mask(int prefix)
    {
        var w = Width(Family);
        if (prefix >= w)
        {
            return this;
        }

        if (prefix <= 0)
        {
            return this with { Bits = 0 };
        }

        var keep = (w == 128 ? UInt128.MaxValue : uint.MaxValue) << (w - prefix);
        return this with { Bits = Bits & keep & (w == 128 ? UInt128.MaxValue : uint.MaxValue) };
    }

    /// <summary>True when the address is all zeroes.</summary>
    public bool IsZero => Bits == 0;

    /// <inheritdoc/>
    public override string ToString() => PfAddressText.Format(this);
}

/// <summary>An address term of a rule: pf's <c>pf_addr_wrap</c>.</summary>
/// <param name="Kind">What sort of address this is.</param>
/// <param name="Address">The address (or range start); zero with <see cref="Prefix"/> 0 is <c>any</c>.</param>
/// <param name="Prefix">Netmask length (family width when a host); -1 for a dynamic address without an explicit mask.</param>
/// <param name="RangeEnd">The end of an <c>a - b</c> range.</param>
/// <param name="Name">The table name or interface name.</param>
/// <param name="Modifiers">Interface address modifiers.</param>
public sealed record PfAddr(PfAddrKind Kind, PfIp Address, int Prefix, PfIp RangeEnd = default, string? Name = null, PfIfModifiers Modifiers = PfIfModifiers.None)
{
    /// <summary>The <c>any</c> address.</summary>
    public static readonly PfAddr Any = new(PfAddrKind.AddrMask, default, 0);

    /// <summary>True for <c>any</c>.</summary>
    public bool IsAny => Kind == PfAddrKind.AddrMask && Address.IsZero && Prefix == 0;

    /// <summary>The family the address implies (none for any, tables, dynamic and special addresses).</summary>
    public PfFamily Family => Kind is PfAddrKind.AddrMask or PfAddrKind.Range && !IsAny ? Address.Family : PfFamily.Any;
}

/// <summary>A port (or uid/gid) condition: <c>op a [b]</c>.</summary>
public readonly record struct PfPortRange(PfOp Op, uint Low, uint High)
{
    /// <summary>No condition.</summary>
    public static readonly PfPortRange None = default;
}

/// <summary>One side of a rule's <c>from … to …</c>: negation, address and port condition.</summary>
public sealed record PfRuleAddr(bool Negated, PfAddr Address, PfPortRange Port)
{
    /// <summary><c>any</c> without a port.</summary>
    public static readonly PfRuleAddr Any = new(false, PfAddr.Any, PfPortRange.None);
}

/// <summary>One address of a translation or routing pool; <see cref="Interface"/> is set for <c>(if addr)</c> and bare interfaces of route-to.</summary>
public sealed record PfPoolAddr(PfAddr Address, string? Interface = null);

/// <summary>An address pool: nat/rdr/binat targets or route-to targets.</summary>
public sealed record PfPool(
    ImmutableArray<PfPoolAddr> Addresses,
    PfPoolType Type = PfPoolType.None,
    UInt128 Key = default,
    bool StickyAddress = false,
    bool StaticPort = false,
    uint ProxyPortLow = 0,
    uint ProxyPortHigh = 0,
    (uint Offset, uint PsidLen, uint Psid) MapE = default)
{
    /// <summary>An empty pool.</summary>
    public static readonly PfPool Empty = new(ImmutableArray<PfPoolAddr>.Empty);
}

/// <summary>Log options of a rule.</summary>
public readonly record struct PfLog(bool Enabled, bool All, bool User, bool Matches, int Interface);

/// <summary>Per-rule state options: limits, source tracking, overload, timeouts.</summary>
public sealed record PfStateOptions
{
    /// <summary>No options.</summary>
    public static readonly PfStateOptions None = new();

    public uint MaxStates { get; init; }
    public bool NoSync { get; init; }
    public bool Pflow { get; init; }
    public int SourceTrack { get; init; } // 0 none, 1 global, 2 rule
    public uint MaxSrcStates { get; init; }
    public uint MaxSrcConn { get; init; }
    public (uint Limit, uint Seconds) MaxSrcConnRate { get; init; }
    public uint MaxSrcNodes { get; init; }
    public string? OverloadTable { get; init; }
    public bool Flush { get; init; }
    public bool FlushGlobal { get; init; }
    public bool IfBound { get; init; }
    public bool Floating { get; init; }
    public bool Sloppy { get; init; }
    public ImmutableArray<(int Timeout, uint Seconds)> Timeouts { get; init; } = ImmutableArray<(int, uint)>.Empty;

    /// <summary>True when any option is set.</summary>
    public bool Any => MaxStates != 0 || NoSync || Pflow || SourceTrack != 0 || MaxSrcStates != 0 || MaxSrcConn != 0
        || MaxSrcConnRate.Limit != 0 || MaxSrcNodes != 0 || OverloadTable is not null || IfBound || Sloppy || !Timeouts.IsEmpty;
}

/// <summary>Normalisation options of a scrub rule or a <c>scrub (…)</c> clause.</summary>
public sealed record PfScrubOptions
{
    /// <summary>No options.</summary>
    public static readonly PfScrubOptions None = new();

    public bool NoDf { get; init; }
    public bool RandomId { get; init; }
    public int MinTtl { get; init; }
    public int MaxMss { get; init; }
    public int? SetTos { get; init; }
    public bool ReassembleTcp { get; init; }
    public bool FragmentNoReassemble { get; init; }

    /// <summary>True when any option is set (fragment handling aside).</summary>
    public bool Any => NoDf || RandomId || MinTtl != 0 || MaxMss != 0 || SetTos is not null || ReassembleTcp;
}

/// <summary>
/// One expanded pf rule, as pfctl hands it to the kernel (lists already expanded, macros substituted).
/// </summary>
public sealed record PfRule
{
    public PfAction Action { get; init; }
    /// <summary>The anchor this rule calls (<c>anchor "name"</c>); "" for an unnamed inline anchor; null for a plain rule.</summary>
    public string? AnchorCall { get; init; }
    /// <summary>The inline body of an anchor rule (<c>anchor … { … }</c>).</summary>
    public PfRuleset? AnchorBody { get; init; }
    public bool NatPass { get; init; }
    public PfBlockPolicy BlockPolicy { get; init; }
    public int ReturnTtl { get; init; }
    /// <summary>ICMP type and code for return-icmp (<c>type &lt;&lt; 8 | code</c>).</summary>
    public int ReturnIcmp { get; init; }
    public int ReturnIcmp6 { get; init; }
    public PfDirection Direction { get; init; }
    public PfLog Log { get; init; }
    public bool Quick { get; init; }
    public string? Interface { get; init; }
    public bool InterfaceNegated { get; init; }
    public PfRouteType Route { get; init; }
    public PfPool RoutePool { get; init; } = PfPool.Empty;
    public bool PreferIpv6NextHop { get; init; }
    public PfFamily Family { get; init; }
    public int Protocol { get; init; }
    public PfRuleAddr Source { get; init; } = PfRuleAddr.Any;
    public PfRuleAddr Destination { get; init; } = PfRuleAddr.Any;
    public string? OsFingerprint { get; init; }
    public string? ReceivedOn { get; init; }
    public PfPortRange User { get; init; }
    public PfPortRange Group { get; init; }
    public byte Flags { get; init; }
    public byte FlagSet { get; init; }
    /// <summary>ICMP type + 1 (0 = none), as pf stores it.</summary>
    public int IcmpType { get; init; }
    /// <summary>ICMP code + 1 (0 = none).</summary>
    public int IcmpCode { get; init; }
    public int Tos { get; init; }
    /// <summary>prio + 1 (0 = none).</summary>
    public int Prio { get; init; }
    public (int A, int B)? SetPrio { get; init; }
    public (uint Limit, uint Seconds) MaxPktRate { get; init; }
    public uint MaxPktSize { get; init; }
    public PfKeepState KeepState { get; init; }
    public PfStateOptions StateOptions { get; init; } = PfStateOptions.None;
    /// <summary>Probability scaled to 2^32 (0 = none).</summary>
    public uint Probability { get; init; }
    public bool Fragment { get; init; }
    public bool AllowOpts { get; init; }
    public bool Once { get; init; }
    public PfScrubOptions Scrub { get; init; } = PfScrubOptions.None;
    public ImmutableArray<string> Labels { get; init; } = ImmutableArray<string>.Empty;
    public uint Ridentifier { get; init; }
    public int DnPipe { get; init; }
    public int DnRPipe { get; init; }
    public bool DnIsPipe { get; init; }
    public string? Queue { get; init; }
    public string? PriorityQueue { get; init; }
    public string? Tag { get; init; }
    public string? Tagged { get; init; }
    public bool TaggedNegated { get; init; }
    public int Rtable { get; init; } = -1;
    public uint DivertPort { get; init; }
    /// <summary>Translation targets: nat/rdr/binat <c>-&gt;</c> pool, or nat-to of a match/pass rule.</summary>
    public PfPool NatPool { get; init; } = PfPool.Empty;
    public PfPool RdrPool { get; init; } = PfPool.Empty;
    public PfFamily AfTo { get; init; }
    public int StateLimiter { get; init; }
    public string? StateLimiterAction { get; init; }
    /// <summary>The source limiter id of the rule (0 = none).</summary>
    public int SourceLimiter { get; init; }
    public string? SourceLimiterAction { get; init; }
    /// <summary>The line of the rule in its file (for diagnostics).</summary>
    public int Line { get; init; }
}

/// <summary>A table definition: <c>table &lt;name&gt; [const] [persist] [counters] { … } | file "…"</c>.</summary>
public sealed record PfTableDef(string Name, bool Const, bool Persist, bool Counters, ImmutableArray<PfTableEntry> Entries, ImmutableArray<PfTableSource> Sources);

/// <summary>Where table entries came from, in order: a <c>file "…"</c> or a <c>{ … }</c> list.</summary>
public sealed record PfTableSource(string? File, ImmutableArray<PfTableEntry> Entries);

/// <summary>An entry of a table: an address, possibly negated.</summary>
public sealed record PfTableEntry(bool Negated, PfAddr Address);

/// <summary>A top-level statement in print order: a macro, an option, a table or a rule-set-level line.</summary>
public abstract record PfStatement(int Line);

/// <summary><c>name = "value"</c>.</summary>
public sealed record PfMacroStatement(int Line, string Name, string Value) : PfStatement(Line);

/// <summary>A <c>set</c> option; <see cref="Text"/> is its canonical printed form.</summary>
public sealed record PfOptionStatement(int Line, string Name, string Text) : PfStatement(Line);

/// <summary>A table definition.</summary>
public sealed record PfTableStatement(int Line, PfTableDef Table) : PfStatement(Line);

/// <summary><c>load anchor name from "file"</c>.</summary>
public sealed record PfLoadAnchorStatement(int Line, string Anchor, string File) : PfStatement(Line);

/// <summary>A line printed as given (queueing definitions pfctl echoes).</summary>
public sealed record PfVerbatimStatement(int Line, string Text) : PfStatement(Line);

/// <summary>A parsed rule set: the rules of each kind, in file order, and (at top level) the other statements.</summary>
public sealed record PfRuleset(
    ImmutableArray<PfStatement> Statements,
    ImmutableArray<PfRule> Scrub,
    ImmutableArray<PfRule> Nat,
    ImmutableArray<PfRule> Rdr,
    ImmutableArray<PfRule> Binat,
    ImmutableArray<PfRule> Filter)
{
    /// <summary>An empty rule set.</summary>
    public static readonly PfRuleset Empty = new(
        ImmutableArray<PfStatement>.Empty,
        ImmutableArray<PfRule>.Empty,
        ImmutableArray<PfRule>.Empty,
        ImmutableArray<PfRule>.Empty,
        ImmutableArray<PfRule>.Empty,
        ImmutableArray<PfRule>.Empty);

    /// <summary>The layer-2 (<c>ether</c>) rules, in file order.</summary>
    public ImmutableArray<PfEtherRule> Ether { get; init; } = ImmutableArray<PfEtherRule>.Empty;

    /// <summary>The tables defined at this level.</summary>
    public IEnumerable<PfTableDef> Tables => Statements.OfType<PfTableStatement>().Select(t => t.Table);

    /// <summary>All rules in load order (scrub, nat, rdr, binat, filter).</summary>
    public IEnumerable<PfRule> AllRules => Scrub.Concat(Nat).Concat(Rdr).Concat(Binat).Concat(Filter);
}
