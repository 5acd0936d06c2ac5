namespace Sluice.Stack.Time;

/// <summary>Timers ordered by due time (ties by scheduling order). Placeholder implementation: a binary heap.</summary>
internal sealed class TimerWheel(long start)
{
    private readonly PriorityQueue<Timer, (long, long)> _heap = new();
    private long _sequence;
    private long _now = start;

    public int Count { get; private set; }

    public long? NextDue
    {
        get
        {
            while (_heap.TryPeek(out var t, out var key))
            {
                if (t.IsScheduled && t.Due == key.Item1 && t.Sequence == key.Item2)
                {
                    return t.Due;
                }

                _heap.Dequeue();
            }

            return null;
        }
    }

    public void Schedule(Timer timer, long due)
    {
        if (!timer.IsScheduled)
        {
            Count++;
        }

        timer.Due = due;
        timer.Sequence = ++_sequence;
        timer.IsScheduled = true;
        _heap.Enqueue(timer, (due, timer.Sequence));
    }

    public bool Cancel(Timer timer)
    {
        if (!timer.IsScheduled)
        {
            return false;
        }

        timer.IsScheduled = false;
        Count--;
        return true;
    }

    public int Expire(long now)
    {
        _now = now;
        var fired = 0;
        while (NextDue is long due && due <= _now)
        {
            var t = _heap.Dequeue();
            t.IsScheduled = false;
            Count--;
            fired++;
            t.Handler.OnTimer(t);
        }

        return fired;
    }
}
