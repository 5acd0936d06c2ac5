using Sluice.Stack.Time;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Dummynet;

/// <summary>What PIE decided for an arriving packet.</summary>
internal enum PieVerdict
{
    Enqueue,
    Drop,
    Mark,
}

/// <summary>
/// PIE (RFC 8033) for one queue: the drop probability is recomputed every <c>tupdate</c> from the queue delay (estimated
/// from the departure rate, or measured from enqueue timestamps with <c>ts</c>), with auto-tuned alpha/beta, the burst
/// allowance, the cap on large increases (<c>capdrop</c>), de-randomisation (<c>derand</c>) and ECN marking below
/// <c>max_ecnth</c>. One instance per PIE flowset queue, or per FQ-PIE flow; allocated with its queue, never per packet.
/// </summary>
internal sealed class PieState : ITimerHandler
{
    /// <summary>Bytes of a departure-rate measurement cycle (2^14, as FreeBSD's PIE_DQ_THRESHOLD).</summary>
    public const int DqThreshold = 16384;

    /// <summary>Below two mean-size packets queued PIE never drops early.</summary>
    private const int MeanPacketSize = 1000;

    private readonly EventLoop _loop;
    private readonly DnFlowQueue _queue;
    private readonly Timer _timer;
    private long _dqCount;
    private long _measurementStart;
    private bool _inMeasurement;

    public PieState(EventLoop loop, DnFlowQueue queue, DnAqmConfig parameters)
    {
        _loop = loop;
        _queue = queue;
        _timer = new Timer(this);
        Parameters = parameters;
    }

    /// <summary>The parameters in force (refreshed by the enqueue path when the configuration changes).</summary>
    public DnAqmConfig Parameters { get; set; }

    /// <summary>True while the controller runs (its probability timer is armed).</summary>
    public bool Active { get; private set; }

    /// <summary>The drop probability, 0..1.</summary>
    public double DropProbability { get; private set; }

    /// <summary>Queue delay estimate of the last update (ns).</summary>
    public long CurrentQdelay { get; private set; }

    /// <summary>Queue delay estimate of the previous update (ns).</summary>
    public long QdelayOld { get; private set; }

    /// <summary>Remaining burst allowance (ns).</summary>
    public long BurstAllowance { get; private set; }

    /// <summary>Accumulated probability for de-randomisation.</summary>
    public double AccuProb { get; private set; }

    /// <summary>Average time to dequeue <see cref="DqThreshold"/> bytes (ns); 0 until measured.</summary>
    public long AvgDqTime { get; private set; }

    private long Target => Parameters.TargetUs * Nanos.PerMicrosecond;

    private long Tupdate => Math.Max(1, Parameters.TupdateUs) * Nanos.PerMicrosecond;

    /// <summary>Starts (or restarts) the controller from a clean state.</summary>
    public void Activate(long now)
    {
        DropProbability = 0;
        QdelayOld = 0;
        BurstAllowance = Parameters.MaxBurstUs * Nanos.PerMicrosecond;
        AccuProb = 0;
        _dqCount = 0;
        AvgDqTime = 0;
        _inMeasurement = true;
        _measurementStart = now;
        Active = true;
        _loop.ScheduleAfter(_timer, Tupdate);
    }

    /// <summary>Stops the controller and its timer.</summary>
    public void Deactivate()
    {
        Active = false;
        _inMeasurement = false;
        _loop.Cancel(_timer);
    }

    /// <summary>
    /// The enqueue decision for a packet arriving at a queue holding <paramref name="qlen"/> (in the unit of
    /// <paramref name="activateAt"/>) and <paramref name="qbytes"/> bytes; <paramref name="full"/> is the queue limit.
    /// Activates PIE at <paramref name="activateAt"/> and refills the burst allowance once the queue has calmed down.
    /// </summary>
    public PieVerdict OnEnqueue(Span<byte> ip, bool ipv6, bool full, long qlen, long qbytes, long activateAt, long now, Random random)
    {
        var p = Parameters;
        var verdict = full ? PieVerdict.Drop : PieVerdict.Enqueue;
        if (!full && Active && BurstAllowance == 0 && DropEarly(qbytes, random))
        {
            verdict = p.Ecn && DropProbability < p.MaxEcnth && EcnMark(ip, ipv6) ? PieVerdict.Mark : PieVerdict.Drop;
        }

        if (!Active && qlen >= activateAt)
        {
            Activate(now);
        }

        var half = Target / 2;
        if (Active && DropProbability == 0 && CurrentQdelay < half && QdelayOld < half)
        {
            BurstAllowance = p.MaxBurstUs * Nanos.PerMicrosecond;
            if (p.OnOff && qlen <= 0)
            {
                Deactivate();
            }
        }

        if (verdict == PieVerdict.Drop)
        {
            AccuProb = 0;
        }

        return verdict;
    }

    /// <summary>Departure bookkeeping for <paramref name="e"/>, just taken off the queue at <paramref name="now"/>.</summary>
    public void OnDequeue(DnEntry e, long now)
    {
        if (!Active)
        {
            return;
        }

        if (!Parameters.Dre)
        {
            CurrentQdelay = now - e.EnqueueTime;
            return;
        }

        if (_inMeasurement)
        {
            _dqCount += e.Length;
            if (_dqCount >= DqThreshold)
            {
                var dq = now - _measurementStart;
                // RFC 8033 §5.3: an EWMA of the time to drain DqThreshold bytes, weight 1/4.
                AvgDqTime = AvgDqTime == 0 ? dq : (dq + (3 * AvgDqTime)) / 4;
                _inMeasurement = false;
            }
        }

        if (!_inMeasurement && _queue.Bytes >= DqThreshold)
        {
            _inMeasurement = true;
            _measurementStart = now;
            _dqCount = 0;
        }
    }

    public void OnTimer(Timer timer)
    {
        Update();
        if (Active)
        {
            _loop.ScheduleAfter(_timer, Tupdate);
        }
    }

    /// <summary>RFC 8033 §4.2's periodic drop probability calculation, with FreeBSD's auto-tuning steps.</summary>
    private void Update()
    {
        var p = Parameters;
        if (p.Dre)
        {
            CurrentQdelay = _queue.Bytes * AvgDqTime / DqThreshold;
        }
        else if (_queue.Bytes == 0)
        {
            CurrentQdelay = 0;
        }

        var prob = DropProbability;
        var delta = ((p.Alpha * (CurrentQdelay - Target)) + (p.Beta * (CurrentQdelay - QdelayOld))) / Nanos.PerSecond;

        // Auto-tuning: the smaller the probability, the smaller its steps.
        delta /= prob switch
        {
            < 0.000001 => 2048,
            < 0.00001 => 512,
            < 0.0001 => 128,
            < 0.001 => 32,
            < 0.01 => 8,
            < 0.1 => 2,
            _ => 1,
        };

        if (delta > 0 && p.CapDrop && prob >= 0.1 && delta > 0.02)
        {
            delta = 0.02;
        }

        prob += delta;
        if (prob < 0)
        {
            prob = 0;
        }
        else
        {
            if (CurrentQdelay == 0 && QdelayOld == 0)
            {
                // Exponential decay while the queue is idle.
                prob -= prob / 64;
            }

            prob = Math.Min(1, prob);
        }

        DropProbability = prob;
        QdelayOld = CurrentQdelay;
        BurstAllowance = Math.Max(0, BurstAllowance - Tupdate);
    }

    private bool DropEarly(long qbytes, Random random)
    {
        var p = Parameters;
        if ((QdelayOld < Target / 2 && DropProbability < 0.2) || qbytes <= 2 * MeanPacketSize)
        {
            return false;
        }

        if (DropProbability == 0)
        {
            AccuProb = 0;
        }

        if (p.Derand)
        {
            // De-randomisation: never before 0.85 accumulated, always from 8.5 on.
            AccuProb += DropProbability;
            if (AccuProb < 0.85)
            {
                return false;
            }

            if (AccuProb >= 8.5)
            {
                return true;
            }
        }

        if (random.NextDouble() < DropProbability)
        {
            AccuProb = 0;
            return true;
        }

        return false;
    }

    /// <summary>Sets CE on an ECN-capable IPv4/IPv6 packet (IPv4 checksum updated); false when not ECN-capable.</summary>
    internal static bool EcnMark(Span<byte> ip, bool ipv6)
    {
        if (ipv6)
        {
            if (ip.Length < 2)
            {
                return false;
            }

            var ecn = (ip[1] >> 4) & 3;
            if (ecn == 0)
            {
                return false;
            }

            ip[1] |= 0x30;
            return true;
        }

        if (ip.Length < 20)
        {
            return false;
        }

        var tos = ip[1];
        if ((tos & 3) == 0)
        {
            return false;
        }

        if ((tos & 3) == 3)
        {
            return true;
        }

        // RFC 1624 incremental update of the header checksum for the 16-bit word (version/IHL, TOS).
        var oldWord = (ushort)((ip[0] << 8) | tos);
        var newWord = (ushort)(oldWord | 3);
        var sum = (uint)(~((ip[10] << 8) | ip[11]) & 0xffff) + (uint)(~oldWord & 0xffff) + newWord;
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        var check = (ushort)~sum;
        ip[1] = (byte)(tos | 3);
        ip[10] = (byte)(check >> 8);
        ip[11] = (byte)check;
        return true;
    }
}
