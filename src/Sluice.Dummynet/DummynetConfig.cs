using System.Globalization;

namespace Sluice.Dummynet;

/// <summary>Which dummynet object a command names (<c>pipe</c>, <c>queue</c>, <c>sched</c>).</summary>
public enum DnObjectKind
{
    Pipe = 1,
    Queue = 2,
    Sched = 3,
}

/// <summary>The scheduling algorithms of dummynet (kernel names as <c>sched show</c> prints them).</summary>
public enum DnSchedulerType
{
    Wf2q,
    Fifo,
    RoundRobin,
    Qfq,
    Priority,
    FqCodel,
    FqPie,
}

/// <summary>Flags of FreeBSD's dn_fs/dn_sch (<c>ip_dummynet.h</c>), printed by <c>show</c>.</summary>
[Flags]
public enum DnFlags
{
    None = 0,
    HaveMask = 0x0001,
    NoError = 0x0002,
    QueueSizeBytes = 0x0008,
    IsRed = 0x0020,
    IsGentleRed = 0x0040,
    IsEcn = 0x0080,
    IsAqm = 0x0100,
    PipeCommand = 0x1000,
}

/// <summary>Link parameters of a pipe.</summary>
public sealed record DnLinkConfig
{
    /// <summary>Bandwidth in bit/s; 0 is unlimited.</summary>
    public long Bandwidth { get; init; }

    /// <summary>Propagation delay in milliseconds (0..10000).</summary>
    public int DelayMs { get; init; }

    /// <summary>Bytes an idle pipe may send at once (<c>burst</c>).</summary>
    public long Burst { get; init; }
}

/// <summary>AQM (<c>codel</c>, <c>pie</c>) or scheduler (<c>fq_codel</c>, <c>fq_pie</c>) parameters, times in microseconds.</summary>
public sealed record DnAqmConfig
{
    /// <summary>Name as configured (<c>codel</c>, <c>pie</c>, <c>fq_codel</c>, <c>fq_pie</c>).</summary>
    public string Name { get; init; } = "codel";

    /// <summary>Target queue delay (µs).</summary>
    public long TargetUs { get; init; } = 5_000;

    /// <summary>CoDel interval (µs).</summary>
    public long IntervalUs { get; init; } = 100_000;

    /// <summary>ECN marking instead of dropping.</summary>
    public bool Ecn { get; init; }

    /// <summary>FQ quantum (bytes).</summary>
    public int Quantum { get; init; } = 1514;

    /// <summary>FQ limit (packets over all flows).</summary>
    public int Limit { get; init; } = 10240;

    /// <summary>FQ flow buckets.</summary>
    public int Flows { get; init; } = 1024;

    /// <summary>PIE tupdate (µs).</summary>
    public long TupdateUs { get; init; } = 15_000;

    /// <summary>PIE max_burst (µs).</summary>
    public long MaxBurstUs { get; init; } = 150_000;

    /// <summary>PIE max_ecnth: ECN marks instead of drops only below this probability.</summary>
    public double MaxEcnth { get; init; } = 0.1;

    /// <summary>PIE alpha.</summary>
    public double Alpha { get; init; } = 0.125;

    /// <summary>PIE beta.</summary>
    public double Beta { get; init; } = 1.25;

    /// <summary>PIE <c>capdrop</c>: increases capped at 2% once the probability reaches 10% (default on).</summary>
    public bool CapDrop { get; init; } = true;

    /// <summary>PIE <c>dre</c>: queue delay from the departure rate (default); <c>ts</c> (false) uses timestamps.</summary>
    public bool Dre { get; init; } = true;

    /// <summary>PIE <c>derand</c>: de-randomised drops (default on).</summary>
    public bool Derand { get; init; } = true;

    /// <summary>PIE <c>onoff</c>: switch PIE off when the queue is empty and calm.</summary>
    public bool OnOff { get; init; }
}

/// <summary>Flowset (queue) parameters.</summary>
public sealed record DnFlowsetConfig
{
    /// <summary>Queue size in slots, or bytes with <see cref="DnFlags.QueueSizeBytes"/>; default 50 slots.</summary>
    public int QueueSize { get; init; } = 50;

    /// <summary>Packet loss rate as FreeBSD stores it: <c>(int)(p * 0x7fffffff)</c>.</summary>
    public int Plr { get; init; }

    /// <summary>Hash buckets for a flow mask.</summary>
    public int Buckets { get; init; }

    /// <summary>Flags (mask, bytes, RED, ECN, AQM, noerror).</summary>
    public DnFlags Flags { get; init; }

    /// <summary>The flow mask (queue N config mask ...).</summary>
    public FlowMask? Mask { get; init; }

    /// <summary>The scheduler this flowset feeds.</summary>
    public int SchedulerNumber { get; init; }

    /// <summary>WF2Q+/RR weight (par[0]); -1 when not given.</summary>
    public int Weight { get; init; } = -1;

    /// <summary>lmax (par[1]); -1 when not given.</summary>
    public int Lmax { get; init; } = -1;

    /// <summary>Priority (par[2]); -1 when not given.</summary>
    public int Priority { get; init; } = -1;

    /// <summary>RED w_q (scaled by 2^16).</summary>
    public int WQ { get; init; }

    /// <summary>RED min_th.</summary>
    public int MinTh { get; init; }

    /// <summary>RED max_th.</summary>
    public int MaxTh { get; init; }

    /// <summary>RED max_p (scaled by 2^16).</summary>
    public int MaxP { get; init; }

    /// <summary>CoDel/PIE parameters when <see cref="DnFlags.IsAqm"/>.</summary>
    public DnAqmConfig? Aqm { get; init; }
}

/// <summary>Scheduler parameters.</summary>
public sealed record DnSchedConfig
{
    /// <summary>Algorithm; null keeps the default (WF2Q+ for a new scheduler).</summary>
    public DnSchedulerType? Type { get; init; }

    /// <summary>Scheduler mask (one instance per masked flow).</summary>
    public FlowMask? Mask { get; init; }

    /// <summary>Instance hash buckets.</summary>
    public int Buckets { get; init; }

    /// <summary>Flags.</summary>
    public DnFlags Flags { get; init; }

    /// <summary>fq_codel/fq_pie parameters.</summary>
    public DnAqmConfig? Parameters { get; init; }
}

/// <summary>A parsed <c>pipe|queue|sched N config ...</c> command.</summary>
public sealed record DnConfigRequest(DnObjectKind Kind, int Number, DnLinkConfig? Link, DnSchedConfig? Sched, DnFlowsetConfig? Flowset);

/// <summary>An error with FreeBSD's message and exit status (EX_USAGE 64, EX_DATAERR 65, 1).</summary>
public sealed record DnError(string Message, int Status);

/// <summary>
/// Parser of the dummynet configuration grammar shared by <c>ipfw pipe|queue|sched N config</c> and
/// <c>dnctl</c> (FreeBSD <c>sbin/ipfw/dummynet.c</c>, ipfw_config_pipe). Pure: never throws, never touches state.
/// </summary>
public static class DummynetParser
{
    /// <summary>EX_USAGE.</summary>
    public const int ExUsage = 64;

    /// <summary>EX_DATAERR.</summary>
    public const int ExDataErr = 65;

    /// <summary>DN_MAX_ID: offset of the internal FIFO scheduler (and twice of its flowset) of a pipe.</summary>
    public const int MaxId = 65536;

    private static readonly HashSet<string> MaskTokens = new(StringComparer.Ordinal)
    {
        "all", "queue", "dst-ip", "src-ip", "dst-ip6", "dst-ipv6", "src-ip6", "src-ipv6", "flow-id", "dst-port", "src-port", "proto",
    };

    /// <summary>
    /// Parses <paramref name="args"/>: the object number followed by parameters. Warnings (<c>duplicate token, override
    /// bandwidth value!</c>, invalid fq_codel words) are appended to <paramref name="warnings"/>.
    /// </summary>
    public static bool TryParse(DnObjectKind kind, ReadOnlySpan<string> args, long slotLimit, long byteLimit,
        out DnConfigRequest? request, out DnError? error, List<string>? warnings = null)
    {
        request = null;
        error = null;
        var number = -1;
        var i = 0;
        if (args.Length > 0 && args[0].Length > 0 && char.IsAsciiDigit(args[0][0]))
        {
            number = AtoI(args[0]);
            i = 1;
        }

        if (number <= 0)
        {
            error = new DnError("need a pipe/flowset/sched number", ExUsage);
            return false;
        }

        var hasLink = kind == DnObjectKind.Pipe;
        var hasSched = kind != DnObjectKind.Queue;
        long bandwidth = -1;
        var delay = 0L;
        long burst = 0;
        DnSchedulerType? type = null;
        FlowMask? mask = null;
        var maskFlags = DnFlags.None;
        var buckets = 0;
        var fsFlags = DnFlags.None;
        var qsize = 50L;
        var plr = 0;
        var weight = -1;
        var lmax = -1;
        var pri = -1;
        var schedNr = kind == DnObjectKind.Pipe ? number + MaxId : kind == DnObjectKind.Sched ? number : 0;
        int wq = 0, minTh = 0, maxTh = 0, maxP = 0;
        DnAqmConfig? aqm = null;
        DnAqmConfig? schedParams = null;

        while (i < args.Length)
        {
            var tok = args[i++];
            string? arg = i < args.Length ? args[i] : null;
            switch (tok)
            {
                case "noerror":
                    fsFlags |= DnFlags.NoError;
                    break;
                case "plr":
                    if (arg is null)
                    {
                        return Fail(out error, "plr needs argument 0..1\n", ExUsage);
                    }

                    var d = StrToD(arg);
                    d = d > 1 ? 1 : d < 0 ? 0 : d;
                    plr = (int)(d * 0x7fffffff);
                    i++;
                    break;
                case "queue":
                    {
                        if (arg is null)
                        {
                            return Fail(out error, "queue needs queue size\n", ExUsage);
                        }

                        var (value, end) = StrToUL(arg);
                        qsize = value;
                        var rest = arg.AsSpan(end);
                        if (rest.Length > 0 && (rest[0] == 'K' || rest[0] == 'k'))
                        {
                            fsFlags |= DnFlags.QueueSizeBytes;
                            qsize *= 1024;
                        }
                        else if ((rest.Length > 0 && rest[0] == 'B') || SubstrCmp2(rest, "by", "bytes"))
                        {
                            fsFlags |= DnFlags.QueueSizeBytes;
                        }

                        i++;
                        break;
                    }

                case "buckets":
                    if (arg is null)
                    {
                        return Fail(out error, "buckets needs argument\n", ExUsage);
                    }

                    buckets = (int)Math.Min(StrToUL(arg).Value, int.MaxValue);
                    i++;
                    break;
                case "mask" or "sched_mask" or "flow_mask":
                    {
                        if (arg is null)
                        {
                            return Fail(out error, "mask needs mask specifier\n", ExUsage);
                        }

                        var m = new FlowMask();
                        var have = false;
                        while (i < args.Length)
                        {
                            var mt = args[i];
                            if (!MaskTokens.Contains(mt))
                            {
                                break;
                            }

                            i++;
                            if (mt == "all")
                            {
                                m = new FlowMask
                                {
                                    SourceIp = uint.MaxValue, DestinationIp = uint.MaxValue, SourcePort = 0xffff, DestinationPort = 0xffff,
                                    Protocol = 0xff, SourceIp6 = UInt128.MaxValue, DestinationIp6 = UInt128.MaxValue, FlowLabel = 0xfffff,
                                };
                                have = true;
                                break;
                            }

                            if (mt == "queue")
                            {
                                m = m with { Queue = true };
                                have = true;
                                break;
                            }

                            if (i >= args.Length)
                            {
                                return Fail(out error, "mask: value missing", ExUsage);
                            }

                            var v = args[i++];
                            var six = mt.EndsWith('6') || mt.EndsWith("v6", StringComparison.Ordinal);
                            ulong a;
                            if (v.StartsWith('/'))
                            {
                                a = (ulong)StrToUL(v[1..]).Value;
                                if (!six)
                                {
                                    a = a == 32 ? uint.MaxValue : (uint)((1UL << (int)Math.Min(a, 63)) - 1);
                                }
                            }
                            else
                            {
                                a = (ulong)StrToUL(v).Value;
                            }

                            switch (mt)
                            {
                                case "dst-ip":
                                    m = m with { DestinationIp = (uint)a };
                                    break;
                                case "src-ip":
                                    m = m with { SourceIp = (uint)a };
                                    break;
                                case "dst-port" or "src-port":
                                    if (a > 0xffff)
                                    {
                                        return Fail(out error, "port mask must be 16 bit", ExDataErr);
                                    }

                                    m = mt == "dst-port" ? m with { DestinationPort = (ushort)a } : m with { SourcePort = (ushort)a };
                                    break;
                                case "flow-id":
                                    if (a > 0xfffff)
                                    {
                                        return Fail(out error, "flow_id mask must be 20 bit", ExDataErr);
                                    }

                                    m = m with { FlowLabel = (uint)a, IsIPv6 = true };
                                    break;
                                case "proto":
                                    if (a > 0xff)
                                    {
                                        return Fail(out error, "proto mask must be 8 bit", ExDataErr);
                                    }

                                    m = m with { Protocol = (byte)a };
                                    break;
                                default:
                                    if (a > 128)
                                    {
                                        return Fail(out error, "in6addr invalid mask len", ExDataErr);
                                    }

                                    var m6 = a == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - (int)a);
                                    m = mt.StartsWith("dst", StringComparison.Ordinal)
                                        ? m with { DestinationIp6 = m6, IsIPv6 = true }
                                        : m with { SourceIp6 = m6, IsIPv6 = true };
                                    break;
                            }

                            if (a != 0)
                            {
                                have = true;
                            }
                        }

                        mask = m;
                        if (have)
                        {
                            maskFlags |= DnFlags.HaveMask;
                        }

                        break;
                    }

                case "red" or "gred":
                    {
                        if (arg is null)
                        {
                            return Fail(out error, "red/gred needs w_q/min_th/max_th/max_p\n", ExUsage);
                        }

                        fsFlags |= DnFlags.IsRed;
                        if (tok == "gred")
                        {
                            fsFlags |= DnFlags.IsGentleRed;
                        }

                        var parts = arg.Split('/');
                        if (parts.Length > 0)
                        {
                            var w = StrToD(parts[0]);
                            if (w > 1 || w <= 0 || double.IsNaN(w))
                            {
                                return Fail(out error, "0 < w_q <= 1", ExDataErr);
                            }

                            wq = (int)(w * (1 << 16));
                        }

                        if (parts.Length > 1)
                        {
                            minTh = Threshold(parts[1]);
                        }

                        if (parts.Length > 2)
                        {
                            maxTh = Threshold(parts[2]);
                        }

                        if (parts.Length > 3)
                        {
                            var p = StrToD(parts[3]);
                            if (p > 1 || p <= 0 || double.IsNaN(p))
                            {
                                return Fail(out error, "0 < max_p <= 1", ExDataErr);
                            }

                            maxP = (int)(p * (1 << 16));
                        }

                        i++;
                        break;
                    }

                case "droptail":
                    fsFlags &= ~(DnFlags.IsRed | DnFlags.IsGentleRed);
                    break;
                case "ecn":
                    fsFlags |= DnFlags.IsEcn;
                    break;
                case "codel" or "pie":
                    fsFlags &= ~(DnFlags.IsRed | DnFlags.IsGentleRed);
                    fsFlags |= DnFlags.IsAqm;
                    aqm = ParseAqm(tok, args[i..], warnings, out error);
                    if (aqm is null)
                    {
                        return false;
                    }

                    i = args.Length;
                    break;
                case "bw" or "bandwidth":
                    if (!hasLink)
                    {
                        return Fail(out error, "bw is only for links", 1);
                    }

                    if (arg is null)
                    {
                        return Fail(out error, "bw needs bandwidth or interface\n", ExUsage);
                    }

                    if (bandwidth != -1)
                    {
                        warnings?.Add("duplicate token, override bandwidth value!");
                    }

                    if (arg[0] is >= 'a' and <= 'z')
                    {
                        return Fail(out error, "no if support", 1);
                    }

                    if (!TryReadBandwidth(arg, out bandwidth))
                    {
                        return Fail(out error, "bandwidth too large", ExDataErr);
                    }

                    i++;
                    break;
                case "delay":
                    if (!hasLink)
                    {
                        return Fail(out error, "delay is only for links", 1);
                    }

                    if (arg is null)
                    {
                        return Fail(out error, "delay needs argument 0..10000ms\n", ExUsage);
                    }

                    delay = StrToUL(arg).Value;
                    i++;
                    break;
                case "type":
                    {
                        if (!hasSched)
                        {
                            return Fail(out error, "type is only for schedulers", 1);
                        }

                        if (arg is null)
                        {
                            return Fail(out error, "type needs a string", ExUsage);
                        }

                        if (arg.Length is 0 or > 15)
                        {
                            return Fail(out error, $"type {arg} too long\n", 1);
                        }

                        var t = ParseType(arg);
                        if (t is null)
                        {
                            return Fail(out error, "setsockopt(IP_DUMMYNET_CONFIGURE): Invalid argument", 1);
                        }

                        type = t;
                        i++;
                        if (t is DnSchedulerType.FqCodel or DnSchedulerType.FqPie)
                        {
                            schedParams = ParseAqm(t == DnSchedulerType.FqCodel ? "fq_codel" : "fq_pie", args[i..], warnings, out error);
                            if (schedParams is null)
                            {
                                return false;
                            }

                            i = args.Length;
                        }

                        break;
                    }

                case "weight" or "lmax" or "maxlen" or "pri" or "priority":
                    {
                        var what = tok switch { "weight" => "weight", "pri" or "priority" => "priority", _ => "lmax" };
                        if (arg is null)
                        {
                            return Fail(out error, $"{what} needs argument\n", ExUsage);
                        }

                        var v = (int)Math.Clamp(StrToL(arg), int.MinValue, int.MaxValue);
                        if (what == "weight")
                        {
                            weight = v;
                        }
                        else if (what == "lmax")
                        {
                            lmax = v;
                        }
                        else
                        {
                            pri = v;
                        }

                        i++;
                        break;
                    }

                case "pipe" or "sched" or "link" or "flowset":
                    if (tok is "link" or "flowset")
                    {
                        return Fail(out error, $"unrecognised option ``{tok}''", ExDataErr);
                    }

                    if (arg is null)
                    {
                        return Fail(out error, "pipe/link/sched needs number\n", ExUsage);
                    }

                    schedNr = (int)Math.Min(StrToUL(arg).Value, int.MaxValue);
                    i++;
                    break;
                case "burst":
                    {
                        if (!hasLink)
                        {
                            return Fail(out error, "burst", 1);
                        }

                        if (arg is null)
                        {
                            return Fail(out error, "burst needs argument\n", ExUsage);
                        }

                        if (!TryExpandNumber(arg, out burst, out var range))
                        {
                            return Fail(out error, range ? "burst: out of range (0..2^48-1)" : "burst: invalid argument", ExDataErr);
                        }

                        if (burst > (1L << 48) - 1)
                        {
                            return Fail(out error, "burst: out of range (0..2^48-1)", ExDataErr);
                        }

                        i++;
                        break;
                    }

                case "profile":
                    return Fail(out error, $"fopen: {arg ?? string.Empty}: No such file or directory", 69);
                default:
                    return Fail(out error, $"unrecognised option ``{tok}''", ExDataErr);
            }
        }

        if (hasLink && delay > 10000)
        {
            return Fail(out error, "delay must be < 10000", ExDataErr);
        }

        if ((fsFlags & DnFlags.QueueSizeBytes) != 0)
        {
            if (qsize > byteLimit)
            {
                return Fail(out error, $"queue size must be < {byteLimit}B", ExDataErr);
            }
        }
        else if (qsize > slotLimit)
        {
            return Fail(out error, $"2 <= queue size <= {slotLimit}", ExDataErr);
        }

        if ((fsFlags & DnFlags.IsRed) != 0)
        {
            if (minTh >= maxTh)
            {
                return Fail(out error, $"min_th {minTh} must be < than max_th {maxTh}", ExDataErr);
            }
        }

        if ((fsFlags & DnFlags.IsEcn) != 0 && (fsFlags & (DnFlags.IsRed | DnFlags.IsAqm)) == 0
            && type is not (DnSchedulerType.FqCodel or DnSchedulerType.FqPie))
        {
            return Fail(out error, "ECN can be used with red/gred/codel/fq_codel only!", ExDataErr);
        }

        var link = hasLink ? new DnLinkConfig { Bandwidth = Math.Max(0, bandwidth), DelayMs = (int)delay, Burst = burst } : null;
        DnSchedConfig? sched = null;
        DnFlowsetConfig fs;
        var fsCommon = new DnFlowsetConfig
        {
            QueueSize = (int)Math.Max(0, qsize),
            Plr = plr,
            Flags = fsFlags,
            WQ = wq,
            MinTh = minTh,
            MaxTh = maxTh,
            MaxP = maxP,
            Aqm = aqm,
            Weight = weight,
            Lmax = lmax,
            Priority = pri,
            SchedulerNumber = schedNr,
        };
        if (kind == DnObjectKind.Queue)
        {
            fs = fsCommon with { Mask = mask, Flags = fsFlags | maskFlags, Buckets = buckets };
        }
        else
        {
            sched = new DnSchedConfig { Type = type, Mask = mask, Flags = maskFlags | (kind == DnObjectKind.Pipe ? DnFlags.PipeCommand : 0), Buckets = buckets, Parameters = schedParams };
            fs = fsCommon;
        }

        request = new DnConfigRequest(kind, number, link, sched, fs);
        return true;
    }

    /// <summary>Parses a scheduler type name as the kernel accepts it (case-insensitive).</summary>
    public static DnSchedulerType? ParseType(string name) => name.ToLowerInvariant() switch
    {
        "fifo" => DnSchedulerType.Fifo,
        "wf2q+" or "wf2q" => DnSchedulerType.Wf2q,
        "rr" => DnSchedulerType.RoundRobin,
        "qfq" => DnSchedulerType.Qfq,
        "prio" => DnSchedulerType.Priority,
        "fq_codel" => DnSchedulerType.FqCodel,
        "fq_pie" => DnSchedulerType.FqPie,
        _ => null,
    };

    /// <summary>The kernel's name of a scheduler type (as <c>show</c> prints it).</summary>
    public static string TypeName(DnSchedulerType type) => type switch
    {
        DnSchedulerType.Fifo => "FIFO",
        DnSchedulerType.Wf2q => "WF2Q+",
        DnSchedulerType.RoundRobin => "RR",
        DnSchedulerType.Qfq => "QFQ",
        DnSchedulerType.Priority => "PRIO",
        DnSchedulerType.FqCodel => "FQ_CODEL",
        _ => "FQ_PIE",
    };

    /// <summary>read_bandwidth: <c>1Mbit/s</c>, <c>100KByte/s</c>, <c>2Gbit/s</c>, <c>56000</c>.</summary>
    public static bool TryReadBandwidth(string arg, out long bandwidth)
    {
        var (value, end) = StrToUL(arg);
        var rest = arg.AsSpan(end);
        long bw = value;
        if (rest.Length > 0 && (rest[0] == 'K' || rest[0] == 'k'))
        {
            rest = rest[1..];
            bw *= 1000;
        }
        else if (rest.Length > 0 && (rest[0] == 'M' || rest[0] == 'm'))
        {
            rest = rest[1..];
            bw *= 1_000_000;
        }
        else if (rest.Length > 0 && (rest[0] == 'G' || rest[0] == 'g'))
        {
            rest = rest[1..];
            bw *= 1_000_000_000;
        }

        if ((rest.Length > 0 && rest[0] == 'B' && !SubstrCmp2(rest, "Bi", "Bit/s")) || SubstrCmp2(rest, "by", "bytes"))
        {
            bw *= 8;
        }

        // The kernel field is a signed int: FreeBSD rejects what overflows it.
        bandwidth = bw;
        return bw is >= 0 and <= int.MaxValue;
    }

    private static DnAqmConfig? ParseAqm(string name, ReadOnlySpan<string> args, List<string>? warnings, out DnError? error)
    {
        error = null;
        var fq = name.StartsWith("fq_", StringComparison.Ordinal);
        var codel = name.EndsWith("codel", StringComparison.Ordinal);
        var c = new DnAqmConfig
        {
            Name = name,
            Ecn = fq,
            TargetUs = codel ? 5_000 : 15_000,
        };
        for (var i = 0; i < args.Length; i++)
        {
            var tok = args[i];
            string? arg = i + 1 < args.Length ? args[i + 1] : null;
            switch (tok)
            {
                case "target" or "interval" or "tupdate" or "max_burst":
                    {
                        var us = arg is null ? -1 : TimeToUs(arg);
                        if (us < 0 || (tok == "interval" && !codel) || (tok is "tupdate" or "max_burst" && codel))
                        {
                            if (us < 0)
                            {
                                error = new DnError($"{tok} needs time\n", ExDataErr);
                                return null;
                            }

                            warnings?.Add($"{tok} is Invalid parameter");
                            break;
                        }

                        c = tok switch
                        {
                            "target" => c with { TargetUs = us },
                            "interval" => c with { IntervalUs = us },
                            "tupdate" => c with { TupdateUs = us },
                            _ => c with { MaxBurstUs = us },
                        };
                        i++;
                        break;
                    }

                case "ecn":
                    c = c with { Ecn = true };
                    break;
                case "noecn":
                    c = c with { Ecn = false };
                    break;
                case "quantum" or "limit" or "flows":
                    {
                        if (!fq)
                        {
                            error = new DnError(tok == "limit" ? $"limit is not for {name}, use queue instead\n" : $"{tok} is not for {name}\n", ExDataErr);
                            return null;
                        }

                        if (arg is null || !IsValidNumber(arg))
                        {
                            error = new DnError($"{tok} needs number\n", ExDataErr);
                            return null;
                        }

                        var v = AtoI(arg);
                        c = tok switch { "quantum" => c with { Quantum = v }, "limit" => c with { Limit = v }, _ => c with { Flows = v } };
                        i++;
                        break;
                    }

                case "max_ecnth" or "alpha" or "beta" when !codel:
                    {
                        if (arg is null || !IsValidNumber(arg))
                        {
                            error = new DnError($"{tok} needs number\n", ExDataErr);
                            return null;
                        }

                        var v = StrToD(arg);
                        c = tok switch { "alpha" => c with { Alpha = v }, "beta" => c with { Beta = v }, _ => c with { MaxEcnth = v } };
                        i++;
                        break;
                    }

                case "capdrop" or "nocapdrop" or "onoff" or "dre" or "ts" or "derand" or "noderand" when !codel:
                    c = tok switch
                    {
                        "capdrop" => c with { CapDrop = true },
                        "nocapdrop" => c with { CapDrop = false },
                        "onoff" => c with { OnOff = true },
                        "dre" => c with { Dre = true },
                        "ts" => c with { Dre = false },
                        "derand" => c with { Derand = true },
                        _ => c with { Derand = false },
                    };
                    break;
                default:
                    warnings?.Add($"{tok} is Invalid parameter");
                    break;
            }
        }

        if (c.Quantum <= 0 || c.Limit <= 0 || c.Flows <= 0)
        {
            error = new DnError("setsockopt(IP_DUMMYNET_CONFIGURE): Invalid argument", 1);
            return null;
        }

        return c;
    }

    /// <summary>time_to_us: a number with <c>us</c>, <c>ms</c> (default) or <c>s</c>; -1 when invalid.</summary>
    public static long TimeToUs(string s)
    {
        var n = 0;
        while (n < s.Length && (char.IsAsciiDigit(s[n]) || s[n] == '.'))
        {
            n++;
        }

        if (n == 0 || !double.TryParse(s.AsSpan(0, n), NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
        {
            return -1;
        }

        var unit = s[n..];
        var us = unit switch
        {
            "" or "ms" => v * 1000,
            "us" => v,
            "s" => v * 1_000_000,
            _ => -1,
        };
        return us < 0 || us > int.MaxValue ? -1 : (long)us;
    }

    private static bool IsValidNumber(string s)
    {
        var dots = 0;
        foreach (var ch in s)
        {
            if (!char.IsAsciiDigit(ch) && (ch != '.' || ++dots > 1))
            {
                return false;
            }
        }

        return true;
    }

    private static int Threshold(string s)
    {
        var (v, end) = StrToUL(s);
        if (end < s.Length && (s[end] == 'K' || s[end] == 'k'))
        {
            v *= 1024;
        }

        return (int)Math.Min(v, int.MaxValue);
    }

    private static bool Fail(out DnError? error, string message, int status)
    {
        error = new DnError(message, status);
        return false;
    }

    /// <summary>_substrcmp2: true when <paramref name="s"/> starts with <paramref name="prefix"/> and is a prefix of <paramref name="full"/>.</summary>
    private static bool SubstrCmp2(ReadOnlySpan<char> s, string prefix, string full) =>
        s.StartsWith(prefix, StringComparison.Ordinal) && full.AsSpan().StartsWith(s, StringComparison.Ordinal);

    /// <summary>strtoul with base 0 (0x hex, leading 0 octal); returns the value (saturated) and the end index.</summary>
    public static (long Value, int End) StrToUL(string s)
    {
        var i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i]))
        {
            i++;
        }

        var start = i;
        if (i < s.Length && s[i] == '+')
        {
            i++;
        }

        var radix = 10;
        if (i + 1 < s.Length && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && i + 2 < s.Length && Uri.IsHexDigit(s[i + 2]))
        {
            radix = 16;
            i += 2;
        }
        else if (i < s.Length && s[i] == '0')
        {
            radix = 8;
        }

        long v = 0;
        var digits = 0;
        for (; i < s.Length; i++)
        {
            var ch = s[i];
            var dv = ch is >= '0' and <= '9' ? ch - '0' : ch is >= 'a' and <= 'f' ? ch - 'a' + 10 : ch is >= 'A' and <= 'F' ? ch - 'A' + 10 : 99;
            if (dv >= radix)
            {
                break;
            }

            v = v > long.MaxValue / 64 ? long.MaxValue / 2 : (v * radix) + dv;
            digits++;
        }

        return digits == 0 && radix != 8 ? (0, start) : (v, i);
    }

    private static long StrToL(string s)
    {
        var neg = s.StartsWith('-');
        var (v, _) = StrToUL(neg ? s[1..] : s);
        return neg ? -v : v;
    }

    /// <summary>atoi.</summary>
    public static int AtoI(string s)
    {
        var neg = s.StartsWith('-');
        var (v, _) = StrToUL(neg ? s[1..] : s);
        // atoi is base 10: a leading zero must not switch to octal.
        long dec = 0;
        foreach (var ch in neg ? s[1..] : s)
        {
            if (!char.IsAsciiDigit(ch))
            {
                break;
            }

            dec = Math.Min((dec * 10) + (ch - '0'), int.MaxValue);
        }

        _ = v;
        return (int)(neg ? -dec : dec);
    }

    /// <summary>strtod: the longest numeric prefix; 0 when none.</summary>
    public static double StrToD(string s)
    {
        for (var n = s.Length; n > 0; n--)
        {
            if (double.TryParse(s.AsSpan(0, n), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && !s.AsSpan(0, n).ContainsAny("nNiI"))
            {
                return v;
            }
        }

        return 0;
    }

    /// <summary>expand_number(3): a number with an optional k/m/g/t/p/e suffix (powers of 1024).</summary>
    public static bool TryExpandNumber(string s, out long value, out bool outOfRange)
    {
        value = 0;
        outOfRange = false;
        var (v, end) = StrToUL(s);
        if (end == 0)
        {
            return false;
        }

        var rest = s[end..];
        var shift = rest.ToLowerInvariant() switch
        {
            "" or "b" => 0,
            "k" or "kb" => 10,
            "m" or "mb" => 20,
            "g" or "gb" => 30,
            "t" or "tb" => 40,
            "p" or "pb" => 50,
            "e" or "eb" => 60,
            _ => -1,
        };
        if (shift < 0)
        {
            return false;
        }

        if (shift > 0 && v > (long.MaxValue >> shift))
        {
            outOfRange = true;
            return false;
        }

        value = v << shift;
        return true;
    }
}
