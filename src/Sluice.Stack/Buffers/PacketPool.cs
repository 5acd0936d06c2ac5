namespace Sluice.Stack.Buffers;

/// <summary>
/// A pool of <see cref="Packet"/> headers and buffers in two size classes (standard frames and 64 KiB for
/// reassembled datagrams, loopback and GSO). Steady-state renting and returning allocates nothing.
/// </summary>
/// <remarks>
/// Not thread-safe: a pool belongs to one event loop (one or more stacks driven by it). Links running on other
/// threads hand bytes to the loop, which copies them into packets from its pool.
/// With <see cref="PacketPoolOptions.Diagnostic"/> the pool tracks outstanding packets so that tests can assert
/// that nothing leaked and that no packet is released twice.
/// </remarks>
public sealed class PacketPool
{
    /// <summary>Headroom reserved in front of new packets: room for link, IP and transport headers.</summary>
    public const int DefaultHeadroom = 128;

    /// <summary>Buffer size of the small class: a 1500-byte frame plus headroom and VLAN tag.</summary>
    public const int SmallBufferSize = 2048;

    /// <summary>Buffer size of the large class: a 64 KiB datagram plus headroom.</summary>
    public const int LargeBufferSize = 65536 + 512;

    private readonly Stack<Packet> _headers = new();
    private readonly Stack<PacketBuffer> _small = new();
    private readonly Stack<PacketBuffer> _large = new();
    private readonly HashSet<Packet>? _outstanding;
    private readonly int _maxCached;

    /// <summary>Creates a pool.</summary>
    public PacketPool(PacketPoolOptions? options = null)
    {
        options ??= new PacketPoolOptions();
        _maxCached = options.MaxCachedBuffers;
        if (options.Diagnostic)
        {
            _outstanding = new HashSet<Packet>(ReferenceEqualityComparer.Instance);
        }

        for (var i = 0; i < options.Preallocate; i++)
        {
            _small.Push(new PacketBuffer(new byte[SmallBufferSize]));
            _headers.Push(new Packet(this));
        }
    }

    /// <summary>Packets rented and not yet released.</summary>
    public int Outstanding { get; private set; }

    /// <summary>Total packets rented since creation.</summary>
    public long Rented { get; private set; }

    /// <summary>
    /// Headers and buffers the pool had to create because its free lists were empty (the preallocated ones not
    /// counted): flat in steady state, it grows only when more packets are outstanding at once than ever before.
    /// </summary>
    public long Created { get; private set; }

    /// <summary>
    /// Rents a packet of <paramref name="length"/> bytes (contents unspecified) with at least <paramref name="headroom"/>
    /// bytes of headroom.
    /// </summary>
    public Packet Rent(int length, int headroom = DefaultHeadroom)
    {
        if (length < 0 || headroom < 0 || length + headroom > LargeBufferSize)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"Cannot rent {length} bytes with {headroom} headroom.");
        }

        var buffer = RentBuffer(length + headroom);
        var packet = RentHeader();
        packet.Attach(buffer, headroom, length);
        return packet;
    }

    /// <summary>Rents a packet holding a copy of <paramref name="bytes"/>.</summary>
    public Packet RentCopy(ReadOnlySpan<byte> bytes, int headroom = DefaultHeadroom)
    {
        var packet = Rent(bytes.Length, headroom);
        bytes.CopyTo(packet.Data);
        return packet;
    }

    internal Packet RentHeader()
    {
        Packet packet;
        if (_headers.Count > 0)
        {
            packet = _headers.Pop();
        }
        else
        {
            packet = new Packet(this);
            Created++;
        }

        Outstanding++;
        Rented++;
        if (_outstanding is not null && !_outstanding.Add(packet))
        {
            throw new InvalidOperationException("Packet pool corrupted: a pooled packet was still outstanding.");
        }

        return packet;
    }

    internal PacketBuffer RentBuffer(int size)
    {
        PacketBuffer buffer;
        if (size <= SmallBufferSize)
        {
            buffer = _small.Count > 0 ? _small.Pop() : Create(SmallBufferSize);
        }
        else
        {
            buffer = _large.Count > 0 ? _large.Pop() : Create(LargeBufferSize);
        }

        buffer.RefCount = 1;
        return buffer;
    }

    private PacketBuffer Create(int size)
    {
        Created++;
        return new PacketBuffer(new byte[size]);
    }

    internal void ReleaseBuffer(PacketBuffer buffer)
    {
        if (--buffer.RefCount > 0)
        {
            return;
        }

        if (buffer.RefCount < 0)
        {
            throw new InvalidOperationException("Packet buffer released twice.");
        }

        var stack = buffer.Array.Length == SmallBufferSize ? _small : _large;
        if (stack.Count < _maxCached)
        {
            stack.Push(buffer);
        }
    }

    internal void Return(Packet packet)
    {
        if (_outstanding is not null && !_outstanding.Remove(packet))
        {
            throw new InvalidOperationException("Packet released twice or released to the wrong pool.");
        }

        Outstanding--;
        ReleaseBuffer(packet.Buffer);
        packet.Attach(null!, 0, 0);
        if (_headers.Count < _maxCached * 2)
        {
            _headers.Push(packet);
        }
    }
}

/// <summary>Options for a <see cref="PacketPool"/>.</summary>
public sealed record PacketPoolOptions
{
    /// <summary>Small buffers and headers created up front.</summary>
    public int Preallocate { get; init; } = 64;

    /// <summary>Most free buffers kept per size class; beyond that, returned buffers are left to the GC.</summary>
    public int MaxCachedBuffers { get; init; } = 8192;

    /// <summary>Track every outstanding packet (tests): double releases throw, leaks are listed.</summary>
    public bool Diagnostic { get; init; }
}
