using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Sluice.Pf.Config;

public sealed partial class PfParser
{
    private const uint DefaultQlimit = 50;
    private const uint DefaultPriority = 1;

    /// <summary>A queue that may still be defined (parse.y's <c>queues</c> list): a child named by an altq or queue.</summary>
    private sealed record PendingQueue(string Parent, string Name, string Interface, PfAltqScheduler Scheduler, ulong ParentBandwidth);

    private readonly List<PendingQueue> _pendingQueues = [];

    /// <summary>parse.y's <c>queue_opts</c>.</summary>
    private sealed class QueueOpts
    {
        public PfBandwidth Bandwidth = new(0, 100);
        public bool BandwidthSet;
        public uint Priority = DefaultPriority;
        public bool PrioritySet;
        public uint Qlimit = DefaultQlimit;
        public bool QlimitSet;
        public uint TbrSize;
        public bool TbrSizeSet;
        public PfSchedulerOptions Scheduler = PfSchedulerOptions.None;
    }

    /// <summary><c>altq on ifspec queue_opts [queue qassign]</c>.</summary>
    private void AltqDef()
    {
        var line = Advance().Line;
        var ifs = new RuleSpec();
        if (!T.Is("on"))
        {
            throw Syntax();
        }

        Interfaces(ifs);
        var opts = QueueOptions(altq: true);
        List<string>? children = null;
        if (Accept("queue"))
        {
            children = QueueAssign();
        }

        if (opts.Scheduler.Type == PfAltqScheduler.None)
        {
            throw Fail("no scheduler specified!", line);
        }

        if (children is null && opts.Scheduler.Type != PfAltqScheduler.Codel)
        {
            throw Fail("no child queues specified", line);
        }

        var errs = 0;
        foreach (var (ifname, ifnot) in ifs.Interfaces)
        {
            if (ifname is null || ifnot)
            {
                throw Syntax();
            }

            if (_top.Statements.OfType<PfAltqStatement>().Any(a => a.Interface == ifname))
            {
                throw Fail($"altq on {ifname} already defined", line);
            }

            // eval_pfaltq: the interface bandwidth, then the token bucket depth by pfctl's heuristic.
            ulong ifbw;
            if (opts.Bandwidth.Absolute > 0)
            {
                ifbw = opts.Bandwidth.Absolute;
            }
            else
            {
                _diagnostics.Add($"interface {ifname} does not know its bandwidth, please specify an absolute bandwidth");
                errs++;
                continue;
            }

            var tbr = opts.TbrSize;
            if (tbr == 0)
            {
                uint size = ifbw <= 1_000_000 ? 1u : ifbw <= 10_000_000 ? 4u : ifbw <= 200_000_000 ? 8u : ifbw <= 2_500_000_000 ? 24u : 128u;
                tbr = size * 1500; // getifmtu() falls back to 1500
            }

            var sb = new StringBuilder("altq on ").Append(ifname).Append(' ');
            if (!SchedulerText(sb, opts.Scheduler, ifbw, ifbw))
            {
                sb.Append(SchedulerName(opts.Scheduler.Type)).Append(' ');
            }

            BandwidthText(sb, opts.Bandwidth, ifbw);
            if (opts.Qlimit != DefaultQlimit)
            {
                sb.Append(CultureInfo.InvariantCulture, $"qlimit {opts.Qlimit} ");
            }

            sb.Append(CultureInfo.InvariantCulture, $"tbrsize {tbr} ");
            if (children is not null)
            {
                sb.Append("queue { ");
                foreach (var c in children)
                {
                    sb.Append(c).Append(' ');
                }

                sb.Append('}');
            }

            var parent = opts.Scheduler.Type is PfAltqScheduler.Cbq or PfAltqScheduler.Hfsc or PfAltqScheduler.Fairq ? "root_" + ifname : string.Empty;
            foreach (var c in children ?? [])
            {
                _pendingQueues.Add(new PendingQueue(parent, c, ifname, opts.Scheduler.Type, ifbw));
            }

            _top.Statements.Add(new PfAltqStatement(line, ifname, opts.Scheduler, ifbw, opts.Qlimit, tbr, [.. children ?? []], sb.ToString()));
        }

        if (errs != 0)
        {
            _errors++;
            throw new ParseAbort();
        }
    }

    /// <summary><c>queue name [on ifspec] queue_opts [qassign]</c>.</summary>
    private void QueueDef()
    {
        var line = Advance().Line;
        var name = ExpectString();
        if (name.Length >= 64)
        {
            throw Fail("queue name too long", line);
        }

        var ifs = new RuleSpec();
        var explicitIf = T.Is("on");
        Interfaces(ifs);
        var opts = QueueOptions(altq: false);
        List<string>? children = null;
        if (!AtEndOfStatement)
        {
            children = QueueAssign();
        }

        if (opts.TbrSizeSet)
        {
            throw Fail("tbrsize not allowed on queues", line);
        }

        if (_pendingQueues.Count == 0)
        {
            throw Fail($"queue {name} has no parent", line);
        }

        var found = 0;
        foreach (var (ifname, ifnot) in ifs.Interfaces)
        {
            foreach (var tq in _pendingQueues.ToList())
            {
                if (tq.Name != name || !(ifname is null || (!ifnot && ifname == tq.Interface) || (ifnot && ifname != tq.Interface)))
                {
                    continue;
                }

                found++;
                if (opts.Scheduler.Type != PfAltqScheduler.None && opts.Scheduler.Type != tq.Scheduler)
                {
                    throw Fail("exactly one scheduler type per interface allowed", line);
                }

                if (tq.Scheduler == PfAltqScheduler.Priq)
                {
                    if (children is not null)
                    {
                        throw Fail("priq queues cannot have child queues", line);
                    }

                    if (opts.Bandwidth.Absolute > 0 || opts.Bandwidth.Percent < 100)
                    {
                        throw Fail("priq doesn't take bandwidth", line);
                    }
                }

                var maxPrio = tq.Scheduler switch { PfAltqScheduler.Cbq => 7u, PfAltqScheduler.Priq => 15u, PfAltqScheduler.Fairq => 15u, _ => 255u };
                if (opts.Priority > maxPrio)
                {
                    throw Fail($"priority out of range: max {maxPrio}", line);
                }

                var sched = opts.Scheduler with { Type = tq.Scheduler };
                var bw = opts.Bandwidth.Absolute > 0 ? opts.Bandwidth.Absolute : tq.ParentBandwidth * opts.Bandwidth.Percent / 100;
                if (bw > tq.ParentBandwidth && tq.Scheduler != PfAltqScheduler.Priq)
                {
                    throw Fail($"bandwidth for {name} higher than parent", line);
                }

                foreach (var c in children ?? [])
                {
                    if (c == name)
                    {
                        throw Fail("queue cannot have itself as child", line);
                    }

                    _pendingQueues.Add(new PendingQueue(name, c, tq.Interface, tq.Scheduler, bw));
                }

                var sb = new StringBuilder("queue ").Append(name).Append(' ');
                if (explicitIf)
                {
                    sb.Append("on ").Append(tq.Interface).Append(' ');
                }

                if (tq.Scheduler is PfAltqScheduler.Cbq or PfAltqScheduler.Hfsc or PfAltqScheduler.Fairq)
                {
                    BandwidthText(sb, opts.Bandwidth, bw);
                }

                if (opts.Priority != DefaultPriority)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"priority {opts.Priority} ");
                }

                if (opts.Qlimit != DefaultQlimit)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"qlimit {opts.Qlimit} ");
                }

                SchedulerText(sb, sched, bw, tq.ParentBandwidth);
                if (children is not null)
                {
                    sb.Append("{ ");
                    foreach (var c in children)
                    {
                        sb.Append(c).Append(' ');
                    }

                    sb.Append('}');
                }

                if ((found == 1 && ifname is null) || (found > 0 && ifname is not null))
                {
                    _top.Statements.Add(new PfQueueStatement(line, name, tq.Interface, tq.Parent, sched, bw, opts.Priority, opts.Qlimit, [.. children ?? []], sb.ToString()));
                }
            }
        }

        if (found == 0)
        {
            throw Fail($"queue {name} has no parent", line);
        }
    }

    private List<string> QueueAssign()
    {
        var list = new List<string>();
        if (AcceptPunct("{"))
        {
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                list.Add(ExpectString());
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
            return list.Count == 0 ? throw Syntax() : list;
        }

        list.Add(ExpectString());
        return list;
    }

    private QueueOpts QueueOptions(bool altq)
    {
        var o = new QueueOpts();
        while (T.Kind == PfTokenKind.Word)
        {
            switch (T.Text)
            {
                case "bandwidth":
                    Advance();
                    if (o.BandwidthSet)
                    {
                        throw Fail("bandwidth cannot be respecified");
                    }

                    o.Bandwidth = Bandwidth();
                    o.BandwidthSet = true;
                    break;
                case "priority":
                    Advance();
                    if (o.PrioritySet)
                    {
                        throw Fail("priority cannot be respecified");
                    }

                    o.Priority = QueueNumber(255, "priority out of range: max 255");
                    o.PrioritySet = true;
                    break;
                case "qlimit":
                    Advance();
                    if (o.QlimitSet)
                    {
                        throw Fail("qlimit cannot be respecified");
                    }

                    o.Qlimit = QueueNumber(65535, "qlimit out of range: max 65535");
                    o.QlimitSet = true;
                    break;
                case "tbrsize":
                    Advance();
                    if (o.TbrSizeSet)
                    {
                        throw Fail("tbrsize cannot be respecified");
                    }

                    o.TbrSize = QueueNumber(65535, "tbrsize too big: max 65535");
                    o.TbrSizeSet = true;
                    break;
                case "cbq" or "priq" or "hfsc" or "fairq" or "codel":
                    if (o.Scheduler.Type != PfAltqScheduler.None)
                    {
                        throw Fail("scheduler cannot be respecified");
                    }

                    o.Scheduler = Scheduler();
                    break;
                default:
                    return o;
            }
        }

        _ = altq;
        return o;
    }

    private uint QueueNumber(uint max, string message)
    {
        if (!IsNumber(T))
        {
            throw Syntax();
        }

        var line = T.Line;
        var v = ParseUInt(Advance().Text, out var ok);
        return !ok || v > max ? throw Fail(message, line) : v;
    }

    /// <summary>parse.y's <c>bandwidth</c>: a number of bits per second, or a number with a b/Kb/Mb/Gb or % unit.</summary>
    private PfBandwidth Bandwidth()
    {
        if (!T.IsString)
        {
            throw Syntax();
        }

        var line = T.Line;
        var s = Advance().Text;
        if (IsNumber(new PfToken(PfTokenKind.Word, s, line)))
        {
            return ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n < long.MaxValue
                ? new PfBandwidth(n, 0)
                : throw Fail("bandwidth number too big", line);
        }

        var end = 0;
        while (end < s.Length && (char.IsAsciiDigit(s[end]) || s[end] == '.'))
        {
            end++;
        }

        if (!double.TryParse(s.AsSpan(0, end), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var bps))
        {
            bps = 0;
        }

        var unit = s[end..];
        if (unit.Length > 1 && unit[1..] is "Bit" or "B" or "bit" or "b")
        {
            unit = unit[..1];
        }

        switch (unit)
        {
            case "b" or "":
                break;
            case "K":
                bps *= 1000;
                break;
            case "M":
                bps *= 1000 * 1000;
                break;
            case "G":
                bps *= 1000.0 * 1000 * 1000;
                break;
            case "%":
                if (bps is < 0 or > 100)
                {
                    throw Fail("bandwidth spec out of range", line);
                }

                return new PfBandwidth(0, (uint)bps);
            default:
                throw Fail($"unknown unit {unit}", line);
        }

        return new PfBandwidth((ulong)bps, 0);
    }

    private PfSchedulerOptions Scheduler()
    {
        var name = Advance().Text;
        var type = name switch
        {
            "cbq" => PfAltqScheduler.Cbq,
            "priq" => PfAltqScheduler.Priq,
            "hfsc" => PfAltqScheduler.Hfsc,
            "fairq" => PfAltqScheduler.Fairq,
            _ => PfAltqScheduler.Codel,
        };
        var o = new PfSchedulerOptions { Type = type };
        if (!AcceptPunct("("))
        {
            return o;
        }

        var flags = new HashSet<string>(StringComparer.Ordinal);
        SkipNewlines();
        while (!T.IsPunct(")"))
        {
            if (T.Kind == PfTokenKind.Eof)
            {
                throw Syntax();
            }

            var line = T.Line;
            if (type is PfAltqScheduler.Hfsc or PfAltqScheduler.Fairq && (T.Is("linkshare") || (type == PfAltqScheduler.Hfsc && (T.Is("realtime") || T.Is("upperlimit")))))
            {
                var which = Advance().Text;
                var sc = ServiceCurve();
                o = which switch
                {
                    "linkshare" => o.LinkShare.IsSet ? throw Fail("linkshare already specified", line) : o with { LinkShare = sc },
                    "realtime" => o.RealTime.IsSet ? throw Fail("realtime already specified", line) : o with { RealTime = sc },
                    _ => o.UpperLimit.IsSet ? throw Fail("upperlimit already specified", line) : o with { UpperLimit = sc },
                };
            }
            else if (type == PfAltqScheduler.Fairq && Accept("hogs"))
            {
                o = o with { HogsLimit = Bandwidth() };
            }
            else if (type == PfAltqScheduler.Fairq && Accept("buckets"))
            {
                o = o with { Buckets = ExpectNumber() };
            }
            else if (type == PfAltqScheduler.Codel && (T.Is("target") || T.Is("interval")))
            {
                Advance();
                _ = ExpectNumber();
            }
            else
            {
                var f = ExpectString();
                var ok = type switch
                {
                    PfAltqScheduler.Cbq => f is "default" or "borrow" or "red" or "ecn" or "rio" or "codel",
                    PfAltqScheduler.Codel => f is "ecn",
                    _ => f is "default" or "red" or "ecn" or "rio" or "codel",
                };
                if (!ok)
                {
                    throw Fail($"unknown {name} flag \"{f}\"", line);
                }

                flags.Add(f);
            }

            SkipComma();
        }

        Advance();
        string[] order = ["red", "ecn", "rio", "codel", "cleardscp", "borrow", "default"];
        return o with { Flags = [.. order.Where(flags.Contains)] };
    }

    private PfServiceCurve ServiceCurve()
    {
        if (AcceptPunct("("))
        {
            var m1 = Bandwidth();
            AcceptPunct(",");
            var d = ExpectNumber();
            AcceptPunct(",");
            var m2 = Bandwidth();
            ExpectPunct(")");
            return new PfServiceCurve(m1, d, m2);
        }

        return new PfServiceCurve(default, 0, Bandwidth());
    }

    private static string SchedulerName(PfAltqScheduler t) => t switch
    {
        PfAltqScheduler.Cbq => "cbq",
        PfAltqScheduler.Priq => "priq",
        PfAltqScheduler.Hfsc => "hfsc",
        PfAltqScheduler.Fairq => "fairq",
        PfAltqScheduler.Codel => "codel",
        _ => string.Empty,
    };

    /// <summary>print_altq/print_queue's bandwidth: a percentage below 100, nothing for 100%, else the rate.</summary>
    private static void BandwidthText(StringBuilder sb, PfBandwidth spec, ulong bw)
    {
        if (spec.Percent > 0)
        {
            if (spec.Percent < 100)
            {
                sb.Append(CultureInfo.InvariantCulture, $"bandwidth {spec.Percent}% ");
            }
        }
        else
        {
            sb.Append("bandwidth ").Append(RateText(bw)).Append(' ');
        }
    }

    /// <summary>pfctl's rate2str.</summary>
    internal static string RateText(double rate)
    {
        const string units = " KMG";
        var i = 0;
        for (; rate >= 1000 && i <= 3; i++)
        {
            rate /= 1000;
        }

        var unit = i < units.Length ? units[i] : '?';
        return (int)(rate * 100) % 100 != 0
            ? string.Create(CultureInfo.InvariantCulture, $"{rate:F2}{unit}b")
            : string.Create(CultureInfo.InvariantCulture, $"{(int)rate}{unit}b");
    }

    /// <summary>print_cbq_opts / print_priq_opts / print_hfsc_opts / print_fairq_opts: true when something was printed.</summary>
    private static bool SchedulerText(StringBuilder sb, PfSchedulerOptions o, ulong bw, ulong parentBw)
    {
        var curves = new StringBuilder();
        void Curve(string n, PfServiceCurve sc)
        {
            curves.Append(' ').Append(n);
            if (sc.D != 0)
            {
                curves.Append('(').Append(sc.M1.Percent > 0 ? $"{sc.M1.Percent}%" : RateText(Abs(sc.M1))).Append(CultureInfo.InvariantCulture, $" {sc.D}");
            }

            curves.Append(' ').Append(sc.M2.Percent > 0 ? $"{sc.M2.Percent}%" : RateText(Abs(sc.M2)));
            if (sc.D != 0)
            {
                curves.Append(')');
            }
        }

        ulong Abs(PfBandwidth b) => b.Absolute > 0 ? b.Absolute : parentBw * b.Percent / 100;

        if (o.Type is PfAltqScheduler.Hfsc or PfAltqScheduler.Fairq)
        {
            if (o.Type == PfAltqScheduler.Hfsc && o.RealTime.IsSet)
            {
                Curve("realtime", o.RealTime);
            }

            if (o.LinkShare.IsSet && (Abs(o.LinkShare.M2) != bw || o.LinkShare.D != 0))
            {
                Curve("linkshare", o.LinkShare);
            }

            if (o.Type == PfAltqScheduler.Hfsc && o.UpperLimit.IsSet)
            {
                Curve("upperlimit", o.UpperLimit);
            }
        }

        if (o.Type is PfAltqScheduler.None or PfAltqScheduler.Codel || (o.Flags.IsEmpty && curves.Length == 0))
        {
            return false;
        }

        sb.Append(SchedulerName(o.Type)).Append('(');
        foreach (var f in o.Flags)
        {
            sb.Append(' ').Append(f);
        }

        sb.Append(curves).Append(" ) ");
        return true;
    }
}
