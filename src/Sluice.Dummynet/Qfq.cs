using System.Diagnostics;
using System.Numerics;

namespace Sluice.Dummynet;

/// <summary>
/// QFQ (Checconi, Rizzo, Valente, "QFQ: Efficient Packet Scheduling With Tight Guarantees", IEEE/ACM ToN 2013), the
/// algorithm of FreeBSD's <c>dn_sched_qfq.c</c>: O(1) per packet, no allocation.
/// </summary>
/// <remarks>
/// Each class (flow queue) of weight w and maximum packet length lmax belongs to the group whose slot size
/// 2^slotShift is the smallest power of two not below lmax/w (in virtual-time units, <see cref="OneFp"/> per byte at
/// weight 1). A group keeps its backlogged classes in a ring of <see cref="SlotCount"/> buckets indexed by the class's
/// start time rounded down to the slot size, and its own timestamps are that of its first bucket: S = roundedS,
/// F = S + 2 slots. Groups are in one of four sets (bitmaps indexed by group): eligible (S ≤ V) or ineligible, ready
/// or blocked (a higher-index eligible group finishes earlier). The packet sent is the head class of the first
/// bucket of the lowest-index group in ER; V advances by L/Σw (Σw over the classes this instance has seen).
/// </remarks>
internal sealed class QfqScheduler
{
    private const int FracBits = 30;
    private const long OneFp = 1L << FracBits;
    private const int MaxLmaxShift = 16;
    private const int MaxLmax = 1 << MaxLmaxShift;
    private const int DefaultLmax = 2048;
    private const int MaxWeight = 1 << 16;
    private const int MinSlotShift = 22;
    private const int MaxIndex = FracBits + MaxLmaxShift - MinSlotShift;
    private const int SlotCount = 32;
    private const int ER = 0;
    private const int IR = 1;
    private const int EB = 2;
    private const int IB = 3;

    private readonly DnSchedInstance _owner;
    private readonly Group[] _groups = new Group[MaxIndex + 1];
    private readonly uint[] _bitmaps = new uint[4];
    private long _v;
    private long _wsum;
    private long _iwsum;

    public QfqScheduler(DnSchedInstance owner)
    {
        _owner = owner;
        for (var i = 0; i <= MaxIndex; i++)
        {
            _groups[i] = new Group { Index = i, SlotShift = MinSlotShift + i };
        }
    }

    /// <summary>The group of a class of weight <paramref name="weight"/> and max length <paramref name="lmax"/>.</summary>
    internal static int GroupIndex(int weight, int lmax)
    {
        var slotSize = (long)lmax * (OneFp / weight);
        var sizeMap = slotSize >> MinSlotShift;
        if (sizeMap == 0)
        {
            return 0;
        }

        // The smallest index whose slot (2^(MinSlotShift+index)) holds slotSize.
        var index = 64 - BitOperations.LeadingZeroCount((ulong)sizeMap);
        if (slotSize == 1L << (index + MinSlotShift - 1))
        {
            index--;
        }

        return Math.Clamp(index, 0, MaxIndex);
    }

    /// <summary>A class becomes backlogged with a head packet of <paramref name="length"/> bytes.</summary>
    public void Activate(DnFlowQueue q, int length)
    {
        SetParams(q, length);
        var g = _groups[q.QfqGroup];
        UpdateStart(q, g);
        q.F = unchecked(q.S + (length * q.QfqInvW));
        q.Active = true;
        Schedule(q);
    }

    /// <summary>The next packet, or null when no class is backlogged.</summary>
    public DnEntry? Dequeue(long now)
    {
        while (true)
        {
            if (_bitmaps[ER] == 0 && !JumpV())
            {
                return null;
            }

            var g = _groups[BitOperations.TrailingZeroCount(_bitmaps[ER])];
            var q = g.Slots[g.Front]!;
            var e = _owner.PopForScheduler(q, now);
            var oldV = _v;
            if (e is not null)
            {
                _v = unchecked(_v + (e.Length * _iwsum));
            }

            // Update the class: its next start is its finish; it leaves the front bucket when it empties or moves on.
            q.S = q.F;
            var moved = true;
            var regroup = 0;
            if (q.Head is not { } head)
            {
                FrontSlotRemove(g);
                q.Active = false;
            }
            else if (head.Length > q.QfqLmax)
            {
                FrontSlotRemove(g);
                regroup = head.Length;
            }
            else
            {
                q.F = unchecked(q.S + (head.Length * q.QfqInvW));
                var roundedS = RoundDown(q.S, g.SlotShift);
                if (roundedS == g.S)
                {
                    moved = false;
                }
                else
                {
                    FrontSlotRemove(g);
                    SlotInsert(g, q, roundedS);
                }
            }

            if (moved)
            {
                var oldF = g.F;
                var next = SlotScan(g);
                if (next is null)
                {
                    _bitmaps[ER] &= ~(1u << g.Index);
                    UnblockGroups(g.Index, oldF);
                }
                else
                {
                    var roundedS = RoundDown(next.S, g.SlotShift);
                    if (g.S != roundedS)
                    {
                        g.S = roundedS;
                        g.F = unchecked(roundedS + (2L << g.SlotShift));
                        _bitmaps[ER] &= ~(1u << g.Index);
                        _bitmaps[CalcState(g)] |= 1u << g.Index;
                        UnblockGroups(g.Index, oldF);
                    }
                }
            }

            if (regroup > 0)
            {
                // A packet longer than the class's lmax: the class moves to a group with larger slots, keeping S.
                SetParams(q, regroup);
                q.F = unchecked(q.S + (regroup * q.QfqInvW));
                Schedule(q);
            }

            if (_v != oldV)
            {
                MakeEligible();
            }

            if (e is not null)
            {
                return e;
            }
        }
    }

    /// <summary>Forgets every class (the instance is flushed).</summary>
    public void Reset()
    {
        foreach (var g in _groups)
        {
            for (var i = 0; i < SlotCount; i++)
            {
                for (var c = g.Slots[i]; c is not null;)
                {
                    var n = c.QfqNext;
                    c.QfqNext = null;
                    c.Active = false;
                    c = n;
                }

                g.Slots[i] = null;
            }

            g.FullSlots = 0;
            g.Front = 0;
        }

        Array.Clear(_bitmaps);
    }

    private static bool Gt(long a, long b) => unchecked(a - b) > 0;

    private static long RoundDown(long ts, int shift) => ts & ~((1L << shift) - 1);

    private static uint MaskFrom(uint bitmap, int from) => from >= 32 ? 0 : bitmap & ~((1u << from) - 1);

    /// <summary>Weight, lmax and group of a class that is not in a bucket; a packet longer than lmax raises it.</summary>
    private void SetParams(DnFlowQueue q, int length)
    {
        var fs = q.Flowset!;
        var w = Math.Clamp(fs.Weight, 1, MaxWeight);
        var lmax = fs.Config.Lmax > 0 ? Math.Min(fs.Config.Lmax, MaxLmax) : DefaultLmax;
        lmax = Math.Max(lmax, q.QfqLmax);
        if (length > lmax)
        {
            lmax = (int)Math.Min(MaxLmax, BitOperations.RoundUpToPowerOf2((uint)length));
        }

        if (q.QfqWeight == w && q.QfqLmax == lmax)
        {
            return;
        }

        if (q.QfqWeight == 0)
        {
            q.F = _v;
        }

        _wsum += w - q.QfqWeight;
        _iwsum = OneFp / Math.Max(1, _wsum);
        q.QfqWeight = w;
        q.QfqLmax = lmax;
        q.QfqInvW = OneFp / w;
        q.QfqGroup = GroupIndex(w, lmax);
    }

    /// <summary>The start of a newly backlogged class: its old finish, unless stale.</summary>
    private void UpdateStart(DnFlowQueue q, Group g)
    {
        var shift = g.SlotShift;
        var roundedF = RoundDown(q.F, shift);
        var limit = unchecked(RoundDown(_v, shift) + (1L << shift));
        if (!Gt(q.F, _v) || Gt(roundedF, limit))
        {
            var mask = MaskFrom(_bitmaps[ER], g.Index);
            if (mask != 0)
            {
                var next = _groups[BitOperations.TrailingZeroCount(mask)];
                if (Gt(roundedF, next.F))
                {
                    q.S = next.F;
                    return;
                }
            }

            q.S = _v;
        }
        else
        {
            q.S = q.F;
        }
    }

    /// <summary>Puts a class with fresh S and F into its group's buckets, updating the group's state.</summary>
    private void Schedule(DnFlowQueue q)
    {
        var g = _groups[q.QfqGroup];
        var roundedS = RoundDown(q.S, g.SlotShift);
        if (g.FullSlots != 0)
        {
            if (!Gt(g.S, q.S))
            {
                SlotInsert(g, q, roundedS);
                return;
            }

            // The class starts before the group's first bucket: the ring turns back (the group was ineligible).
            SlotRotate(g, roundedS);
            for (var set = 0; set < _bitmaps.Length; set++)
            {
                _bitmaps[set] &= ~(1u << g.Index);
            }
        }
        else if (_bitmaps[ER] == 0 && Gt(roundedS, _v))
        {
            _v = roundedS;
            MakeEligible();
        }

        g.S = roundedS;
        g.F = unchecked(roundedS + (2L << g.SlotShift));
        _bitmaps[CalcState(g)] |= 1u << g.Index;
        SlotInsert(g, q, roundedS);
    }

    /// <summary>ER, IR, EB or IB for a group not in any set.</summary>
    private int CalcState(Group g)
    {
        var state = Gt(g.S, _v) ? IR : ER;
        var mask = MaskFrom(_bitmaps[ER], g.Index + 1);
        if (mask != 0 && Gt(g.F, _groups[BitOperations.TrailingZeroCount(mask)].F))
        {
            state |= EB;
        }

        return state;
    }

    private void MoveGroups(uint mask, int src, int dst)
    {
        var bits = _bitmaps[src] & mask;
        _bitmaps[dst] |= bits;
        _bitmaps[src] &= ~bits;
    }

    /// <summary>Group <paramref name="index"/>'s finish moved past <paramref name="oldF"/>: lower groups it blocked are ready.</summary>
    private void UnblockGroups(int index, long oldF)
    {
        var mask = MaskFrom(_bitmaps[ER], index + 1);
        if (mask != 0 && !Gt(_groups[BitOperations.TrailingZeroCount(mask)].F, oldF))
        {
            return;
        }

        mask = (1u << index) - 1;
        MoveGroups(mask, EB, ER);
        MoveGroups(mask, IB, IR);
    }

    /// <summary>Ineligible groups whose rounded start V has reached become eligible.</summary>
    private void MakeEligible()
    {
        var inel = _bitmaps[IR] | _bitmaps[IB];
        while (inel != 0)
        {
            var i = BitOperations.TrailingZeroCount(inel);
            inel &= inel - 1;
            if (!Gt(_groups[i].S, _v))
            {
                var bit = 1u << i;
                var src = (_bitmaps[IR] & bit) != 0 ? IR : IB;
                _bitmaps[src] &= ~bit;
                _bitmaps[src == IR ? ER : EB] |= bit;
            }
        }
    }

    /// <summary>Nothing is eligible and ready: V jumps to the earliest group start. False when nothing is backlogged.</summary>
    private bool JumpV()
    {
        var inel = _bitmaps[IR] | _bitmaps[IB];
        if (inel != 0)
        {
            var min = _groups[BitOperations.TrailingZeroCount(inel)].S;
            for (var m = inel & (inel - 1); m != 0; m &= m - 1)
            {
                var s = _groups[BitOperations.TrailingZeroCount(m)].S;
                if (Gt(min, s))
                {
                    min = s;
                }
            }

            if (Gt(min, _v))
            {
                _v = min;
            }

            MakeEligible();
        }

        // With no ready eligible group nothing blocks the others.
        MoveGroups(uint.MaxValue, EB, ER);
        MoveGroups(uint.MaxValue, IB, IR);
        Debug.Assert(_bitmaps[ER] != 0 || (_bitmaps[IR] | _bitmaps[EB] | _bitmaps[IB]) == 0);
        return _bitmaps[ER] != 0;
    }

    private static void SlotInsert(Group g, DnFlowQueue q, long roundedS)
    {
        var diff = unchecked(roundedS - g.S) >> g.SlotShift;
        var i = (int)Math.Clamp(diff, 0, SlotCount - 1);
        g.FullSlots |= 1u << i;
        var slot = (g.Front + i) & (SlotCount - 1);
        q.QfqNext = g.Slots[slot];
        g.Slots[slot] = q;
    }

    private static void FrontSlotRemove(Group g)
    {
        var q = g.Slots[g.Front]!;
        g.Slots[g.Front] = q.QfqNext;
        q.QfqNext = null;
        if (g.Slots[g.Front] is null)
        {
            g.FullSlots &= ~1u;
        }
    }

    private static DnFlowQueue? SlotScan(Group g)
    {
        if (g.FullSlots == 0)
        {
            return null;
        }

        var i = BitOperations.TrailingZeroCount(g.FullSlots);
        if (i > 0)
        {
            g.Front = (g.Front + i) & (SlotCount - 1);
            g.FullSlots >>= i;
        }

        return g.Slots[g.Front];
    }

    private static void SlotRotate(Group g, long roundedS)
    {
        var i = (int)Math.Min(unchecked(g.S - roundedS) >> g.SlotShift, SlotCount - 1);
        Debug.Assert(BitOperations.LeadingZeroCount(g.FullSlots) >= i, "QFQ bucket ring overflow");
        g.FullSlots <<= i;
        g.Front = (g.Front - i) & (SlotCount - 1);
    }

    private sealed class Group
    {
        public readonly DnFlowQueue?[] Slots = new DnFlowQueue?[SlotCount];
        public int Index;
        public int SlotShift;
        public long S;
        public long F;
        public int Front;
        public uint FullSlots;
    }
}
