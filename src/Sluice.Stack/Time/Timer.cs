namespace Sluice.Stack.Time;

/// <summary>Receives timer expirations.</summary>
public interface ITimerHandler
{
    /// <summary>Called on the event loop when <paramref name="timer"/> expires.</summary>
    void OnTimer(Timer timer);
}

/// <summary>
/// A reusable timer: allocated once by its owner (an ARP entry, a TCP connection) and scheduled and cancelled
/// as often as needed without allocating.
/// </summary>
public sealed class Timer(ITimerHandler handler, object? state = null)
{
    /// <summary>Who is called on expiry.</summary>
    public ITimerHandler Handler { get; } = handler;

    /// <summary>Owner-defined state.</summary>
    public object? State { get; set; } = state;

    /// <summary>Absolute due time in nanoseconds (valid while scheduled).</summary>
    public long Due { get; internal set; }

    /// <summary>True while the timer is scheduled.</summary>
    public bool IsScheduled { get; internal set; }

    // Intrusive links and ordering data owned by the TimerWheel.
    internal Timer? Next;
    internal Timer? Previous;
    internal long Sequence;
    internal int Slot = -1;
}
