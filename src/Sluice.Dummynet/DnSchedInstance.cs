using Sluice.Stack.Time;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Dummynet;

/// <summary>
/// One scheduler instance (FreeBSD's <c>dn_sch_inst</c>): its queues, the algorithm's state, the link it serialises
/// onto and the delay line behind it. Exact on any clock: a packet of L bytes starts when the link is free, occupies
/// it for L*8/B seconds (remainders carried, so no drift), then waits <c>delay</c> in the delay line.
/// </summary>
internal sealed class DnSchedInstance : ITimerHandler
{
    private const int WfShift = 20;
    private readonly DummynetInstance _owner;
    private readonly Timer _linkTimer;
    private readonly Timer _delayTimer;
    private readonly Dictionary<(int, FlowId), DnFlowQueue> _queues = [];
    private readonly List<DnFlowQueue> _active = [];
    private readonly List<DnFlowQueue> _oldFlows = [];
    private readonly QfqScheduler? _qfq;
    private DnFlowQueue? _fifo;
    private DnEntry? _delayHead;
    private DnEntry? _delayTail;
    private long _linkFreeAt;
    private long _remainder;
    private long _burstCredit;
    private long _idleSince;
    private long _v;
    private long _weightSum;
    private int _rrIndex;
    private int _totalLength;

    public DnSchedInstance(DummynetInstance owner, DnScheduler scheduler, FlowId id)
    {
        _owner = owner;
        Scheduler = scheduler;
        Id = id;
        _linkTimer = new Timer(this, 0);
        _delayTimer = new Timer(this, 1);
        _idleSince = owner.Loop.Now;
        _burstCredit = 0;
        _qfq = scheduler.Type == DnSchedulerType.Qfq ? new QfqScheduler(this) : null;
    }

    public DnScheduler Scheduler { get; }

    public FlowId Id { get; }

    public long TotalPackets;
    public long TotalBytes;
    public long Drops;

    public int Length => _totalLength;

    public long Bytes { get; private set; }

    public IEnumerable<DnFlowQueue> Queues => _queues.Values;

    /// <summary>Every queue, the FIFO's included.</summary>
    public IEnumerable<DnFlowQueue> AllQueues => _fifo is null ? _queues.Values : _queues.Values.Append(_fifo);

    /// <summary>The queue of <paramref name="fs"/> for <paramref name="id"/> in this instance, created on first use.</summary>
    public DnFlowQueue GetQueue(DnFlowset fs, in FlowId id)
    {
        var type = Scheduler.Type;
        if (type == DnSchedulerType.Fifo)
        {
            return _fifo ??= new DnFlowQueue(fs, default);
        }

        (int, FlowId) key;
        if (type is DnSchedulerType.FqCodel or DnSchedulerType.FqPie)
        {
            var flows = Scheduler.Config.Parameters?.Flows ?? 1024;
            var h = id.StableHash((uint)Scheduler.Number) % (uint)flows;
            key = (-1, new FlowId { Extra = h });
        }
        else
        {
            key = (fs.Number, fs.Config.Mask is { } m && (fs.Config.Flags & DnFlags.HaveMask) != 0 ? m.Apply(id, (uint)fs.Number) : default);
        }

        if (!_queues.TryGetValue(key, out var q))
        {
            q = new DnFlowQueue(fs, key.Item2);
            _queues.Add(key, q);
            fs.Flows++;
        }

        return q;
    }

    /// <summary>Queues <paramref name="entry"/> in <paramref name="q"/> (limits already checked) and starts the link if idle.</summary>
    public void Enqueue(DnFlowQueue q, DnEntry entry)
    {
        var now = _owner.Loop.Now;
        entry.EnqueueTime = now;
        var wasEmpty = q.Length == 0;
        q.Enqueue(entry);
        _totalLength++;
        Bytes += entry.Length;
        if (wasEmpty && !q.Active)
        {
            Activate(q, entry.Length);
        }

        if (!_linkTimer.IsScheduled)
        {
            if (now >= _linkFreeAt)
            {
                Transmit(now);
            }
            else
            {
                _owner.Loop.Schedule(_linkTimer, _linkFreeAt);
            }
        }
    }

    /// <summary>FQ-CoDel's overflow drop: the head of the fattest queue.</summary>
    public bool DropFromFattest()
    {
        DnFlowQueue? fat = null;
        foreach (var q in _queues.Values)
        {
            if (q.Length > 0 && (fat is null || q.Bytes > fat.Bytes))
            {
                fat = q;
            }
        }

        if (fat is null)
        {
            return false;
        }

        var e = fat.Dequeue()!;
        _totalLength--;
        Bytes -= e.Length;
        fat.Drops++;
        Drops++;
        _owner.DropEntry(e);
        return true;
    }

    public void OnTimer(Timer timer)
    {
        var now = _owner.Loop.Now;
        if (ReferenceEquals(timer, _linkTimer))
        {
            Transmit(now, fromTimer: true);
            return;
        }

        while (_delayHead is { } e && e.OutputTime <= now)
        {
            _delayHead = e.Next;
            if (_delayHead is null)
            {
                _delayTail = null;
            }

            _owner.Deliver(e);
        }

        if (_delayHead is { } next)
        {
            _owner.Loop.Schedule(_delayTimer, next.OutputTime);
        }
    }

    /// <summary>Releases every queued and delayed packet and stops the timers (object deleted or flushed).</summary>
    public void Destroy()
    {
        _owner.Loop.Cancel(_linkTimer);
        _owner.Loop.Cancel(_delayTimer);
        foreach (var q in _queues.Values)
        {
            q.Pie?.Deactivate();
            while (q.Dequeue() is { } e)
            {
                _owner.DropEntry(e);
            }
        }

        if (_fifo is not null)
        {
            _fifo.Pie?.Deactivate();
            while (_fifo.Dequeue() is { } e)
            {
                _owner.DropEntry(e);
            }
        }

        while (_delayHead is { } d)
        {
            _delayHead = d.Next;
            _owner.DropEntry(d);
        }

        _delayTail = null;
        _active.Clear();
        _oldFlows.Clear();
        _qfq?.Reset();
        _totalLength = 0;
        Bytes = 0;
    }

    /// <summary>Starts transmitting packets while the link is free at <paramref name="now"/>.</summary>
    /// <remarks>
    /// A link timer that fires late (real time: the host wakes the loop late) catches
    /// up: the packets whose start time has passed go out at once, as dummynet does on each tick, so the long-run rate
    /// stays exact. Only a link that was idle restarts its clock at <paramref name="now"/>.
    /// </remarks>
    private void Transmit(long now, bool fromTimer = false)
    {
        var link = _owner.LinkFor(Scheduler);
        var bw = link?.Bandwidth ?? 0;
        var delayNs = (link?.DelayMs ?? 0) * Nanos.PerMillisecond;
        if (_linkFreeAt < now && !fromTimer)
        {
            // Idle: a burst allowance accumulates at line rate up to `burst` bytes.
            if (link is { Burst: > 0 } && bw > 0)
            {
                var idle = now - Math.Max(_linkFreeAt, _idleSince);
                var earned = (long)Math.Min((double)idle * bw / Nanos.PerSecond, link.Burst * 8.0);
                _burstCredit = Math.Min(link.Burst * 8, _burstCredit + earned);
            }

            _linkFreeAt = now;
            _remainder = 0;
        }

        while (_linkFreeAt <= now)
        {
            var e = Dequeue(now);
            if (e is null)
            {
                _idleSince = _linkFreeAt;
                return;
            }

            var bits = (long)e.Length * 8;
            long tx = 0;
            if (bw > 0)
            {
                if (_burstCredit >= bits)
                {
                    _burstCredit -= bits;
                }
                else
                {
                    var total = (bits * Nanos.PerSecond) + _remainder;
                    tx = total / bw;
                    _remainder = total % bw;
                }
            }

            _linkFreeAt += tx;
            e.OutputTime = _linkFreeAt + delayNs;
            AppendDelay(e);
        }

        if (_totalLength > 0)
        {
            _owner.Loop.Schedule(_linkTimer, _linkFreeAt);
        }
    }

    private void AppendDelay(DnEntry e)
    {
        e.Next = null;
        if (_delayTail is null)
        {
            _delayHead = e;
            _owner.Loop.Schedule(_delayTimer, e.OutputTime);
        }
        else
        {
            _delayTail.Next = e;
        }

        _delayTail = e;
    }

    private void Activate(DnFlowQueue q, int length)
    {
        q.Active = true;
        switch (Scheduler.Type)
        {
            case DnSchedulerType.Qfq:
                _qfq!.Activate(q, length);
                break;
            case DnSchedulerType.Wf2q:
                var w = q.Flowset!.Weight;
                q.S = Math.Max(q.F, _v);
                q.F = q.S + (((long)length << WfShift) / w);
                _weightSum += w;
                _active.Add(q);
                break;
            case DnSchedulerType.FqCodel or DnSchedulerType.FqPie:
                q.IsNew = true;
                q.Deficit = Scheduler.Config.Parameters?.Quantum ?? 1514;
                _active.Add(q);
                break;
            case DnSchedulerType.RoundRobin:
                q.Deficit = 0;
                _active.Add(q);
                break;
            case DnSchedulerType.Priority:
                _active.Add(q);
                break;
            default:
                break;
        }
    }

    private DnEntry? Dequeue(long now)
    {
        DnEntry? e;
        switch (Scheduler.Type)
        {
            case DnSchedulerType.Fifo:
                e = _fifo is null ? null : PopWithAqm(_fifo, now);
                break;
            case DnSchedulerType.Qfq:
                e = _qfq!.Dequeue(now);
                break;
            case DnSchedulerType.Wf2q:
                e = DequeueWf2q(now);
                break;
            case DnSchedulerType.RoundRobin:
                e = DequeueRr(now);
                break;
            case DnSchedulerType.Priority:
                e = DequeuePrio(now);
                break;
            default:
                e = DequeueFq(now);
                break;
        }

        return e;
    }

    private DnEntry? DequeueWf2q(long now)
    {
        while (_active.Count > 0)
        {
            DnFlowQueue? best = null;
            var minS = long.MaxValue;
            foreach (var q in _active)
            {
                minS = Math.Min(minS, q.S);
                if (q.S <= _v && (best is null || q.F < best.F))
                {
                    best = q;
                }
            }

            if (best is null)
            {
                _v = minS;
                continue;
            }

            var e = PopWithAqm(best, now);
            if (e is not null)
            {
                _v += ((long)e.Length << WfShift) / Math.Max(1, _weightSum);
            }

            var w = best.Flowset!.Weight;
            if (best.Head is { } next)
            {
                best.S = best.F;
                best.F = best.S + (((long)next.Length << WfShift) / w);
            }
            else
            {
                best.Active = false;
                _weightSum -= w;
                _active.Remove(best);
            }

            if (e is not null)
            {
                return e;
            }
        }

        return null;
    }

    private DnEntry? DequeueRr(long now)
    {
        while (_active.Count > 0)
        {
            if (_rrIndex >= _active.Count)
            {
                _rrIndex = 0;
            }

            var q = _active[_rrIndex];
            if (q.Head is null)
            {
                q.Active = false;
                _active.RemoveAt(_rrIndex);
                continue;
            }

            if (q.Deficit < q.Head.Length)
            {
                q.Deficit += q.Flowset!.Weight * 1500L;
                _rrIndex++;
                continue;
            }

            var e = PopWithAqm(q, now);
            if (e is not null)
            {
                q.Deficit -= e.Length;
                if (q.Head is null)
                {
                    q.Deficit = 0;
                    q.Active = false;
                    _active.RemoveAt(_rrIndex);
                }

                return e;
            }
        }

        return null;
    }

    private DnEntry? DequeuePrio(long now)
    {
        while (_active.Count > 0)
        {
            var best = 0;
            for (var i = 1; i < _active.Count; i++)
            {
                if (_active[i].Flowset!.Priority > _active[best].Flowset!.Priority)
                {
                    best = i;
                }
            }

            var q = _active[best];
            var e = PopWithAqm(q, now);
            if (q.Head is null)
            {
                q.Active = false;
                _active.RemoveAt(best);
            }

            if (e is not null)
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>FQ-CoDel (RFC 8290), and FQ-PIE: new flows first, then old flows, deficit round robin with a byte quantum.</summary>
    private DnEntry? DequeueFq(long now)
    {
        var quantum = Scheduler.Config.Parameters?.Quantum ?? 1514;
        while (true)
        {
            List<DnFlowQueue> list;
            if (_active.Count > 0)
            {
                list = _active;
            }
            else if (_oldFlows.Count > 0)
            {
                list = _oldFlows;
            }
            else
            {
                return null;
            }

            var q = list[0];
            if (q.Deficit <= 0)
            {
                q.Deficit += quantum;
                list.RemoveAt(0);
                q.IsNew = false;
                _oldFlows.Add(q);
                continue;
            }

            var e = PopWithAqm(q, now);
            if (e is null)
            {
                list.RemoveAt(0);
                if (ReferenceEquals(list, _active))
                {
                    // RFC 8290 §4.2: an emptied new flow goes to the old list to prevent starvation.
                    q.IsNew = false;
                    _oldFlows.Add(q);
                }
                else
                {
                    q.Active = false;
                    if (Scheduler.Type is DnSchedulerType.FqPie)
                    {
                        // An FQ-PIE flow that leaves the schedule stops its PIE (it restarts from scratch when it builds up).
                        q.Pie?.Deactivate();
                    }
                }

                continue;
            }

            q.Deficit -= e.Length;
            return e;
        }
    }

    /// <summary>The head of <paramref name="q"/> for a scheduler kept in its own class (QFQ), AQM applied.</summary>
    internal DnEntry? PopForScheduler(DnFlowQueue q, long now) => PopWithAqm(q, now);

    /// <summary>Pops the head of <paramref name="q"/>, running CoDel when configured (RFC 8289 dequeue).</summary>
    private DnEntry? PopWithAqm(DnFlowQueue q, long now)
    {
        var codel = Scheduler.Type is DnSchedulerType.FqCodel ? Scheduler.Config.Parameters
            : q.Flowset?.Config.Aqm is { Name: "codel" } a ? a : null;
        if (codel is null)
        {
            var popped = Pop(q);
            if (popped is not null && q.Pie is { Active: true } pie)
            {
                pie.OnDequeue(popped, now);
            }

            return popped;
        }

        var target = codel.TargetUs * Nanos.PerMicrosecond;
        var interval = codel.IntervalUs * Nanos.PerMicrosecond;
        var e = CodelDoDequeue(q, now, target, interval, out var okToDrop);
        if (e is null)
        {
            q.Dropping = false;
            return null;
        }

        if (q.Dropping)
        {
            if (!okToDrop)
            {
                q.Dropping = false;
            }
            else
            {
                while (now >= q.DropNext && q.Dropping)
                {
                    if (codel.Ecn && CodelMark(e))
                    {
                        // dn_aqm_codel.c: an ECN-capable packet is marked and delivered instead; the next mark is scheduled.
                        q.Count++;
                        q.DropNext = ControlLaw(q.DropNext, interval, q.Count);
                        return e;
                    }

                    CodelDrop(q, e);
                    q.Count++;
                    e = CodelDoDequeue(q, now, target, interval, out okToDrop);
                    if (e is null)
                    {
                        q.Dropping = false;
                        return null;
                    }

                    if (!okToDrop)
                    {
                        q.Dropping = false;
                    }
                    else
                    {
                        q.DropNext = ControlLaw(q.DropNext, interval, q.Count);
                    }
                }
            }
        }
        else if (okToDrop)
        {
            // Entering the dropping state: an ECN-capable head is marked and delivered rather than dropped.
            if (!(codel.Ecn && CodelMark(e)))
            {
                CodelDrop(q, e);
                e = CodelDoDequeue(q, now, target, interval, out _);
            }

            q.Dropping = true;
            var delta = q.Count - q.LastCount;
            q.Count = delta > 1 && now - q.DropNext < 16 * interval ? delta : 1;
            q.DropNext = ControlLaw(now, interval, q.Count);
            q.LastCount = q.Count;
        }

        return e;
    }

    private static long ControlLaw(long t, long interval, int count) => t + (long)(interval / Math.Sqrt(Math.Max(1, count)));

    private DnEntry? CodelDoDequeue(DnFlowQueue q, long now, long target, long interval, out bool okToDrop)
    {
        okToDrop = false;
        var e = Pop(q);
        if (e is null)
        {
            q.FirstAboveTime = 0;
            return null;
        }

        var sojourn = now - e.EnqueueTime;
        if (sojourn < target || q.Bytes <= 1514)
        {
            q.FirstAboveTime = 0;
        }
        else if (q.FirstAboveTime == 0)
        {
            q.FirstAboveTime = now + interval;
        }
        else if (now >= q.FirstAboveTime)
        {
            okToDrop = true;
        }

        return e;
    }

    /// <summary>Sets CE on an ECN-capable packet (RFC 3168), counting it; false when the packet is Not-ECT.</summary>
    private bool CodelMark(DnEntry e)
    {
        if (e.Packet is not { } packet)
        {
            return false;
        }

        var ip = packet.Data;
        var ect = e.Info.IPv6 ? ip.Length >= 2 && ((ip[1] >> 4) & 3) != 0 : ip.Length >= 20 && (ip[1] & 3) != 0;
        if (!ect)
        {
            return false;
        }

        packet.MakeWritable();
        if (!PieState.EcnMark(packet.Data, e.Info.IPv6))
        {
            return false;
        }

        _owner.CodelMarks++;
        return true;
    }

    private void CodelDrop(DnFlowQueue q, DnEntry e)
    {
        q.Drops++;
        Drops++;
        _owner.CodelDrops++;
        _owner.DropEntry(e);
    }

    private DnEntry? Pop(DnFlowQueue q)
    {
        var e = q.Dequeue();
        if (e is not null)
        {
            _totalLength--;
            Bytes -= e.Length;
            if (q.Length == 0)
            {
                q.IdleSince = _owner.Loop.Now;
            }
        }

        return e;
    }
}
