using System.Runtime.CompilerServices;
using Sluice.Stack.Sockets;

namespace Sluice.Stack.Buffers;

/// <summary>Flags carried with a packet through the stack.</summary>
[Flags]
public enum PacketFlags : ushort
{
    None = 0,
    /// <summary>Received as a link-layer broadcast.</summary>
    Broadcast = 1 << 0,
    /// <summary>Received as a link-layer multicast.</summary>
    Multicast = 1 << 1,
    /// <summary>The stack is forwarding this packet (not locally originated).</summary>
    Forwarded = 1 << 2,
    /// <summary>Checksums were verified (or are not needed, e.g. offloaded by the link).</summary>
    ChecksumVerified = 1 << 3,
    /// <summary>Transport checksum still has to be completed (virtio-net NEEDS_CSUM style offload).</summary>
    ChecksumPartial = 1 << 4,
    /// <summary>Looped back inside one stack.</summary>
    Loopback = 1 << 5,
    /// <summary>
    /// <see cref="Packet.NextHop"/> is set (M_IP_NEXTHOP / M_IP6_NEXTHOP with a PACKET_TAG_IPFORWARD tag): a filter
    /// chose where the packet goes (ipfw <c>fwd</c>).
    /// </summary>
    NextHop = 1 << 6,
    /// <summary>
    /// The next hop is one of our addresses (M_FASTFWD_OURS): the packet is delivered locally whatever its
    /// destination, and TCP/UDP find their socket by the next hop.
    /// </summary>
    LocalNextHop = 1 << 7,
}

/// <summary>
/// The mbuf: a view (offset, length) over a pooled buffer with headroom for prepending headers, plus metadata.
/// </summary>
/// <remarks>
/// Ownership: whoever holds a <see cref="Packet"/> owns it and must either pass it on or call <see cref="Release"/>.
/// A packet must not be touched after it has been handed on or released. Packets are not thread-safe; a packet
/// belongs to the event loop whose pool rented it. <see cref="Clone"/> makes a zero-copy copy that shares the
/// buffer (reference counted); call <see cref="MakeWritable"/> before writing to a packet that may be shared.
/// </remarks>
public sealed class Packet
{
    private PacketBuffer _buffer = null!;
    private int _offset;
    private int _length;

    internal Packet(PacketPool pool) => Pool = pool;

    /// <summary>The pool this packet returns to.</summary>
    public PacketPool Pool { get; }

    /// <summary>The bytes of the packet, from the current start to its end.</summary>
    public Span<byte> Data
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(_buffer.Array, _offset, _length);
    }

    /// <summary>The bytes of the packet as memory (for I/O).</summary>
    public Memory<byte> Memory => new(_buffer.Array, _offset, _length);

    /// <summary>Number of bytes in the packet.</summary>
    public int Length => _length;

    /// <summary>Free bytes in front of the data.</summary>
    public int Headroom => _offset;

    /// <summary>Free bytes after the data.</summary>
    public int Tailroom => _buffer.Array.Length - _offset - _length;

    /// <summary>True when another packet shares this packet's buffer.</summary>
    public bool IsShared => _buffer.RefCount > 1;

    /// <summary>Interface index the packet arrived on (0 when locally originated).</summary>
    public int ReceiveInterfaceIndex { get; set; }

    /// <summary>Flags describing the packet.</summary>
    public PacketFlags Flags { get; set; }

    /// <summary>Flow hash (RSS-style), 0 when not computed.</summary>
    public uint FlowHash { get; set; }

    /// <summary>pf tag id (0 = none).</summary>
    public ushort PfTag { get; set; }

    /// <summary>
    /// pf's PF_REASSEMBLED tag (pf_fragment_tag) on an IPv6 datagram pf reassembled: the largest fragment that arrived
    /// (0 = not reassembled); pf's output test sends the datagram on as fragments no larger (pf_refragment6).
    /// </summary>
    public ushort PfFragmentMaxLength { get; set; }

    /// <summary>With <see cref="PfFragmentMaxLength"/>: the length of the unfragmentable part (ft_hdrlen).</summary>
    public ushort PfFragmentHeaderLength { get; set; }

    /// <summary>With <see cref="PfFragmentMaxLength"/>: the fragments' identification (ft_id).</summary>
    public uint PfFragmentId { get; set; }

    /// <summary>ipfw tag (`ipfw add ... tag N`, matched by `tagged N`); 0 = none.</summary>
    public ushort IpfwTag { get; set; }

    /// <summary>Dummynet cookie: pipe/queue the packet went through (0 = none).</summary>
    public uint DummynetCookie { get; set; }

    /// <summary>
    /// TCP segmentation offload (m_pkthdr.tso_segsz): payload bytes per segment when the link is to cut this
    /// super-segment into several; 0 for an ordinary packet.
    /// </summary>
    public ushort GsoSize { get; set; }

    /// <summary>
    /// The next hop a filter chose (PACKET_TAG_IPFORWARD), valid while <see cref="PacketFlags.NextHop"/> is set; a
    /// port of 0 keeps the packet's own destination port.
    /// </summary>
    public InetEndpoint NextHop { get; private set; }

    /// <summary>
    /// Tags the packet with a next hop (ipfw <c>fwd</c>, pf <c>divert-to</c>); <paramref name="local"/> says that it is
    /// one of the stack's own addresses, so the packet is delivered locally to the socket bound there.
    /// </summary>
    public void SetNextHop(InetEndpoint nextHop, bool local)
    {
        NextHop = nextHop;
        var flags = (Flags | PacketFlags.NextHop) & ~PacketFlags.LocalNextHop;
        Flags = local ? flags | PacketFlags.LocalNextHop : flags;
    }

    /// <summary>Removes the next-hop tag (m_tag_delete of PACKET_TAG_IPFORWARD).</summary>
    public void ClearNextHop()
    {
        NextHop = default;
        Flags &= ~(PacketFlags.NextHop | PacketFlags.LocalNextHop);
    }

    /// <summary>Offset of the network header relative to <see cref="Data"/> start at the time it was set; -1 if unknown.</summary>
    public int NetworkOffset { get; set; } = -1;

    internal void Attach(PacketBuffer buffer, int offset, int length)
    {
        _buffer = buffer;
        _offset = offset;
        _length = length;
        ReceiveInterfaceIndex = 0;
        Flags = PacketFlags.None;
        FlowHash = 0;
        PfTag = 0;
        PfFragmentMaxLength = 0;
        PfFragmentHeaderLength = 0;
        PfFragmentId = 0;
        IpfwTag = 0;
        DummynetCookie = 0;
        GsoSize = 0;
        NetworkOffset = -1;
    }

    internal PacketBuffer Buffer => _buffer;

    /// <summary>
    /// Clears the metadata a packet carries inside one stack (tags, cookies, flags) when it crosses a link into
    /// another: what one VNET's pf or ipfw attached must not leak into the next. Checksum-offload flags, which the
    /// link sets, are kept.
    /// </summary>
    public void ResetMetadata()
    {
        ReceiveInterfaceIndex = 0;
        Flags &= PacketFlags.ChecksumVerified | PacketFlags.ChecksumPartial;
        FlowHash = 0;
        PfTag = 0;
        PfFragmentMaxLength = 0;
        PfFragmentHeaderLength = 0;
        PfFragmentId = 0;
        IpfwTag = 0;
        DummynetCookie = 0;
        NetworkOffset = -1;
    }

    /// <summary>Grows the packet at the front by <paramref name="count"/> bytes and returns the new front bytes.</summary>
    /// <exception cref="InvalidOperationException">Not enough headroom (a programming error: headers are sized up front).</exception>
    public Span<byte> Prepend(int count)
    {
        if ((uint)count > (uint)_offset)
        {
            throw new InvalidOperationException($"Packet headroom {_offset} is smaller than {count}.");
        }

        _offset -= count;
        _length += count;
        return new Span<byte>(_buffer.Array, _offset, count);
    }

    /// <summary>Drops <paramref name="count"/> bytes from the front (e.g. after a header is consumed).</summary>
    public void TrimFront(int count)
    {
        if ((uint)count > (uint)_length)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _offset += count;
        _length -= count;
    }

    /// <summary>Cuts the packet to <paramref name="length"/> bytes (drops trailing padding).</summary>
    public void Truncate(int length)
    {
        if ((uint)length > (uint)_length)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }

        _length = length;
    }

    /// <summary>Grows the packet at the end by <paramref name="count"/> bytes and returns those bytes.</summary>
    public Span<byte> Append(int count)
    {
        if ((uint)count > (uint)Tailroom)
        {
            throw new InvalidOperationException($"Packet tailroom {Tailroom} is smaller than {count}.");
        }

        var start = _offset + _length;
        _length += count;
        return new Span<byte>(_buffer.Array, start, count);
    }

    /// <summary>Makes a zero-copy clone sharing this packet's buffer (reference counted); metadata is copied.</summary>
    public Packet Clone()
    {
        var clone = Pool.RentHeader();
        _buffer.RefCount++;
        clone.Attach(_buffer, _offset, _length);
        clone.CopyMetadataFrom(this);
        return clone;
    }

    /// <summary>Ensures this packet owns its buffer alone, copying the bytes if the buffer is shared.</summary>
    public void MakeWritable()
    {
        if (_buffer.RefCount == 1)
        {
            return;
        }

        var fresh = Pool.RentBuffer(_offset + _length);
        _buffer.Array.AsSpan(0, _offset + _length).CopyTo(fresh.Array);
        Pool.ReleaseBuffer(_buffer);
        _buffer = fresh;
    }

    /// <summary>Copies the metadata (not the bytes) of <paramref name="other"/>.</summary>
    public void CopyMetadataFrom(Packet other)
    {
        ReceiveInterfaceIndex = other.ReceiveInterfaceIndex;
        Flags = other.Flags;
        FlowHash = other.FlowHash;
        PfTag = other.PfTag;
        PfFragmentMaxLength = other.PfFragmentMaxLength;
        PfFragmentHeaderLength = other.PfFragmentHeaderLength;
        PfFragmentId = other.PfFragmentId;
        IpfwTag = other.IpfwTag;
        DummynetCookie = other.DummynetCookie;
        GsoSize = other.GsoSize;
        NetworkOffset = other.NetworkOffset;
        NextHop = other.NextHop;
    }

    /// <summary>Returns the packet (and its buffer, when no clone shares it) to the pool.</summary>
    public void Release() => Pool.Return(this);
}

/// <summary>A pooled byte array with a reference count shared by clones.</summary>
internal sealed class PacketBuffer(byte[] array)
{
    public byte[] Array { get; } = array;

    public int RefCount;

#if DEBUG
    public bool InPool;
#endif
}
