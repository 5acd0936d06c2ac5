using System.Collections.Immutable;

namespace Sluice.Pf.Config;

/// <summary>A MAC address term of an ether rule: address, mask (bit <c>i</c> of the mask is bit <c>i % 8</c> of byte <c>i / 8</c>, as pfctl stores it) and negation.</summary>
public sealed record PfEtherAddr(ImmutableArray<byte> Address, ImmutableArray<byte> Mask, bool Negated);

/// <summary>A layer-2 rule: <c>ether pass|block|match [in|out] [quick] [on if] [bridge-to if] [proto type] [from mac] [to mac] [l3 from … to …] [options]</c>.</summary>
public sealed record PfEtherRule
{
    public PfAction Action { get; init; }
    public PfDirection Direction { get; init; }
    public bool Quick { get; init; }
    public string? Interface { get; init; }
    public bool InterfaceNegated { get; init; }
    public string? BridgeTo { get; init; }
    /// <summary>The EtherType (0 = any).</summary>
    public int Proto { get; init; }
    public PfEtherAddr? Source { get; init; }
    public PfEtherAddr? Destination { get; init; }
    /// <summary>The layer-3 source (<c>l3 from</c>), <see cref="PfAddr.Any"/> when not given.</summary>
    public PfAddr IpSource { get; init; } = PfAddr.Any;
    public PfAddr IpDestination { get; init; } = PfAddr.Any;
    public ImmutableArray<string> Labels { get; init; } = ImmutableArray<string>.Empty;
    public uint Ridentifier { get; init; }
    public string? Queue { get; init; }
    public string? Tag { get; init; }
    public string? Tagged { get; init; }
    public bool TaggedNegated { get; init; }
    public int DnPipe { get; init; }
    public bool DnIsPipe { get; init; }
    public int Line { get; init; }
}

/// <summary>ALTQ scheduler type.</summary>
public enum PfAltqScheduler : byte
{
    None,
    Cbq,
    Priq,
    Hfsc,
    Fairq,
    Codel,
}

/// <summary>A bandwidth specification: absolute bits per second or a percentage.</summary>
public readonly record struct PfBandwidth(ulong Absolute, uint Percent);

/// <summary>An HFSC/FAIRQ service curve <c>(m1 d m2)</c> or <c>m2</c>.</summary>
public readonly record struct PfServiceCurve(PfBandwidth M1, uint D, PfBandwidth M2)
{
    public bool IsSet => M2.Absolute != 0 || M2.Percent != 0;
}

/// <summary>Scheduler options of an altq or queue (<c>cbq(…)</c>, <c>hfsc(…)</c>, …).</summary>
public sealed record PfSchedulerOptions
{
    public static readonly PfSchedulerOptions None = new();

    public PfAltqScheduler Type { get; init; }
    /// <summary>Flag words in pfctl's print order (red, ecn, rio, codel, cleardscp, borrow, default, …).</summary>
    public ImmutableArray<string> Flags { get; init; } = ImmutableArray<string>.Empty;
    public PfServiceCurve RealTime { get; init; }
    public PfServiceCurve LinkShare { get; init; }
    public PfServiceCurve UpperLimit { get; init; }
    public uint Buckets { get; init; }
    public PfBandwidth HogsLimit { get; init; }
}

/// <summary><c>altq on if …</c> (one per interface), with the canonical text pfctl -v prints.</summary>
public sealed record PfAltqStatement(int Line, string Interface, PfSchedulerOptions Scheduler, ulong Bandwidth, uint Qlimit, uint TbrSize, ImmutableArray<string> Children, string Text) : PfStatement(Line);

/// <summary><c>queue name [on if] …</c> as created on one interface, with the canonical text pfctl -v prints.</summary>
public sealed record PfQueueStatement(int Line, string Name, string Interface, string Parent, PfSchedulerOptions Scheduler, ulong Bandwidth, uint Priority, uint Qlimit, ImmutableArray<string> Children, string Text) : PfStatement(Line);

/// <summary>A FreeBSD 15 <c>state limiter</c> or <c>source limiter</c> definition, with its canonical text.</summary>
public sealed record PfLimiterStatement(int Line, bool Source, string Name, uint Id, uint Limit, (uint Limit, uint Seconds) Rate, uint Entries, string? Table, uint Above, uint Below, int InetMask, int Inet6Mask, string Text) : PfStatement(Line);
