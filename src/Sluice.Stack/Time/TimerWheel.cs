using System.Numerics;

namespace Sluice.Stack.Time;

/// <summary>
/// Timers ordered by due time, ties by scheduling order: a hierarchical hashed timing wheel with intrusive lists.
/// </summary>
/// <remarks>
/// <para>
/// Time is cut into ticks (1 µs by default) counted from <c>start</c>. Level <c>L</c> has 64 slots of 64^L ticks each.
/// A timer lives at the level of the highest 6-bit group in which its tick differs from the wheel's current tick, so
/// every timer at level <c>L</c> is later than every timer at a level below <c>L</c>. Eleven levels cover the whole
/// 64-bit tick range, so there is no overflow list: a timer days away simply sits in a high level and is cascaded
/// down at most once per level.
/// </para>
/// <para>
/// Timers whose tick is at or before the current tick sit in one "near" list sorted by (Due, Sequence); only that list
/// fires, so the order is exact even within a tick. Schedule and cancel are O(1) except for an insertion into the
/// near list, which scans from its tail (O(1) for timers scheduled in due order, O(k) for k timers sharing the tick).
/// </para>
/// <para>
/// <see cref="NextDue"/> is exact: the head of the near list if any, otherwise the minimum over the single earliest
/// non-empty slot (found with per-level occupancy bitmaps, O(1)), scanned in O(k) and cached until a change could
/// lower or remove it. Nothing allocates after construction. Not thread-safe: owned by one event loop.
/// </para>
/// </remarks>
internal sealed class TimerWheel
{
    private const int SlotBits = 6;
    private const int SlotsPerLevel = 1 << SlotBits;
    private const int SlotMask = SlotsPerLevel - 1;
    private const int Levels = (64 + SlotBits - 1) / SlotBits;
    private const int NearList = Levels * SlotsPerLevel;

    private readonly long _start;
    private readonly long _tick;
    private readonly Timer?[] _heads = new Timer?[NearList + 1];
    private readonly Timer?[] _tails = new Timer?[NearList + 1];
    private readonly ulong[] _occupied = new ulong[Levels];
    private int _occupiedLevels;
    private ulong _current;
    private long _sequence;
    private long _cachedMin;
    private bool _cachedMinValid;

    /// <summary>Creates a wheel whose tick 0 begins at <paramref name="start"/> ns, with ticks of <paramref name="tickNanoseconds"/>.</summary>
    public TimerWheel(long start, long tickNanoseconds = Nanos.PerMicrosecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tickNanoseconds, 1);
        _start = start;
        _tick = tickNanoseconds;
    }

    /// <summary>Number of scheduled timers.</summary>
    public int Count { get; private set; }

    /// <summary>The exact earliest due time, or null when nothing is scheduled.</summary>
    public long? NextDue
    {
        get
        {
            if (Count == 0)
            {
                return null;
            }

            if (_heads[NearList] is Timer head)
            {
                return head.Due;
            }

            if (!_cachedMinValid)
            {
                var index = EarliestSlot(out _);
                var min = long.MaxValue;
                for (var t = _heads[index]; t is not null; t = t.Next)
                {
                    min = Math.Min(min, t.Due);
                }

                _cachedMin = min;
                _cachedMinValid = true;
            }

            return _cachedMin;
        }
    }

    /// <summary>Schedules <paramref name="timer"/> at <paramref name="due"/>; a scheduled timer is moved (and ordered as newly scheduled).</summary>
    public void Schedule(Timer timer, long due)
    {
        if (timer.IsScheduled)
        {
            Remove(timer);
        }
        else
        {
            Count++;
        }

        timer.Due = due;
        timer.Sequence = ++_sequence;
        timer.IsScheduled = true;
        if (_cachedMinValid && due < _cachedMin)
        {
            _cachedMin = due;
        }

        Insert(timer);
    }

    /// <summary>Cancels <paramref name="timer"/>; false when it was not scheduled.</summary>
    public bool Cancel(Timer timer)
    {
        if (!timer.IsScheduled)
        {
            return false;
        }

        Remove(timer);
        timer.IsScheduled = false;
        Count--;
        return true;
    }

    /// <summary>
    /// Fires, in (Due, scheduling order), every timer due at or before <paramref name="now"/>, including those that
    /// handlers schedule while it runs. Returns how many fired.
    /// </summary>
    public int Expire(long now)
    {
        var target = TickOf(now);
        var fired = 0;
        while (true)
        {
            while (_heads[NearList] is Timer head && head.Due <= now)
            {
                Unlink(head, NearList);
                head.Slot = -1;
                head.IsScheduled = false;
                Count--;
                _cachedMinValid = false;
                fired++;
                head.Handler.OnTimer(head);
            }

            if (_occupiedLevels == 0)
            {
                break;
            }

            var index = EarliestSlot(out var blockStart);
            if (blockStart > target)
            {
                break;
            }

            _current = blockStart;
            Cascade(index);
        }

        // Every remaining wheel timer is in a block after target, so moving the wheel to target keeps the invariant.
        if (target > _current)
        {
            _current = target;
        }

        return fired;
    }

    private ulong TickOf(long time) => time <= _start ? 0 : ((ulong)time - (ulong)_start) / (ulong)_tick;

    private int EarliestSlot(out ulong blockStart)
    {
        var level = BitOperations.TrailingZeroCount(_occupiedLevels);
        var slot = BitOperations.TrailingZeroCount(_occupied[level]);
        var shift = SlotBits * (level + 1);
        var high = shift >= 64 ? 0UL : _current & ~((1UL << shift) - 1);
        blockStart = high | ((ulong)slot << (SlotBits * level));
        return (level * SlotsPerLevel) + slot;
    }

    private void Cascade(int index)
    {
        var t = _heads[index];
        _heads[index] = null;
        _tails[index] = null;
        var level = index / SlotsPerLevel;
        _occupied[level] &= ~(1UL << (index & SlotMask));
        if (_occupied[level] == 0)
        {
            _occupiedLevels &= ~(1 << level);
        }

        while (t is not null)
        {
            var next = t.Next;
            Insert(t);
            t = next;
        }
    }

    private void Insert(Timer timer)
    {
        var tick = TickOf(timer.Due);
        if (tick <= _current)
        {
            InsertNear(timer);
            return;
        }

        var level = (63 - BitOperations.LeadingZeroCount(tick ^ _current)) / SlotBits;
        var slot = (int)(tick >> (SlotBits * level)) & SlotMask;
        var index = (level * SlotsPerLevel) + slot;
        timer.Slot = index;
        timer.Next = null;
        timer.Previous = _tails[index];
        if (_tails[index] is Timer tail)
        {
            tail.Next = timer;
        }
        else
        {
            _heads[index] = timer;
        }

        _tails[index] = timer;
        _occupied[level] |= 1UL << slot;
        _occupiedLevels |= 1 << level;
    }

    private void InsertNear(Timer timer)
    {
        timer.Slot = NearList;
        var after = _tails[NearList];
        while (after is not null && (after.Due > timer.Due || (after.Due == timer.Due && after.Sequence > timer.Sequence)))
        {
            after = after.Previous;
        }

        timer.Previous = after;
        if (after is null)
        {
            timer.Next = _heads[NearList];
            _heads[NearList] = timer;
        }
        else
        {
            timer.Next = after.Next;
            after.Next = timer;
        }

        if (timer.Next is Timer next)
        {
            next.Previous = timer;
        }
        else
        {
            _tails[NearList] = timer;
        }
    }

    private void Remove(Timer timer)
    {
        if (_cachedMinValid && timer.Due == _cachedMin)
        {
            _cachedMinValid = false;
        }

        var index = timer.Slot;
        Unlink(timer, index);
        timer.Slot = -1;
        if (index != NearList && _heads[index] is null)
        {
            var level = index / SlotsPerLevel;
            _occupied[level] &= ~(1UL << (index & SlotMask));
            if (_occupied[level] == 0)
            {
                _occupiedLevels &= ~(1 << level);
            }
        }
    }

    private void Unlink(Timer timer, int index)
    {
        if (timer.Previous is Timer previous)
        {
            previous.Next = timer.Next;
        }
        else
        {
            _heads[index] = timer.Next;
        }

        if (timer.Next is Timer next)
        {
            next.Previous = timer.Previous;
        }
        else
        {
            _tails[index] = timer.Previous;
        }

        timer.Next = null;
        timer.Previous = null;
    }
}
