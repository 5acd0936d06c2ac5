namespace Sluice.Stack.Tcp;

/// <summary>
/// A byte ring (socket buffer) whose capacity is sb_hiwat: preallocated, reallocated only when the size is set
/// (SO_SNDBUF/SO_RCVBUF) or grown by autotuning.
/// </summary>
/// <remarks>
/// The array may be larger than <see cref="Capacity"/>: <see cref="Grow"/> at least doubles it, so the many small steps of
/// send-buffer autotuning (net.inet.tcp.sendbuf_inc) reallocate only a logarithmic number of times.
/// </remarks>
internal sealed class ByteRing
{
    private byte[] _buffer;
    private int _head;
    private int _capacity;

    public ByteRing(int capacity)
    {
        _capacity = Math.Max(capacity, 1);
        _buffer = new byte[_capacity];
    }

    /// <summary>The buffer size (sb_hiwat).</summary>
    public int Capacity => _capacity;

    /// <summary>Contiguous bytes stored from the head.</summary>
    public int Count { get; private set; }

    public int Free => _capacity - Count;

    /// <summary>Changes the capacity (SO_SNDBUF/SO_RCVBUF), keeping stored bytes; never below <see cref="Count"/>.</summary>
    public void Resize(int capacity, int keepBeyond = 0)
    {
        capacity = Math.Max(capacity, Math.Max(Count + keepBeyond, 1));
        if (capacity == _capacity && capacity == _buffer.Length)
        {
            return;
        }

        Reallocate(capacity, capacity, Count + keepBeyond);
    }

    /// <summary>
    /// Raises the capacity to <paramref name="capacity"/> (sbreserve from autotuning), keeping everything stored, also
    /// the <paramref name="keepBeyond"/> bytes past <see cref="Count"/>. Allocates only when the array is too small, then
    /// at least doubling it (up to <paramref name="arrayLimit"/>).
    /// </summary>
    public void Grow(int capacity, int arrayLimit, int keepBeyond = 0)
    {
        if (capacity <= _capacity)
        {
            return;
        }

        if (capacity <= _buffer.Length)
        {
            _capacity = capacity;
            return;
        }

        var length = (int)Math.Max(capacity, Math.Min(2L * _buffer.Length, arrayLimit));
        Reallocate(length, capacity, Count + keepBeyond);
    }

    private void Reallocate(int length, int capacity, int stored)
    {
        var fresh = new byte[length];
        var keep = Math.Min(_buffer.Length, Math.Min(capacity, stored));
        CopyOut(0, fresh.AsSpan(0, keep));
        _buffer = fresh;
        _capacity = capacity;
        _head = 0;
    }

    /// <summary>Appends as much of <paramref name="data"/> as fits; returns the bytes taken.</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        var n = Math.Min(data.Length, Free);
        CopyIn(Count, data[..n]);
        Count += n;
        return n;
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> from the head (beyond <see cref="Count"/>, for out-of-order data).</summary>
    public void WriteAt(int offset, ReadOnlySpan<byte> data) => CopyIn(offset, data);

    /// <summary>Makes <paramref name="count"/> bytes already written beyond the end part of the stored data.</summary>
    public void Extend(int count) => Count += count;

    /// <summary>Copies <paramref name="destination"/>.Length bytes starting at <paramref name="offset"/> from the head.</summary>
    public void CopyOut(int offset, Span<byte> destination)
    {
        var start = (_head + offset) % _buffer.Length;
        var first = Math.Min(destination.Length, _buffer.Length - start);
        _buffer.AsSpan(start, first).CopyTo(destination);
        if (first < destination.Length)
        {
            _buffer.AsSpan(0, destination.Length - first).CopyTo(destination[first..]);
        }
    }

    /// <summary>Drops <paramref name="count"/> bytes from the head.</summary>
    public void Consume(int count)
    {
        count = Math.Min(count, Count);
        _head = (_head + count) % _buffer.Length;
        Count -= count;
    }

    /// <summary>
    /// Removes the byte at <paramref name="offset"/> from the readable data, moving what follows (and the
    /// <paramref name="keepBeyond"/> bytes stored past the readable data) one place forward: tcp_pulloutofband.
    /// </summary>
    public byte RemoveAt(int offset, int keepBeyond = 0)
    {
        var len = _buffer.Length;
        var removed = _buffer[(_head + offset) % len];
        var end = Math.Min(Count + keepBeyond, len);
        for (var i = offset; i < end - 1; i++)
        {
            _buffer[(_head + i) % len] = _buffer[(_head + i + 1) % len];
        }

        Count--;
        return removed;
    }

    /// <summary>Reads and consumes up to <paramref name="destination"/>.Length bytes.</summary>
    public int Read(Span<byte> destination)
    {
        var n = Math.Min(destination.Length, Count);
        CopyOut(0, destination[..n]);
        Consume(n);
        return n;
    }

    public void Clear()
    {
        _head = 0;
        Count = 0;
    }

    private void CopyIn(int offset, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        var start = (_head + offset) % _buffer.Length;
        var first = Math.Min(data.Length, _buffer.Length - start);
        data[..first].CopyTo(_buffer.AsSpan(start));
        if (first < data.Length)
        {
            data[first..].CopyTo(_buffer.AsSpan(0));
        }
    }
}

/// <summary>Out-of-order ranges held in the receive ring beyond rcv_nxt (the reassembly queue), as sequence ranges.</summary>
internal sealed class ReassemblyRanges
{
    public const int MaxRanges = 32;
    private readonly uint[] _start = new uint[MaxRanges];
    private readonly uint[] _end = new uint[MaxRanges];

    public int Count { get; private set; }

    /// <summary>Index of the range that took the most recent segment (reported first in SACK, RFC 2018 §4).</summary>
    public int Latest { get; private set; } = -1;

    public uint Start(int i) => _start[i];

    public uint End(int i) => _end[i];

    /// <summary>Adds [start,end); merges neighbours. False when the table is full (the segment is dropped).</summary>
    public bool Add(uint start, uint end)
    {
        // Find insertion point (ranges are sorted and disjoint).
        var i = 0;
        while (i < Count && Seq.Lt(_end[i], start))
        {
            i++;
        }

        if (i < Count && Seq.Leq(_start[i], end))
        {
            _start[i] = Seq.Min(_start[i], start);
            _end[i] = Seq.Max(_end[i], end);
            while (i + 1 < Count && Seq.Leq(_start[i + 1], _end[i]))
            {
                _end[i] = Seq.Max(_end[i], _end[i + 1]);
                RemoveAt(i + 1);
            }

            Latest = i;
            return true;
        }

        if (Count == MaxRanges)
        {
            return false;
        }

        for (var j = Count; j > i; j--)
        {
            _start[j] = _start[j - 1];
            _end[j] = _end[j - 1];
        }

        _start[i] = start;
        _end[i] = end;
        Count++;
        Latest = i;
        return true;
    }

    /// <summary>After rcv_nxt moved to <paramref name="rcvNxt"/>: removes covered ranges and returns the new rcv_nxt (extended over a range that now touches it).</summary>
    public uint Advance(uint rcvNxt)
    {
        while (Count > 0 && Seq.Leq(_start[0], rcvNxt))
        {
            rcvNxt = Seq.Max(rcvNxt, _end[0]);
            RemoveAt(0);
        }

        return rcvNxt;
    }

    public void Clear()
    {
        Count = 0;
        Latest = -1;
    }

    private void RemoveAt(int i)
    {
        for (var j = i; j < Count - 1; j++)
        {
            _start[j] = _start[j + 1];
            _end[j] = _end[j + 1];
        }

        Count--;
        if (Latest == i)
        {
            Latest = -1;
        }
        else if (Latest > i)
        {
            Latest--;
        }
    }
}

/// <summary>Flags of a sent segment in the send map.</summary>
[Flags]
internal enum SentFlags : byte
{
    None = 0,
    Sacked = 1,
    Lost = 2,
    Retransmitted = 4,
    Fin = 8,
    /// <summary>Retransmitted after being marked lost (counts in pipe again, RFC 6675).</summary>
    Resent = 16,
    TlpProbe = 32,
    /// <summary>Marked for retransmission by a retransmission timeout (rack's RACK_TO_REXT).</summary>
    RtoRetransmit = 64,
}

/// <summary>One transmitted segment: the unit of SACK scoreboard, RACK and RTT sampling (FreeBSD rack's sendmap entry).</summary>
internal struct SentSegment
{
    public uint Start;
    public int Length; // sequence space (payload + FIN)
    public long SentAt; // last transmission, ns
    public long FirstSentAt; // first transmission, ns (rack's r_tim_lastsent[0])
    public SentFlags Flags;
    public byte Transmissions;

    public readonly uint End => Start + (uint)Length;

    public readonly bool Is(SentFlags f) => (Flags & f) != 0;
}

/// <summary>
/// The segments in flight [snd_una, snd_max) in order, kept in a growable ring of structs: never allocates in
/// steady state. Shared by both function blocks: the freebsd stack keeps its SACK scoreboard in it, rack its
/// transmission times.
/// </summary>
internal sealed class SendMap
{
    private SentSegment[] _items = new SentSegment[64];
    private int _head;

    public int Count { get; private set; }

    public ref SentSegment this[int i] => ref _items[(_head + i) % _items.Length];

    public ref SentSegment Last => ref this[Count - 1];

    /// <summary>
    /// Cuts entry <paramref name="i"/> in two at <paramref name="at"/> (rack_clone_rsm): both pieces keep its send
    /// history; a FIN stays on the second.
    /// </summary>
    public void Split(int i, uint at)
    {
        ref var e = ref this[i];
        if (!Seq.Gt(at, e.Start) || !Seq.Lt(at, e.End))
        {
            return;
        }

        var tail = e;
        tail.Start = at;
        tail.Length = (int)(e.End - at);
        e.Length = (int)(at - e.Start);
        e.Flags &= ~SentFlags.Fin;
        Add(0, 0, 0, SentFlags.None);
        for (var j = Count - 1; j > i + 1; j--)
        {
            this[j] = this[j - 1];
        }

        this[i + 1] = tail;
    }

    public void Add(uint start, int length, long now, SentFlags flags)
    {
        if (Count == _items.Length)
        {
            var fresh = new SentSegment[_items.Length * 2];
            for (var i = 0; i < Count; i++)
            {
                fresh[i] = this[i];
            }

            _items = fresh;
            _head = 0;
        }

        _items[(_head + Count) % _items.Length] = new SentSegment { Start = start, Length = length, SentAt = now, FirstSentAt = now, Flags = flags, Transmissions = 1 };
        Count++;
    }

    /// <summary>Removes everything below <paramref name="una"/>, trimming a partially acknowledged head.</summary>
    public void AckTo(uint una)
    {
        while (Count > 0)
        {
            ref var first = ref this[0];
            if (Seq.Leq(first.End, una))
            {
                _head = (_head + 1) % _items.Length;
                Count--;
                continue;
            }

            if (Seq.Lt(first.Start, una))
            {
                var cut = (int)(una - first.Start);
                first.Start = una;
                first.Length -= cut;
            }

            break;
        }

        if (Count == 0)
        {
            _head = 0;
        }
    }

    /// <summary>
    /// Re-cuts the segments not SACKed into pieces of at most <paramref name="segmentSize"/> payload bytes, joining
    /// neighbours first: what a resend from snd_una with a new t_maxseg sends (tcp_mtudisc, PLPMTUD black-hole
    /// detection). A joined piece keeps the flags and send time of its first part; FIN stays on the last piece.
    /// </summary>
    public void Resegment(int segmentSize)
    {
        segmentSize = Math.Max(segmentSize, 1);
        var old = _items;
        var oldHead = _head;
        var oldCount = Count;
        var fresh = _spare is { } spare && spare.Length >= old.Length ? spare : new SentSegment[old.Length];
        _items = fresh;
        _head = 0;
        Count = 0;
        var i = 0;
        while (i < oldCount)
        {
            var e = old[(oldHead + i) % old.Length];
            i++;
            var fin = e.Is(SentFlags.Fin);
            var payload = e.Length - (fin ? 1 : 0);
            if (e.Is(SentFlags.Sacked) || payload == 0)
            {
                Append(e);
                continue;
            }

            // Join the following unSACKed data segments that continue this one.
            var end = e.Start + (uint)payload;
            while (!fin && i < oldCount)
            {
                ref var next = ref old[(oldHead + i) % old.Length];
                var nextFin = next.Is(SentFlags.Fin);
                var nextPayload = next.Length - (nextFin ? 1 : 0);
                if (next.Is(SentFlags.Sacked) || next.Start != end || nextPayload == 0)
                {
                    break;
                }

                end += (uint)nextPayload;
                fin = nextFin;
                i++;
            }

            var flags = e.Flags & ~SentFlags.Fin;
            var start = e.Start;
            while (true)
            {
                var left = (int)(end - start);
                var take = Math.Min(left, segmentSize);
                var last = take == left;
                Append(new SentSegment
                {
                    Start = start,
                    Length = take + (last && fin ? 1 : 0),
                    SentAt = e.SentAt,
                    FirstSentAt = e.FirstSentAt,
                    Flags = flags | (last && fin ? SentFlags.Fin : SentFlags.None),
                    Transmissions = e.Transmissions,
                });
                if (last)
                {
                    break;
                }

                start += (uint)take;
            }
        }

        _spare = old;
    }

    private SentSegment[]? _spare;

    private void Append(in SentSegment e)
    {
        Add(e.Start, e.Length, e.SentAt, e.Flags);
        ref var added = ref Last;
        added.Transmissions = e.Transmissions;
        added.FirstSentAt = e.FirstSentAt;
    }

    /// <summary>Index of the segment holding <paramref name="seq"/>, or -1.</summary>
    public int Find(uint seq)
    {
        for (var i = 0; i < Count; i++)
        {
            ref var s = ref this[i];
            if (Seq.Geq(seq, s.Start) && Seq.Lt(seq, s.End))
            {
                return i;
            }
        }

        return -1;
    }

    public void Clear()
    {
        _head = 0;
        Count = 0;
    }
}
