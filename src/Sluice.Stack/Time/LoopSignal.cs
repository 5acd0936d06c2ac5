using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Sluice.Stack.Links.Native;

namespace Sluice.Stack.Time;

/// <summary>
/// The event loop's wake-up: other threads <see cref="Set"/> it, the loop <see cref="Wait"/>s on it with a timeout in
/// nanoseconds.
/// </summary>
/// <remarks>
/// On Linux the loop sleeps in <c>ppoll(2)</c> on an eventfd, whose timeout has nanosecond resolution; the loop's
/// thread lowers its timer slack to 1 µs (<c>PR_SET_TIMERSLACK</c>; the default of 50 µs would add that much to every
/// wake-up). Elsewhere it falls back to an <see cref="AutoResetEvent"/> with millisecond timeouts. A set that nobody
/// has waited for yet is remembered: the next <see cref="Wait"/> returns at once. The eventfd is created on the first
/// wait, so loops that never wait hold no descriptor.
/// </remarks>
internal sealed unsafe class LoopSignal
{
    private const long TimerSlackNanoseconds = 1_000;

    [ThreadStatic]
    private static bool t_slackLowered;

    private readonly AutoResetEvent? _event;
    private SafeFileHandle? _eventFd;
    private int _signaled;

    public LoopSignal()
    {
        if (!OperatingSystem.IsLinux())
        {
            _event = new AutoResetEvent(false);
        }
    }

    /// <summary>Whether a set is pending (the loop's spin checks this without a system call).</summary>
    public bool IsSet => Volatile.Read(ref _signaled) != 0;

    /// <summary>Wakes the waiting loop, or the next wait; any thread.</summary>
    public void Set()
    {
        if (Interlocked.Exchange(ref _signaled, 1) != 0)
        {
            return;
        }

        if (_event is not null)
        {
            _event.Set();
            return;
        }

        if (Volatile.Read(ref _eventFd) is { } fd)
        {
            ulong one = 1;
            var added = false;
            try
            {
                fd.DangerousAddRef(ref added);
                _ = LibC.Write(fd.DangerousGetHandle().ToInt32(), (byte*)&one, sizeof(ulong));
            }
            catch (ObjectDisposedException)
            {
                // The loop is gone; nothing to wake.
            }
            finally
            {
                if (added)
                {
                    fd.DangerousRelease();
                }
            }
        }
    }

    /// <summary>Sleeps until <see cref="Set"/> or <paramref name="timeout"/> ns pass; returns whether it was set. Loop thread only.</summary>
    public bool Wait(long timeout)
    {
        if (_event is not null)
        {
            var ms = (int)Math.Clamp((timeout + Nanos.PerMillisecond - 1) / Nanos.PerMillisecond, 0, int.MaxValue);
            _event.WaitOne(ms); // clock-ok: the loop's bounded sleep for the next timer or a post
            return Interlocked.Exchange(ref _signaled, 0) != 0;
        }

        var fd = EnsureEventFd();
        if (Interlocked.Exchange(ref _signaled, 0) != 0)
        {
            Drain(fd);
            return true;
        }

        if (!t_slackLowered)
        {
            t_slackLowered = true;
            _ = LibC.Prctl(LibC.PR_SET_TIMERSLACK, (nuint)TimerSlackNanoseconds, 0, 0, 0);
        }

        var poll = new LibC.PollFd { Fd = fd, Events = LibC.POLLIN };
        var spec = new LibC.TimeSpec { Seconds = Math.Max(0, timeout) / Nanos.PerSecond, Nanoseconds = Math.Max(0, timeout) % Nanos.PerSecond };
        _ = LibC.PPoll(&poll, 1, &spec, null); // clock-ok: the loop's bounded sleep for the next timer or a post
        if ((poll.Revents & LibC.POLLIN) != 0)
        {
            Drain(fd);
        }

        return Interlocked.Exchange(ref _signaled, 0) != 0;
    }

    private static void Drain(int fd)
    {
        ulong value;
        _ = LibC.Read(fd, (byte*)&value, sizeof(ulong));
    }

    private int EnsureEventFd()
    {
        if (_eventFd is { } existing)
        {
            return existing.DangerousGetHandle().ToInt32();
        }

        var raw = LibC.EventFd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC);
        if (raw < 0)
        {
            throw LibC.Error("eventfd", Marshal.GetLastPInvokeError());
        }

        var handle = new SafeFileHandle(raw, ownsHandle: true);
        Volatile.Write(ref _eventFd, handle);

        // A Set that ran before the descriptor existed left only the flag, which the caller checks next.
        Interlocked.MemoryBarrier();
        return raw;
    }
}
