using System.Globalization;
using System.Text;
using Sluice.Stack.Sockets;

namespace Sluice.Ipfw;

/// <summary>What a rule does when it matches (ipfw(8) ACTIONS).</summary>
public enum IpfwAction
{
    Allow,
    Deny,
    Reject,
    Unreach,
    Unreach6,
    Reset,
    Count,
    Skipto,
    Call,
    Return,
    CheckState,
    Pipe,
    Queue,
    Fwd,
    SetFib,
    Nat,
}

/// <summary>keep-state, record-state, limit, set-limit.</summary>
public enum IpfwStateKind
{
    None,
    KeepState,
    RecordState,
    Limit,
    SetLimit,
}

/// <summary>Which fields a <c>limit</c> counts states by.</summary>
[Flags]
public enum IpfwLimitMask
{
    None = 0,
    SrcAddr = 1,
    SrcPort = 2,
    DstAddr = 4,
    DstPort = 8,
}

/// <summary>One static rule: number, set, action and body, with its counters.</summary>
/// <remarks>Immutable once added, except the counters and log budget.</remarks>
public sealed class IpfwRule
{
    internal IpfwRule(int number, int set, IpfwAction action, IReadOnlyList<IpfwMatch> matches)
    {
        Number = number;
        Set = set;
        Action = action;
        Matches = matches;
    }

    /// <summary>Rule number (1..65535).</summary>
    public int Number { get; internal set; }

    /// <summary>Rule set (0..31).</summary>
    public int Set { get; internal set; }

    /// <summary>Match probability (prob P), 1 when absent.</summary>
    public double Probability { get; init; } = 1;

    /// <summary>The action.</summary>
    public IpfwAction Action { get; }

    /// <summary>Action argument (skipto/call target, pipe/queue number, unreach code, fib, nat instance).</summary>
    public int Argument { get; init; }

    /// <summary>fwd target text as given (address[,port]).</summary>
    public string? ForwardTo
    {
        get => _forwardTo;
        init
        {
            _forwardTo = value;
            ForwardHop = ParseForward(value);
        }
    }

    private readonly string? _forwardTo;

    /// <summary>The parsed fwd next hop and port (0: the packet's own port); null for <c>tablearg</c> or no fwd.</summary>
    internal InetEndpoint? ForwardHop { get; private init; }

    private static InetEndpoint? ParseForward(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var comma = text.IndexOf(',', StringComparison.Ordinal);
        var host = comma < 0 ? text.AsSpan() : text.AsSpan(0, comma);
        ushort port = 0;
        if (!InetAddress.TryParse(host, out var address)
            || comma >= 0 && !ushort.TryParse(text.AsSpan(comma + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port))
        {
            return null;
        }

        return new InetEndpoint(address, port);
    }

    /// <summary>log.</summary>
    public bool Log { get; init; }

    /// <summary>logamount: most packets logged with net.inet.ip.fw.verbose=1 until resetlog (0: no limit).</summary>
    public int LogAmount { get; internal set; }

    /// <summary>tag N (positive) or untag N (negative).</summary>
    public int Tag { get; init; }

    /// <summary>The body: address, port and option matches in order.</summary>
    public IReadOnlyList<IpfwMatch> Matches { get; }

    /// <summary>Protocol word printed after the action (ip, tcp, udp, ...), or null for options-only rules.</summary>
    public string? ProtocolText { get; init; }

    /// <summary>Protocol number of the body (-1: any; 256: ip4 only; 257: ip6 only).</summary>
    public int ProtocolNumber { get; init; } = -1;

    /// <summary>Index in <see cref="Matches"/> where the options after <c>to dst [ports]</c> start.</summary>
    public int OptionsStart { get; init; }

    /// <summary>Index where the <c>to</c> part starts.</summary>
    public int ToStart { get; init; }

    /// <summary>True for a rule written without <c>proto from src to dst</c>.</summary>
    public bool JustOptions { get; init; }

    /// <summary>keep-state and friends.</summary>
    public IpfwStateKind State { get; init; }

    /// <summary>State name (default "default").</summary>
    public string StateName { get; init; } = "default";

    /// <summary>limit mask.</summary>
    public IpfwLimitMask LimitMask { get; init; }

    /// <summary>limit N.</summary>
    public int LimitCount { get; init; }

    /// <summary>Comment after //.</summary>
    public string? Comment { get; init; }

    /// <summary>Unique id in this instance (for re-injection after a pipe).</summary>
    internal int Id { get; set; }

    /// <summary>Packets matched.</summary>
    public long Packets { get; internal set; }

    /// <summary>Bytes matched.</summary>
    public long Bytes { get; internal set; }

    /// <summary>Seconds (virtual clock) of the last match; 0 when never.</summary>
    public long Timestamp { get; internal set; }

    /// <summary>Logged packets since resetlog.</summary>
    public int Logged { get; internal set; }

    /// <summary>The rule as <c>ipfw list</c> prints it after the number.</summary>
    public string FormatBody(bool showSet = false)
    {
        var sb = new StringBuilder();
        if (showSet)
        {
            sb.Append("set ").Append(Set).Append(' ');
        }

        if (Probability < 1)
        {
            sb.Append(string.Format(CultureInfo.InvariantCulture, "prob {0:F6} ", Probability));
        }

        sb.Append(FormatAction());
        if (Log)
        {
            sb.Append(" log");
            if (LogAmount > 0)
            {
                sb.Append(" logamount ").Append(LogAmount);
            }
        }

        if (Tag != 0)
        {
            sb.Append(Tag > 0 ? " tag " : " untag ").Append(Math.Abs(Tag));
        }

        if (Action != IpfwAction.CheckState)
        {
            if (!JustOptions)
            {
                sb.Append(' ').Append(ProtocolText ?? "ip").Append(" from");
                AppendMatches(sb, 0, ToStart, "any");
                sb.Append(" to");
                AppendMatches(sb, ToStart, OptionsStart, "any");
                AppendMatches(sb, OptionsStart, Matches.Count, null);
            }
            else
            {
                if (ProtocolText is not null)
                {
                    sb.Append(" proto ").Append(ProtocolText);
                }

                AppendMatches(sb, 0, Matches.Count, null);
            }

            switch (State)
            {
                case IpfwStateKind.KeepState or IpfwStateKind.RecordState:
                    sb.Append(State == IpfwStateKind.KeepState ? " keep-state :" : " record-state :").Append(StateName);
                    break;
                case IpfwStateKind.Limit or IpfwStateKind.SetLimit:
                    sb.Append(State == IpfwStateKind.Limit ? " limit" : " set-limit");
                    if ((LimitMask & IpfwLimitMask.SrcAddr) != 0)
                    {
                        sb.Append(" src-addr");
                    }

                    if ((LimitMask & IpfwLimitMask.SrcPort) != 0)
                    {
                        sb.Append(" src-port");
                    }

                    if ((LimitMask & IpfwLimitMask.DstAddr) != 0)
                    {
                        sb.Append(" dst-addr");
                    }

                    if ((LimitMask & IpfwLimitMask.DstPort) != 0)
                    {
                        sb.Append(" dst-port");
                    }

                    sb.Append(' ').Append(LimitCount).Append(" :").Append(StateName);
                    break;
            }
        }

        if (Comment is not null)
        {
            sb.Append(" // ").Append(Comment);
        }

        return sb.ToString();
    }

    private void AppendMatches(StringBuilder sb, int from, int to, string? emptyText)
    {
        if (emptyText is not null && (from == to || Matches[from] is not AddressMatch))
        {
            sb.Append(' ').Append(emptyText);
        }

        var inOr = false;
        for (var i = from; i < to; i++)
        {
            var m = Matches[i];
            if (m.OrNext && !inOr)
            {
                sb.Append(" {");
                inOr = true;
            }

            sb.Append(' ');
            if (m.Not)
            {
                sb.Append("not ");
            }

            sb.Append(m.Format());
            if (inOr)
            {
                if (m.OrNext)
                {
                    sb.Append(" or");
                }
                else
                {
                    sb.Append(" }");
                    inOr = false;
                }
            }
        }
    }

    private string FormatAction() => Action switch
    {
        IpfwAction.Allow => "allow",
        IpfwAction.Deny => "deny",
        IpfwAction.Reject => "reject",
        IpfwAction.Unreach => "unreach " + IpfwParser.UnreachName(Argument),
        IpfwAction.Unreach6 => "unreach6 " + IpfwParser.Unreach6Name(Argument),
        IpfwAction.Reset => "reset",
        IpfwAction.Count => "count",
        IpfwAction.Skipto => "skipto " + Argument.ToString(CultureInfo.InvariantCulture),
        IpfwAction.Call => "call " + Argument.ToString(CultureInfo.InvariantCulture),
        IpfwAction.Return => "return",
        IpfwAction.CheckState => "check-state :" + StateName,
        IpfwAction.Pipe => "pipe " + Argument.ToString(CultureInfo.InvariantCulture),
        IpfwAction.Queue => "queue " + Argument.ToString(CultureInfo.InvariantCulture),
        IpfwAction.Fwd => "fwd " + ForwardTo,
        IpfwAction.SetFib => "setfib " + Argument.ToString(CultureInfo.InvariantCulture),
        _ => "nat " + Argument.ToString(CultureInfo.InvariantCulture),
    };
}
