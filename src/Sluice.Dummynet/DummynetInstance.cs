using System.Globalization;
using System.Text;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Time;

namespace Sluice.Dummynet;

/// <summary>
/// dummynet of one VNET: links, schedulers and flowsets configured by <c>pipe|queue|sched N config</c>, and the
/// engine that queues, schedules, serialises, delays and drops packets on the stack's event loop.
/// </summary>
/// <remarks>
/// Get it with <see cref="Of"/>. Not thread-safe: every call is made on the stack's loop. The packet path does not
/// allocate once warm: entries are recycled, queues are intrusive, timers are reused.
/// </remarks>
public sealed class DummynetInstance
{
    private readonly NetStack _stack;
    private readonly SortedDictionary<int, DnLink> _links = [];
    private readonly SortedDictionary<int, DnScheduler> _scheds = [];
    private readonly SortedDictionary<int, DnFlowset> _flowsets = [];
    private readonly Stack<DnEntry> _free = new();
    private readonly SysctlInt _slotLimit;
    private readonly SysctlInt _byteLimit;
    private readonly SysctlInt _hashSize;
    private readonly SysctlInt _ioPkt;
    private readonly SysctlInt _ioPktDrop;

    private DummynetInstance(NetStack stack)
    {
        _stack = stack;
        var t = stack.Sysctl;
        _hashSize = t.AddInt("net.inet.ip.dummynet.hash_size", "Default hash table size", 64, 16, 65536);
        _slotLimit = t.AddInt("net.inet.ip.dummynet.pipe_slot_limit", "Upper limit in slots for pipe queue.", 100, 2, int.MaxValue);
        _byteLimit = t.AddInt("net.inet.ip.dummynet.pipe_byte_limit", "Upper limit in bytes for pipe queue.", 1024 * 1024, 1500, int.MaxValue);
        t.AddInt("net.inet.ip.dummynet.io_fast", "Enable fast dummynet io.", 0, 0, 1);
        t.AddInt("net.inet.ip.dummynet.expire", "Expire empty queues and pipes", 1, 0, 1);
        t.AddInt("net.inet.ip.dummynet.red_lookup_depth", "Depth of RED lookup table", 256, 1, 65536);
        t.AddInt("net.inet.ip.dummynet.red_avg_pkt_size", "RED Medium packet size", 512, 1, 65536);
        t.AddInt("net.inet.ip.dummynet.red_max_pkt_size", "RED Max packet size", 1500, 1, 65536);
        _ioPkt = t.AddInt("net.inet.ip.dummynet.io_pkt", "Number of packets passed to dummynet.", 0, readOnly: true);
        _ioPktDrop = t.AddInt("net.inet.ip.dummynet.io_pkt_drop", "Number of packets dropped by dummynet.", 0, readOnly: true);
    }

    /// <summary>The dummynet of <paramref name="stack"/> (created on first use).</summary>
    public static DummynetInstance Of(NetStack stack) => stack.Feature(static s => new DummynetInstance(s));

    /// <summary>The stack this instance belongs to.</summary>
    public NetStack Stack => _stack;

    internal EventLoop Loop => _stack.Loop;

    /// <summary>Packets given to dummynet.</summary>
    public long PacketsIn => _ioPkt.Value;

    /// <summary>Packets dropped by dummynet (loss, full queues, AQM, deleted objects).</summary>
    public long PacketsDropped => _ioPktDrop.Value;

    /// <summary>Packets dropped by CoDel.</summary>
    public long CodelDrops { get; internal set; }

    /// <summary>ECN-capable packets CoDel marked with CE instead of dropping (<c>ecn</c>, the FQ-CoDel default).</summary>
    public long CodelMarks { get; internal set; }

    /// <summary>Packets dropped by PIE or FQ-PIE at enqueue (early drops and their queue limits).</summary>
    public long PieDrops { get; internal set; }

    /// <summary>Packets PIE or FQ-PIE marked CE instead of dropping.</summary>
    public long PieMarks { get; internal set; }

    /// <summary>The PIE states of every queue (PIE flowset queues, FQ-PIE flows), for inspection.</summary>
    internal IEnumerable<PieState> PieStates =>
        _scheds.Values.SelectMany(s => s.Instances.Values).SelectMany(si => si.AllQueues).Select(q => q.Pie).OfType<PieState>();

    /// <summary>net.inet.ip.dummynet.pipe_slot_limit.</summary>
    public long SlotLimit => _slotLimit.Value;

    /// <summary>net.inet.ip.dummynet.pipe_byte_limit.</summary>
    public long ByteLimit => _byteLimit.Value;

    /// <summary>Links by number.</summary>
    public IReadOnlyDictionary<int, DnLink> Links => _links;

    /// <summary>Schedulers by number.</summary>
    public IReadOnlyDictionary<int, DnScheduler> Schedulers => _scheds;

    /// <summary>Flowsets by number.</summary>
    public IReadOnlyDictionary<int, DnFlowset> Flowsets => _flowsets;

    /// <summary>Parses and applies a configuration (all or nothing).</summary>
    public bool TryConfigure(DnObjectKind kind, ReadOnlySpan<string> args, out DnError? error, List<string>? warnings = null)
    {
        if (!DummynetParser.TryParse(kind, args, SlotLimit, ByteLimit, out var request, out error, warnings))
        {
            return false;
        }

        return TryApply(request!, out error);
    }

    /// <summary>Applies a parsed configuration: creates or updates the link, schedulers and flowset it names.</summary>
    public bool TryApply(DnConfigRequest request, out DnError? error)
    {
        error = null;
        var n = request.Number;
        if (n >= DummynetParser.MaxId)
        {
            error = new DnError("setsockopt(IP_DUMMYNET_CONFIGURE): Invalid argument", 1);
            return false;
        }

        var hashDefault = (int)_hashSize.Value;
        switch (request.Kind)
        {
            case DnObjectKind.Pipe:
                {
                    SetLink(n, request.Link!);
                    var sc = request.Sched!;
                    var buckets = sc.Buckets > 0 ? sc.Buckets : (sc.Flags & DnFlags.HaveMask) != 0 ? hashDefault : 0;
                    SetSched(n, sc.Type ?? (_scheds.TryGetValue(n, out var old) ? old.Type : DnSchedulerType.Wf2q), sc with { Buckets = buckets });
                    // The FIFO twin carries the pipe's mask: one instance (one link) per masked flow.
                    SetSched(n + DummynetParser.MaxId, DnSchedulerType.Fifo, sc with { Buckets = buckets, Type = DnSchedulerType.Fifo });
                    var fs = request.Flowset! with
                    {
                        SchedulerNumber = n + DummynetParser.MaxId,
                        Buckets = 1,
                        Weight = 0,
                        Lmax = 0,
                        Priority = 0,
                    };
                    SetFlowset(n + (2 * DummynetParser.MaxId), fs);
                    break;
                }

            case DnObjectKind.Queue:
                {
                    var fs = request.Flowset!;
                    if (fs.SchedulerNumber == 0 && _flowsets.TryGetValue(n, out var existing))
                    {
                        fs = fs with { SchedulerNumber = existing.Config.SchedulerNumber };
                    }

                    var buckets = fs.Buckets > 0 ? fs.Buckets : (fs.Flags & DnFlags.HaveMask) != 0 ? hashDefault : 1;
                    SetFlowset(n, fs with
                    {
                        Buckets = buckets,
                        Weight = fs.Weight < 0 ? 1 : fs.Weight,
                        Lmax = Math.Max(0, fs.Lmax),
                        Priority = Math.Max(0, fs.Priority),
                    });
                    break;
                }

            default:
                {
                    var sc = request.Sched!;
                    var buckets = sc.Buckets > 0 ? sc.Buckets : (sc.Flags & DnFlags.HaveMask) != 0 ? hashDefault : 0;
                    var type = sc.Type ?? (_scheds.TryGetValue(n, out var old) ? old.Type : DnSchedulerType.Wf2q);
                    SetSched(n, type, sc with { Buckets = buckets });
                    if (!_links.ContainsKey(n))
                    {
                        SetLink(n, new DnLinkConfig());
                    }

                    SetFlowset(n + DummynetParser.MaxId, request.Flowset! with { SchedulerNumber = n, Buckets = 1, Weight = 0, Lmax = 0, Priority = 0 });
                    break;
                }
        }

        return true;
    }

    private void SetLink(int n, DnLinkConfig config)
    {
        if (_links.TryGetValue(n, out var link))
        {
            link.Config = config;
        }
        else
        {
            _links.Add(n, new DnLink(n, config));
        }
    }

    private void SetSched(int n, DnSchedulerType type, DnSchedConfig config)
    {
        if (_scheds.TryGetValue(n, out var s))
        {
            if (s.Type != type || s.Config.Mask != config.Mask || s.Config.Parameters != config.Parameters)
            {
                DestroyInstances(s);
            }

            s.Type = type;
            s.Config = config;
        }
        else
        {
            _scheds.Add(n, new DnScheduler(n, type, config));
        }
    }

    private void SetFlowset(int n, DnFlowsetConfig config)
    {
        if (_flowsets.TryGetValue(n, out var fs))
        {
            fs.Config = config;
        }
        else
        {
            _flowsets.Add(n, new DnFlowset(n, config));
        }
    }

    private void DestroyInstances(DnScheduler s)
    {
        foreach (var si in s.Instances.Values)
        {
            foreach (var q in si.Queues)
            {
                if (q.Flowset is { } f)
                {
                    f.Flows--;
                }
            }

            si.Destroy();
        }

        s.Instances.Clear();
    }

    /// <summary>Deletes pipe, queue or scheduler <paramref name="number"/>; false when it does not exist.</summary>
    public bool Delete(DnObjectKind kind, int number)
    {
        switch (kind)
        {
            case DnObjectKind.Pipe:
                if (!_links.Remove(number))
                {
                    return false;
                }

                RemoveSched(number);
                RemoveSched(number + DummynetParser.MaxId);
                _flowsets.Remove(number + (2 * DummynetParser.MaxId));
                return true;
            case DnObjectKind.Queue:
                return _flowsets.Remove(number);
            default:
                if (!RemoveSched(number))
                {
                    return false;
                }

                _flowsets.Remove(number + DummynetParser.MaxId);
                return true;
        }
    }

    private bool RemoveSched(int number)
    {
        if (!_scheds.Remove(number, out var s))
        {
            return false;
        }

        DestroyInstances(s);
        return true;
    }

    /// <summary>Deletes every pipe, queue and scheduler (<c>ipfw pipe flush</c>), dropping queued packets.</summary>
    public void Flush()
    {
        foreach (var s in _scheds.Values)
        {
            DestroyInstances(s);
        }

        _scheds.Clear();
        _links.Clear();
        _flowsets.Clear();
    }

    internal DnLinkConfig? LinkFor(DnScheduler s) => _links.TryGetValue(s.LinkNumber, out var l) ? l.Config : null;

    /// <summary>True when <c>pipe N</c> (or <c>queue N</c> with <paramref name="isQueue"/>) exists.</summary>
    public bool Exists(int number, bool isQueue) =>
        _flowsets.ContainsKey(isQueue ? number : number + (2 * DummynetParser.MaxId));

    /// <summary>
    /// Queues <paramref name="packet"/> (starting at its IP header) in <c>pipe N</c> or <c>queue N</c>; it comes back
    /// through <paramref name="client"/> when it leaves. Takes ownership: a packet dropped (loss, full queue, no such
    /// pipe) is released here. Returns false when it was dropped.
    /// </summary>
    public bool Enqueue(int number, bool isQueue, Packet packet, in DnPacketInfo info, IDummynetClient client)
    {
        _ioPkt.Value++;
        var fsNumber = isQueue ? number : number + (2 * DummynetParser.MaxId);
        if (!_flowsets.TryGetValue(fsNumber, out var fs) || !_scheds.TryGetValue(fs.Config.SchedulerNumber, out var sched))
        {
            _ioPktDrop.Value++;
            packet.Release();
            return false;
        }

        FlowId.TryRead(packet.Data, info.IPv6, out var id);
        var siKey = sched.Config.Mask is { } sm && (sched.Config.Flags & DnFlags.HaveMask) != 0 ? sm.Apply(id, 0) : default;
        if (!sched.Instances.TryGetValue(siKey, out var si))
        {
            si = new DnSchedInstance(this, sched, siKey);
            sched.Instances.Add(siKey, si);
        }

        var q = si.GetQueue(fs, id);
        var len = packet.Length;
        q.TotalPackets++;
        q.TotalBytes += len;
        si.TotalPackets++;
        si.TotalBytes += len;
        var cfg = fs.Config;

        // dn_enqueue's order: plr, AQM/RED, then the queue limit.
        var drop = cfg.Plr != 0 && _stack.Random.Next() < cfg.Plr;
        if (!drop && (cfg.Flags & DnFlags.IsRed) != 0)
        {
            drop = RedDrop(q, cfg, len);
        }

        var marked = false;
        if (!drop && sched.Type is DnSchedulerType.FqPie && sched.Config.Parameters is { } fqp)
        {
            // FQ-PIE: the arrival is dropped when all flows together hold `limit` packets; otherwise the flow's PIE decides.
            var pie = q.Pie ??= new PieState(Loop, q, fqp);
            pie.Parameters = fqp;
            var activateAt = Math.Max(1, fqp.Limit / Math.Max(1, fqp.Flows) / 3);
            var verdict = pie.OnEnqueue(packet.Data, info.IPv6, si.Length >= fqp.Limit, q.Length, q.Bytes, activateAt, Loop.Now, _stack.Random);
            drop = verdict == PieVerdict.Drop;
            marked = verdict == PieVerdict.Mark;
        }
        else if (!drop && sched.Type is not (DnSchedulerType.FqCodel or DnSchedulerType.FqPie)
            && (cfg.Flags & DnFlags.IsAqm) != 0 && cfg.Aqm is { Name: "pie" } pp)
        {
            // PIE on a flowset queue: the queue limit, then the early drop/mark (aqm_pie_enqueue's order).
            var pie = q.Pie ??= new PieState(Loop, q, pp);
            pie.Parameters = pp;
            var bytes = (cfg.Flags & DnFlags.QueueSizeBytes) != 0;
            var qlen = bytes ? q.Bytes : q.Length;
            var verdict = pie.OnEnqueue(packet.Data, info.IPv6, qlen >= cfg.QueueSize, qlen, q.Bytes, cfg.QueueSize / 3, Loop.Now, _stack.Random);
            drop = verdict == PieVerdict.Drop;
            marked = verdict == PieVerdict.Mark;
        }
        else if (!drop && sched.Type is DnSchedulerType.FqCodel)
        {
            var limit = sched.Config.Parameters?.Limit ?? 10240;
            while (si.Length >= limit && si.DropFromFattest())
            {
                _ioPktDrop.Value++;
            }
        }
        else if (!drop)
        {
            drop = (cfg.Flags & DnFlags.QueueSizeBytes) != 0 ? q.Bytes > cfg.QueueSize : q.Length >= cfg.QueueSize;
        }

        if (marked)
        {
            PieMarks++;
        }
        else if (drop && q.Pie is not null)
        {
            PieDrops++;
        }

        if (drop)
        {
            q.Drops++;
            si.Drops++;
            _ioPktDrop.Value++;
            packet.Release();
            return false;
        }

        var e = _free.Count > 0 ? _free.Pop() : new DnEntry();
        e.Packet = packet;
        e.Info = info;
        e.Client = client;
        e.Length = len;
        si.Enqueue(q, e);
        return true;
    }

    /// <summary>RED/GRED (Floyd and Jacobson 1993) on the queue length in packets, or bytes with a byte queue.</summary>
    private bool RedDrop(DnFlowQueue q, DnFlowsetConfig cfg, int len)
    {
        var bytes = (cfg.Flags & DnFlags.QueueSizeBytes) != 0;
        var cur = (bytes ? q.Bytes : q.Length) << 16;
        if (q.Length == 0 && q.IdleSince > 0)
        {
            // Idle decay: one w_q step per average packet time would need the link rate; decay fully after idle.
            q.RedAverage = 0;
        }

        q.RedAverage += ((cur - q.RedAverage) * cfg.WQ) >> 16;
        var avg = q.RedAverage;
        long minTh = (long)cfg.MinTh << 16, maxTh = (long)cfg.MaxTh << 16;
        if (avg < minTh)
        {
            q.RedCount = -1;
            return false;
        }

        double pb;
        if (avg >= maxTh)
        {
            if ((cfg.Flags & DnFlags.IsGentleRed) == 0 || avg >= 2 * maxTh)
            {
                q.RedCount = 0;
                return true;
            }

            var maxP = cfg.MaxP / 65536.0;
            pb = maxP + ((1 - maxP) * (avg - maxTh) / maxTh);
        }
        else
        {
            pb = cfg.MaxP / 65536.0 * (avg - minTh) / (maxTh - minTh);
        }

        if (bytes)
        {
            pb = pb * len / 1500;
        }

        q.RedCount++;
        var pa = pb / Math.Max(1e-9, 1 - (q.RedCount * pb));
        if (pa < 0 || _stack.Random.NextDouble() < pa)
        {
            q.RedCount = 0;
            return true;
        }

        return false;
    }

    internal void Deliver(DnEntry e)
    {
        var packet = e.Packet!;
        var client = e.Client!;
        var info = e.Info;
        Recycle(e);
        client.Reinject(packet, info);
    }

    internal void DropEntry(DnEntry e)
    {
        _ioPktDrop.Value++;
        e.Packet!.Release();
        Recycle(e);
    }

    private void Recycle(DnEntry e)
    {
        e.Packet = null;
        e.Client = null;
        e.Next = null;
        _free.Push(e);
    }

    /// <summary>
    /// Prints <c>pipe show</c>, <c>queue show</c> or <c>sched show</c> like FreeBSD's list_pipes; <paramref name="numbers"/>
    /// restricts the listing. Returns false when a named object does not exist.
    /// </summary>
    public string Show(DnObjectKind kind, IReadOnlyCollection<int>? numbers = null)
    {
        var sb = new StringBuilder();
        var header = true;
        switch (kind)
        {
            case DnObjectKind.Pipe:
                foreach (var link in _links.Values)
                {
                    if (numbers is { Count: > 0 } && !numbers.Contains(link.Number))
                    {
                        continue;
                    }

                    sb.Append(FormatLink(link)).Append('\n');
                    if (_flowsets.TryGetValue(link.Number + (2 * DummynetParser.MaxId), out var fs))
                    {
                        AppendFlowset(sb, fs, false, ref header);
                    }

                    if (_scheds.TryGetValue(link.Number + DummynetParser.MaxId, out var s))
                    {
                        AppendSched(sb, s, ref header);
                    }
                }

                break;
            case DnObjectKind.Queue:
                foreach (var fs in _flowsets.Values)
                {
                    if (fs.Number >= DummynetParser.MaxId || (numbers is { Count: > 0 } && !numbers.Contains(fs.Number)))
                    {
                        continue;
                    }

                    AppendFlowset(sb, fs, true, ref header);
                }

                break;
            default:
                foreach (var s in _scheds.Values)
                {
                    if (s.Number >= DummynetParser.MaxId || (numbers is { Count: > 0 } && !numbers.Contains(s.Number)))
                    {
                        continue;
                    }

                    if (_links.TryGetValue(s.Number, out var link))
                    {
                        sb.Append(FormatLink(link)).Append('\n');
                    }

                    AppendSched(sb, s, ref header);
                    var children = _flowsets.Values.Where(f => f.Number < DummynetParser.MaxId && f.Config.SchedulerNumber == s.Number).ToList();
                    if (children.Count > 0)
                    {
                        sb.Append("   Children flowsets: ");
                        foreach (var c in children)
                        {
                            sb.Append(c.Number.ToString(CultureInfo.InvariantCulture)).Append(' ');
                        }

                        sb.Append('\n');
                    }
                }

                break;
        }

        return sb.ToString();
    }

    /// <summary>The link line: <c>00001:   1.000 Mbit/s   50 ms burst 0</c>.</summary>
    public static string FormatLink(DnLink link)
    {
        var b = (double)link.Config.Bandwidth;
        var bw = b == 0 ? "unlimited     "
            : b >= 1e9 ? F("{0,7:F3} Gbit/s", b / 1e9)
            : b >= 1e6 ? F("{0,7:F3} Mbit/s", b / 1e6)
            : b >= 1e3 ? F("{0,7:F3} Kbit/s", b / 1e3)
            : F("{0,7:F3} bit/s ", b);
        return F("{0:D5}: {1} {2,4} ms burst {3}", link.Number % DummynetParser.MaxId, bw, link.Config.DelayMs, Humanize(link.Config.Burst));
    }

    private static void AppendFlowset(StringBuilder sb, DnFlowset fs, bool showFlows, ref bool header)
    {
        var c = fs.Config;
        var qs = (c.Flags & DnFlags.QueueSizeBytes) != 0
            ? c.QueueSize >= 8192 ? F("{0} KB", c.QueueSize / 1024) : F("{0} B", c.QueueSize)
            : F("{0,3} sl.", c.QueueSize);
        var plr = c.Plr != 0 ? F("plr {0:F6}", c.Plr / (double)0x7fffffff) : string.Empty;
        string red;
        if ((c.Flags & DnFlags.IsRed) != 0)
        {
            red = F("\n\t {0}RED w_q {1:F6} min_th {2} max_th {3} max_p {4:F6}", (c.Flags & DnFlags.IsGentleRed) != 0 ? 'G' : ' ',
                c.WQ / 65536.0, c.MinTh, c.MaxTh, c.MaxP / 65536.0);
            if ((c.Flags & DnFlags.IsEcn) != 0)
            {
                red += " (ecn)";
            }
        }
        else if ((c.Flags & DnFlags.IsAqm) != 0 && c.Aqm is { } a)
        {
            red = FormatAqm(a);
        }
        else
        {
            red = "droptail";
        }

        sb.Append(F("q{0:D5} {1}{2} {3} flows ({4} buckets) sched {5} weight {6} lmax {7} pri {8} {9}\n",
            fs.Number, qs, plr, fs.Flows, c.Buckets, c.SchedulerNumber, c.Weight, c.Lmax, c.Priority, red));
        if ((c.Flags & DnFlags.HaveMask) != 0 && c.Mask is { } m)
        {
            AppendMask(sb, m);
        }

        _ = showFlows;
        _ = header;
    }

    private static void AppendSched(StringBuilder sb, DnScheduler s, ref bool header)
    {
        var flags = (int)(s.Config.Flags & DnFlags.HaveMask);
        sb.Append(F(" sched {0} type {1} flags 0x{2:x} {3} buckets {4} active\n", s.Number, DummynetParser.TypeName(s.Type), flags,
            s.Config.Buckets, s.ActiveInstances));
        if (s.Config.Parameters is { } p)
        {
            sb.Append(' ').Append(FormatAqm(p)).Append('\n');
        }

        if ((s.Config.Flags & DnFlags.HaveMask) != 0 && s.Config.Mask is { } m)
        {
            AppendMask(sb, m);
        }

        foreach (var si in s.Instances.Values)
        {
            if (header)
            {
                sb.Append("BKT Prot ___Source IP/port____ ____Dest. IP/port____ Tot_pkt/bytes Pkt/Byte Drp\n");
                header = false;
            }

            AppendFlowLine(sb, si.Id, si.TotalPackets, si.TotalBytes, si.Length, si.Bytes, si.Drops);
        }
    }

    private static void AppendMask(StringBuilder sb, FlowMask m)
    {
        if (!m.IsIPv6)
        {
            sb.Append(F("    mask: {0} 0x{1:x2} 0x{2:x8}/0x{3:x4} -> 0x{4:x8}/0x{5:x4}\n", m.Queue ? "queue," : string.Empty,
                m.Protocol, m.SourceIp, m.SourcePort, m.DestinationIp, m.DestinationPort));
        }
        else
        {
            sb.Append(F("\n        mask: {0}proto: 0x{1:x2}, flow_id: 0x{2:x8},  {3}/0x{4:x4} -> {5}/0x{6:x4}\n", m.Queue ? "queue," : string.Empty,
                m.Protocol, m.FlowLabel, V6(m.SourceIp6), m.SourcePort, V6(m.DestinationIp6), m.DestinationPort));
        }
    }

    private static void AppendFlowLine(StringBuilder sb, in FlowId id, long pkts, long bytes, int len, long lenBytes, long drops)
    {
        var bucket = 0;
        sb.Append(F("{0,3} ", bucket & 0xff));
        var pname = ProtocolName(id.Protocol);
        if (!id.IsIPv6)
        {
            sb.Append(pname is null ? F("{0,4} ", id.Protocol) : F("{0,-4} ", pname));
            sb.Append(F("{0,15}/{1,-5} ", new Sluice.Wire.IPv4Address(id.Source4), id.SourcePort));
            sb.Append(F("{0,15}/{1,-5} ", new Sluice.Wire.IPv4Address(id.Destination4), id.DestinationPort));
        }
        else
        {
            sb.Append(pname is null ? F("{0,9} ", id.Protocol) : F("{0,9} ", pname));
            sb.Append(F("{0,7}  {1,39}/{2,-5} ", id.FlowLabel, V6(id.Source), id.SourcePort));
            sb.Append(F(" {0,39}/{1,-5} ", V6(id.Destination), id.DestinationPort));
        }

        sb.Append(F("{0,4} {1,8} {2,2} {3,4} {4,3}\n", pkts, bytes, len, lenBytes, drops));
    }

    private static string V6(UInt128 a) => new Sluice.Wire.IPv6Address((ulong)(a >> 64), (ulong)a).ToString();

    /// <summary>getprotobynumber's names for the protocols a lab sees.</summary>
    public static string? ProtocolName(int p) => p switch
    {
        0 => "ip",
        1 => "icmp",
        2 => "igmp",
        4 => "ipencap",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        103 => "pim",
        112 => "carp",
        132 => "sctp",
        240 => "pfsync",
        _ => null,
    };

    private static string FormatAqm(DnAqmConfig a)
    {
        var name = a.Name.ToUpperInvariant();
        if (a.Name.EndsWith("codel", StringComparison.Ordinal))
        {
            var s = F("{0} target {1} interval {2}", name, UsToTime(a.TargetUs), UsToTime(a.IntervalUs));
            if (a.Name.StartsWith("fq_", StringComparison.Ordinal))
            {
                s += F(" quantum {0} limit {1} flows {2}", a.Quantum, a.Limit, a.Flows);
            }

            return s + (a.Ecn ? " ECN" : " NoECN");
        }

        var p = F("{0} target {1} tupdate {2} max_burst {3} max_ecnth {4:F3} alpha {5:F3} beta {6:F3}", name, UsToTime(a.TargetUs),
            UsToTime(a.TupdateUs), UsToTime(a.MaxBurstUs), a.MaxEcnth, a.Alpha, a.Beta);
        if (a.Name.StartsWith("fq_", StringComparison.Ordinal))
        {
            p += F(" quantum {0} limit {1} flows {2}", a.Quantum, a.Limit, a.Flows);
        }

        return p + (a.Ecn ? " ECN" : " NoECN");
    }

    private static string UsToTime(long us) =>
        us % 1_000_000 == 0 && us > 0 ? F("{0}s", us / 1_000_000) : us % 1000 == 0 ? F("{0}ms", us / 1000) : F("{0}us", us);

    private static string Humanize(long n)
    {
        // humanize_number(HN_AUTOSCALE, 4 significant places): 0..9999 as is, then K, M, G with rounding.
        if (n < 10000)
        {
            return n.ToString(CultureInfo.InvariantCulture);
        }

        string[] units = ["K", "M", "G", "T", "P", "E"];
        double v = n;
        var i = -1;
        while (v >= 9999.5 && i < units.Length - 1)
        {
            v /= 1024;
            i++;
        }

        return F("{0:F0}{1}", v, units[i]);
    }

    private static string F(string format, params object?[] args) => string.Format(CultureInfo.InvariantCulture, format, args);
}
