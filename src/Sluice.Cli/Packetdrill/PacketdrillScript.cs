namespace Sluice.Cli.Packetdrill;

/// <summary>How an event's time is written: absolute (<c>0.10</c>), relative to the previous event (<c>+0.10</c>), or any (<c>*</c>).</summary>
internal enum TimeKind
{
    Absolute,
    Relative,
    Any,
}

/// <summary>One time value of a script, in microseconds.</summary>
internal readonly record struct ScriptTime(TimeKind Kind, long Micros);

/// <summary>When an event happens: a start, an optional range end (<c>~</c>) and an optional blocking end (<c>...</c>).</summary>
internal sealed record EventTiming(ScriptTime Start, ScriptTime? RangeEnd = null, ScriptTime? BlockEnd = null);

/// <summary>A parsed packetdrill script: its header options and its events in order.</summary>
internal sealed class PacketdrillScript
{
    public string FileName { get; init; } = "script";

    public Dictionary<string, string> Options { get; } = new(StringComparer.Ordinal);

    public List<ScriptEvent> Events { get; } = [];
}

/// <summary>A line of the script that happens at a time.</summary>
internal abstract record ScriptEvent(int Line, EventTiming Time);

/// <summary>An inbound (<c>&lt;</c>) or outbound (<c>&gt;</c>) TCP segment.</summary>
internal sealed record TcpPacketEvent(int Line, EventTiming Time, TcpSegmentSpec Segment) : ScriptEvent(Line, Time);

/// <summary>An inbound ICMP error quoting a segment of the connection.</summary>
internal sealed record IcmpPacketEvent(int Line, EventTiming Time, IcmpSpec Icmp) : ScriptEvent(Line, Time);

/// <summary>A system call with its expected result.</summary>
internal sealed record SyscallEvent(int Line, EventTiming Time, string Name, IReadOnlyList<Expr> Arguments, long Result, string? Errno) : ScriptEvent(Line, Time);

/// <summary>A shell command in backticks.</summary>
internal sealed record ShellEvent(int Line, EventTiming Time, string Command) : ScriptEvent(Line, Time);

/// <summary>A <c>%{ }%</c> block of Python-like assertions over TCP_INFO.</summary>
internal sealed record CodeEvent(int Line, EventTiming Time, string Code) : ScriptEvent(Line, Time);

/// <summary>ECN codepoint written as <c>[noecn]</c>, <c>[ect0]</c>, <c>[ect1]</c>, <c>[ce]</c> or <c>[ect01]</c>.</summary>
internal enum EcnSpec
{
    NoEcn,
    Ect0,
    Ect1,
    Ce,
    Ect01,
}

/// <summary>IP-level fields a packet line may give: <c>(tos 0x20)</c>, <c>(ttl 4)</c>, <c>(hlim 4)</c>, <c>(class 0x20)</c> and the ECN codepoint.</summary>
internal sealed record IpSpec
{
    public int? Tos { get; set; }

    public int? Ttl { get; set; }

    public EcnSpec? Ecn { get; set; }
}

/// <summary>A TCP option as written in the script's option list.</summary>
internal sealed record TcpOptionSpec(string Kind, long A = 0, long B = 0, IReadOnlyList<(uint Left, uint Right)>? Blocks = null, byte[]? Bytes = null);

/// <summary>A TCP segment line: flags, sequence range, ack, window, options and optional UDP encapsulation.</summary>
internal sealed record TcpSegmentSpec
{
    public bool Inbound { get; init; }

    public string Flags { get; init; } = "";

    /// <summary>The start sequence number, or null for <c>...</c> (not checked).</summary>
    public uint? Start { get; init; }

    public uint End { get; init; }

    public int Length { get; init; }

    /// <summary>True for <c>!</c>: the sequence number is absolute (not shifted by the ISN).</summary>
    public bool AbsoluteSeq { get; init; }

    public uint? Ack { get; init; }

    public uint? Window { get; init; }

    public uint? Urgent { get; init; }

    /// <summary>The options; null when none were written.</summary>
    public IReadOnlyList<TcpOptionSpec>? Options { get; init; }

    /// <summary>True for <c>&lt;...&gt;</c>: any options.</summary>
    public bool AnyOptions { get; init; }

    public IpSpec Ip { get; init; } = new();

    /// <summary>TCP over UDP (RFC 8899-style encapsulation): <c>/udp(src &gt; dst)</c>.</summary>
    public (ushort Source, ushort Destination)? Udp { get; init; }
}

/// <summary>An ICMP line: type and code names, an optional MTU, and the quoted segment.</summary>
internal sealed record IcmpSpec
{
    public bool Inbound { get; init; }

    public string Type { get; init; } = "";

    public string? Code { get; init; }

    public int? Mtu { get; init; }

    public uint Start { get; init; }

    public uint End { get; init; }

    public int Length { get; init; }

    public IpSpec Ip { get; init; } = new();

    public (ushort Source, ushort Destination)? Udp { get; init; }
}

/// <summary>An argument expression of a system call.</summary>
internal abstract record Expr;

/// <summary><c>...</c>: anything.</summary>
internal sealed record EllipsisExpr : Expr;

/// <summary>An integer literal.</summary>
internal sealed record IntExpr(long Value) : Expr;

/// <summary>A symbol such as <c>SOCK_STREAM</c> or <c>ECONNRESET</c>.</summary>
internal sealed record NameExpr(string Name) : Expr;

/// <summary>A quoted string.</summary>
internal sealed record StringExpr(string Value) : Expr;

/// <summary><c>A | B | ...</c>.</summary>
internal sealed record OrExpr(IReadOnlyList<Expr> Terms) : Expr;

/// <summary><c>[a, b]</c>.</summary>
internal sealed record ListExpr(IReadOnlyList<Expr> Items) : Expr;

/// <summary><c>{name=value, ...}</c>.</summary>
internal sealed record StructExpr(IReadOnlyList<(string Name, Expr Value)> Fields) : Expr;

/// <summary>A script error with the line it was found on.</summary>
internal sealed class ScriptException(int line, string message) : Exception(message)
{
    public int Line { get; } = line;
}
