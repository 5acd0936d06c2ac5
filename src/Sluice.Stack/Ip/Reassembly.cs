using System.Buffers.Binary;
using Sluice.Stack.Buffers;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack;

/// <summary>Identifies the datagram a fragment belongs to (RFC 791 / RFC 8200: source, destination, id, protocol).</summary>
internal readonly record struct FragmentKey(UInt128 Source, UInt128 Destination, uint Identification, byte Protocol);

/// <summary>The fragments received so far of one datagram.</summary>
internal sealed class FragmentQueue
{
    public FragmentQueue(ITimerHandler handler) => Timer = new Timer(handler, this);

    public FragmentKey Key;
    public readonly List<(int Offset, int Length, Packet Packet, int DataOffset)> Fragments = [];
    public int TotalLength = -1; // payload length, known once the last fragment arrived
    public bool HaveFirst;
    public readonly Timer Timer;
}

/// <summary>
/// Fragment reassembly shared by IPv4 and IPv6, with FreeBSD's limits (maxfragpackets, maxfragsperpacket, TTL).
/// Overlapping fragments discard the whole datagram (RFC 5722 for IPv6; the same for IPv4, which is stricter than
/// FreeBSD's trimming and closes the overlap attacks).
/// </summary>
internal abstract class Reassembler : ITimerHandler
{
    private readonly Dictionary<FragmentKey, FragmentQueue> _queues = [];

    protected Reassembler(NetStack stack) => Stack = stack;

    protected NetStack Stack { get; }

    public int Count => _queues.Count;

    protected abstract int MaxQueues { get; }

    protected abstract int MaxFragmentsPerPacket { get; }

    protected abstract long Timeout { get; }

    protected abstract void CountDropped(int fragments);

    protected virtual void OnTimeout(FragmentQueue queue)
    {
    }

    /// <summary>Adds a fragment; returns the whole datagram when complete. Takes ownership of <paramref name="packet"/>.</summary>
    protected Packet? Add(FragmentKey key, Packet packet, int offset, int length, bool more, int dataOffset)
    {
        if (length <= 0 && more)
        {
            CountDropped(1);
            packet.Release();
            return null;
        }

        if (offset + length > 65535 || (more && (length & 7) != 0))
        {
            CountDropped(1);
            packet.Release();
            return null;
        }

        if (!_queues.TryGetValue(key, out var q))
        {
            if (_queues.Count >= MaxQueues)
            {
                CountDropped(1);
                packet.Release();
                return null;
            }

            q = new FragmentQueue(this) { Key = key };
            _queues.Add(key, q);
            Stack.Loop.ScheduleAfter(q.Timer, Timeout);
        }

        if (!more)
        {
            if (q.TotalLength >= 0 && q.TotalLength != offset + length)
            {
                Discard(q, 1);
                packet.Release();
                return null;
            }

            q.TotalLength = offset + length;
        }

        // Overlap or a fragment beyond the known end: drop everything.
        var end = offset + length;
        if (q.TotalLength >= 0 && end > q.TotalLength)
        {
            Discard(q, 1);
            packet.Release();
            return null;
        }

        var insertAt = q.Fragments.Count;
        for (var i = 0; i < q.Fragments.Count; i++)
        {
            var f = q.Fragments[i];
            if (offset < f.Offset + f.Length && f.Offset < end)
            {
                Discard(q, 1);
                packet.Release();
                return null;
            }

            if (f.Offset > offset && insertAt == q.Fragments.Count)
            {
                insertAt = i;
            }
        }

        if (q.Fragments.Count >= MaxFragmentsPerPacket)
        {
            Discard(q, 1);
            packet.Release();
            return null;
        }

        q.Fragments.Insert(insertAt, (offset, length, packet, dataOffset));
        if (offset == 0)
        {
            q.HaveFirst = true;
        }

        if (q.TotalLength < 0)
        {
            return null;
        }

        var expected = 0;
        foreach (var f in q.Fragments)
        {
            if (f.Offset != expected)
            {
                return null;
            }

            expected += f.Length;
        }

        if (expected != q.TotalLength)
        {
            return null;
        }

        _queues.Remove(q.Key);
        Stack.Loop.Cancel(q.Timer);
        return Assemble(q);
    }

    /// <summary>Builds the datagram from the first fragment's header and every fragment's data.</summary>
    protected abstract Packet? Assemble(FragmentQueue queue);

    protected static void ReleaseAll(FragmentQueue q)
    {
        foreach (var f in q.Fragments)
        {
            f.Packet.Release();
        }

        q.Fragments.Clear();
    }

    private void Discard(FragmentQueue q, int extra)
    {
        CountDropped(q.Fragments.Count + extra);
        _queues.Remove(q.Key);
        Stack.Loop.Cancel(q.Timer);
        ReleaseAll(q);
    }

    void ITimerHandler.OnTimer(Timer timer)
    {
        var q = (FragmentQueue)timer.State!;
        _queues.Remove(q.Key);
        OnTimeout(q);
        CountDropped(q.Fragments.Count);
        ReleaseAll(q);
    }

    /// <summary>Drops every queue (vnet teardown).</summary>
    public void Clear()
    {
        foreach (var q in _queues.Values)
        {
            Stack.Loop.Cancel(q.Timer);
            ReleaseAll(q);
        }

        _queues.Clear();
    }
}

/// <summary>IPv4 reassembly (ip_reass).</summary>
internal sealed class Reassembly4(NetStack stack) : Reassembler(stack)
{
    protected override int MaxQueues => (int)Stack.SysctlIpMaxFragPackets.Value;

    protected override int MaxFragmentsPerPacket => (int)Stack.SysctlIpMaxFragsPerPacket.Value;

    protected override long Timeout => Nanos.PerSecond * 30;

    protected override void CountDropped(int fragments)
    {
        Stack.Ip.FragmentsDropped += fragments;
    }

    protected override void OnTimeout(FragmentQueue queue) => Stack.Ip.FragmentsTimedOut += queue.Fragments.Count;

    /// <summary>Adds an IPv4 fragment (packet starts at the IP header). Takes ownership.</summary>
    public Packet? Add(Packet packet)
    {
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var key = new FragmentKey(ip.Source.Value, ip.Destination.Value, ip.Identification, (byte)ip.Protocol);
        return Add(key, packet, ip.FragmentOffset, ip.TotalLength - ip.HeaderLength, ip.MoreFragments, ip.HeaderLength);
    }

    protected override Packet? Assemble(FragmentQueue q)
    {
        var first = q.Fragments[0];
        var hlen = first.DataOffset;
        if (hlen + q.TotalLength > 65535)
        {
            Stack.Ip.FragmentsDropped += q.Fragments.Count;
            ReleaseAll(q);
            return null;
        }

        var whole = Stack.Pool.Rent(hlen + q.TotalLength);
        whole.CopyMetadataFrom(first.Packet);
        var data = whole.Data;
        first.Packet.Data[..hlen].CopyTo(data);
        foreach (var f in q.Fragments)
        {
            f.Packet.Data.Slice(f.DataOffset, f.Length).CopyTo(data[(hlen + f.Offset)..]);
        }

        var ip = IPv4Packet.CreateUnchecked(data);
        ip.TotalLength = (ushort)(hlen + q.TotalLength);
        ip.SetFragment(ip.DontFragment, false, 0);
        ip.FillChecksum();
        ReleaseAll(q);
        return whole;
    }
}

/// <summary>IPv6 reassembly (frag6_input).</summary>
internal sealed class Reassembly6(NetStack stack) : Reassembler(stack)
{
    protected override int MaxQueues => (int)Stack.SysctlIp6MaxFragPackets.Value;

    protected override int MaxFragmentsPerPacket => (int)Stack.SysctlIp6MaxFragsPerPacket.Value;

    protected override long Timeout => Nanos.PerSecond * 60;

    protected override void CountDropped(int fragments) => Stack.Ip6.FragmentsDropped += fragments;

    protected override void OnTimeout(FragmentQueue queue)
    {
        Stack.Ip6.FragmentsTimedOut += queue.Fragments.Count;
        // RFC 8200 4.5: time exceeded (fragment reassembly) to the source when the first fragment arrived.
        if (queue.HaveFirst && queue.Fragments.Count > 0 && queue.Fragments[0].Offset == 0)
        {
            Stack.Icmp6Error(queue.Fragments[0].Packet, IcmpV6Type.TimeExceeded, 1);
        }
    }

    /// <summary>
    /// Adds an IPv6 fragment (packet starts at the IPv6 header; the fragment header at <paramref name="fragmentOffset"/>).
    /// Takes ownership.
    /// </summary>
    public Packet? Add(Packet packet, int fragmentOffset)
    {
        var data = packet.Data;
        var ip = IPv6Packet.CreateUnchecked(data);
        var frag = data.Slice(fragmentOffset, IPv6FragmentHeader.Length);
        var offsetField = BinaryPrimitives.ReadUInt16BigEndian(frag[2..]);
        var id = BinaryPrimitives.ReadUInt32BigEndian(frag[4..]);
        var src = ip.Source;
        var dst = ip.Destination;
        var key = new FragmentKey(new UInt128(src.High, src.Low), new UInt128(dst.High, dst.Low), id, 0);
        var dataStart = fragmentOffset + IPv6FragmentHeader.Length;
        var length = IPv6Packet.HeaderLength + ip.PayloadLength - dataStart;
        return Add(key, packet, offsetField & 0xfff8, length, (offsetField & 1) != 0, dataStart);
    }

    protected override Packet? Assemble(FragmentQueue q)
    {
        var first = q.Fragments[0];
        var fragmentOffset = first.DataOffset - IPv6FragmentHeader.Length;
        var firstData = first.Packet.Data;
        var nextHeader = firstData[fragmentOffset];
        var unfragmentable = fragmentOffset;
        if (unfragmentable - IPv6Packet.HeaderLength + q.TotalLength > 65535)
        {
            Stack.Ip6.FragmentsDropped += q.Fragments.Count;
            ReleaseAll(q);
            return null;
        }

        var whole = Stack.Pool.Rent(unfragmentable + q.TotalLength);
        whole.CopyMetadataFrom(first.Packet);
        var data = whole.Data;
        firstData[..unfragmentable].CopyTo(data);
        foreach (var f in q.Fragments)
        {
            f.Packet.Data.Slice(f.DataOffset, f.Length).CopyTo(data[(unfragmentable + f.Offset)..]);
        }

        // Patch the next-header field that pointed at the fragment header.
        var nextField = 6;
        var position = IPv6Packet.HeaderLength;
        while (position < fragmentOffset)
        {
            nextField = position;
            position += (data[position + 1] + 1) * 8;
        }

        data[nextField] = nextHeader;
        var ip = IPv6Packet.CreateUnchecked(data);
        ip.PayloadLength = (ushort)(data.Length - IPv6Packet.HeaderLength);
        ReleaseAll(q);
        return whole;
    }
}
