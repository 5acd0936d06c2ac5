using System.Diagnostics;

namespace Sluice.Stack.Time;

/// <summary>A source of monotonic time in nanoseconds.</summary>
public interface IClock
{
    /// <summary>Nanoseconds since the clock's epoch (0 for a virtual clock at creation).</summary>
    long Now { get; }

    /// <summary>True when time only advances as the event loop jumps it (discrete-event simulation).</summary>
    bool IsVirtual { get; }
}

/// <summary>Virtual time: advanced only by the event loop, to the next timer when all work is done.</summary>
public sealed class VirtualClock : IClock
{
    /// <inheritdoc />
    public long Now { get; private set; }

    /// <inheritdoc />
    public bool IsVirtual => true;

    /// <summary>Moves time forward to <paramref name="time"/>; time never goes back.</summary>
    public void AdvanceTo(long time)
    {
        if (time > Now)
        {
            Now = time;
        }
    }
}

/// <summary>Real monotonic time from <see cref="Stopwatch"/>.</summary>
public sealed class RealClock : IClock
{
    private readonly long _start = Stopwatch.GetTimestamp();

    /// <inheritdoc />
    public long Now => (long)((Stopwatch.GetTimestamp() - _start) * (1_000_000_000.0 / Stopwatch.Frequency));

    /// <inheritdoc />
    public bool IsVirtual => false;
}

/// <summary>Nanosecond helpers.</summary>
public static class Nanos
{
    public const long PerMicrosecond = 1_000;
    public const long PerMillisecond = 1_000_000;
    public const long PerSecond = 1_000_000_000;

    public static long FromMilliseconds(double ms) => (long)(ms * PerMillisecond);

    public static long FromSeconds(double s) => (long)(s * PerSecond);

    public static double ToMilliseconds(long ns) => ns / (double)PerMillisecond;
}
