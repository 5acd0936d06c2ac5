namespace Sluice.Stack.Tcp;

/// <summary>What made the sender reduce its window (cc_signal in sys/netinet/cc/cc.h).</summary>
public enum CongestionSignal
{
    /// <summary>Loss detected by duplicate ACKs, SACK or RACK (CC_NDUPACK).</summary>
    Loss,
    /// <summary>Retransmission timeout (CC_RTO).</summary>
    Timeout,
    /// <summary>ECN-Echo (CC_ECN).</summary>
    Ecn,
}

/// <summary>A congestion-control module (struct cc_algo): one instance per connection.</summary>
/// <remarks>Called on the event loop. Windows are in bytes and live in the control block (cwnd, ssthresh).</remarks>
public interface ICongestionControl
{
    /// <summary>The module's name as net.inet.tcp.cc.algorithm shows it.</summary>
    string Name { get; }

    /// <summary>A connection was established (cc_conn_init).</summary>
    void ConnectionInit(TcpControlBlock tcb);

    /// <summary>New data was cumulatively acknowledged outside recovery (cc_ack_received).</summary>
    void AckReceived(TcpControlBlock tcb, int ackedBytes);

    /// <summary>A congestion signal (cc_cong_signal): sets ssthresh (and cwnd for a timeout).</summary>
    void CongestionSignal(TcpControlBlock tcb, CongestionSignal signal);

    /// <summary>Recovery ended (cc_post_recovery).</summary>
    void PostRecovery(TcpControlBlock tcb);
}

/// <summary>NewReno (RFC 5681, RFC 6582; FreeBSD cc_newreno.c) with appropriate byte counting (RFC 3465, L=2).</summary>
public sealed class NewRenoCongestionControl : ICongestionControl
{
    /// <inheritdoc />
    public string Name => "newreno";

    /// <inheritdoc />
    public void ConnectionInit(TcpControlBlock tcb) => tcb.BytesAcked = 0;

    /// <inheritdoc />
    public void AckReceived(TcpControlBlock tcb, int ackedBytes)
    {
        var mss = tcb.Mss;
        if (tcb.Cwnd <= tcb.Ssthresh)
        {
            tcb.Cwnd += Math.Min(ackedBytes, 2 * mss);
        }
        else
        {
            tcb.BytesAcked += ackedBytes;
            if (tcb.BytesAcked >= tcb.Cwnd)
            {
                tcb.BytesAcked -= tcb.Cwnd;
                tcb.Cwnd += mss;
            }
        }

        tcb.Cwnd = Math.Min(tcb.Cwnd, tcb.MaxWindow);
    }

    /// <inheritdoc />
    public void CongestionSignal(TcpControlBlock tcb, CongestionSignal signal)
    {
        var mss = tcb.Mss;
        var win = Math.Max(Math.Min((long)tcb.SndWnd, tcb.Cwnd) / 2 / mss, 2) * mss;
        tcb.Ssthresh = (int)win;
        tcb.BytesAcked = 0;
        if (signal == Tcp.CongestionSignal.Timeout)
        {
            tcb.Cwnd = mss;
        }
        else if (signal == Tcp.CongestionSignal.Ecn)
        {
            tcb.Cwnd = tcb.Ssthresh;
        }
    }

    /// <inheritdoc />
    public void PostRecovery(TcpControlBlock tcb)
    {
        // RFC 6582 §3.2 step 3: full ack ends recovery; avoid a burst.
        var pipe = (int)(tcb.SndMax - tcb.SndUna);
        tcb.Cwnd = pipe < tcb.Ssthresh ? Math.Max(pipe, tcb.Mss) + tcb.Mss : tcb.Ssthresh;
        tcb.BytesAcked = 0;
    }
}

/// <summary>CUBIC (RFC 9438; FreeBSD cc_cubic.c): cubic window growth with a Reno-friendly region and fast convergence.</summary>
public sealed class CubicCongestionControl : ICongestionControl
{
    private const double C = 0.4;
    private const double Beta = 0.7;
    private double _wMax;     // segments
    private double _wLastMax; // segments
    private double _k;        // seconds
    private long _epochStart = -1;
    private double _cwndEpoch; // segments
    private double _wEst;      // segments

    /// <inheritdoc />
    public string Name => "cubic";

    /// <summary>W_max in segments (for tests and tcp_info).</summary>
    public double WMax => _wMax;

    /// <inheritdoc />
    public void ConnectionInit(TcpControlBlock tcb)
    {
        _epochStart = -1;
        _wMax = 0;
        _wLastMax = 0;
    }

    /// <inheritdoc />
    public void AckReceived(TcpControlBlock tcb, int ackedBytes)
    {
        var mss = tcb.Mss;
        if (tcb.Cwnd <= tcb.Ssthresh)
        {
            tcb.Cwnd = Math.Min(tcb.Cwnd + Math.Min(ackedBytes, 2 * mss), tcb.MaxWindow);
            return;
        }

        var now = tcb.Now;
        var cwnd = tcb.Cwnd / (double)mss;
        if (_epochStart < 0)
        {
            // RFC 9438 §4.2: a new congestion-avoidance epoch.
            _epochStart = now;
            _cwndEpoch = cwnd;
            _wEst = cwnd;
            if (_wMax <= cwnd)
            {
                _k = 0;
                _wMax = cwnd;
            }
            else
            {
                _k = Math.Cbrt((_wMax - cwnd) / C);
            }
        }

        var rtt = (tcb.HaveRtt ? tcb.Srtt : 0) / 1e9;
        var t = ((now - _epochStart) / 1e9) + rtt;
        var target = (C * Math.Pow(t - _k, 3)) + _wMax;
        target = Math.Clamp(target, cwnd, 1.5 * cwnd);

        // RFC 9438 §4.3: Reno-friendly estimate.
        var alpha = 3 * (1 - Beta) / (1 + Beta);
        _wEst += alpha * (ackedBytes / (double)mss) / cwnd;
        double next;
        if (_wEst > target)
        {
            next = _wEst;
        }
        else
        {
            next = cwnd + ((target - cwnd) / cwnd * (ackedBytes / (double)mss));
        }

        tcb.Cwnd = (int)Math.Min(Math.Max(next * mss, tcb.Cwnd), tcb.MaxWindow);
    }

    /// <inheritdoc />
    public void CongestionSignal(TcpControlBlock tcb, CongestionSignal signal)
    {
        var mss = tcb.Mss;
        var cwnd = tcb.Cwnd / (double)mss;

        // RFC 9438 §4.7 fast convergence.
        _wMax = cwnd < _wLastMax ? cwnd * (1 + Beta) / 2 : cwnd;
        _wLastMax = cwnd;
        _epochStart = -1;
        tcb.Ssthresh = (int)Math.Max(cwnd * Beta * mss, 2.0 * mss);
        if (signal == Tcp.CongestionSignal.Timeout)
        {
            tcb.Cwnd = mss;
        }
        else if (signal == Tcp.CongestionSignal.Ecn)
        {
            tcb.Cwnd = tcb.Ssthresh;
        }
    }

    /// <inheritdoc />
    public void PostRecovery(TcpControlBlock tcb)
    {
        var pipe = (int)(tcb.SndMax - tcb.SndUna);
        tcb.Cwnd = pipe < tcb.Ssthresh ? Math.Max(pipe, tcb.Mss) + tcb.Mss : tcb.Ssthresh;
        _epochStart = -1;
    }
}
