using Sluice.Stack.Buffers;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Links;

/// <summary>
/// One end of an epair(4): a virtual Ethernet cable whose two ends may live in different VNET stacks. A frame
/// transmitted on one end is delivered to the other end's interface on the next turn of the event loop.
/// </summary>
public sealed class EpairLink : ILink, IPacketSink
{
    private readonly EventLoop _loop;
    private IPacketSink? _receiver;
    private bool _disposed;

    private EpairLink(EventLoop loop, MacAddress mac)
    {
        _loop = loop;
        HardwareAddress = mac;
    }

    /// <summary>The other end.</summary>
    public EpairLink Peer { get; private set; } = null!;

    /// <inheritdoc />
    public string Kind => "epair";

    /// <inheritdoc />
    public MacAddress? HardwareAddress { get; }

    /// <inheritdoc />
    public bool IsUp => !_disposed && !Peer._disposed;

    /// <summary>Frames dropped because no interface was attached to the receiving end.</summary>
    public long Drops { get; private set; }

    /// <summary>
    /// Creates both ends. MACs follow FreeBSD's pattern: locally administered, the last octet 0x0a for the a side
    /// and 0x0b for the b side, with the unit in the octets before it.
    /// </summary>
    public static (EpairLink A, EpairLink B) CreatePair(EventLoop loop, int unit)
    {
        var a = new EpairLink(loop, MakeMac(unit, 0x0a));
        var b = new EpairLink(loop, MakeMac(unit, 0x0b));
        a.Peer = b;
        b.Peer = a;
        return (a, b);
    }

    /// <inheritdoc />
    public void Attach(IPacketSink? receiver) => _receiver = receiver;

    /// <inheritdoc />
    public void Transmit(Packet frame)
    {
        if (!IsUp)
        {
            Drops++;
            frame.Release();
            return;
        }

        _loop.Post(Peer, frame);
    }

    /// <summary>Delivery from the peer, on the loop.</summary>
    void IPacketSink.Deliver(Packet packet)
    {
        if (_receiver is null || _disposed)
        {
            Drops++;
            packet.Release();
            return;
        }

        _receiver.Deliver(packet);
    }

    /// <inheritdoc />
    public void Dispose() => _disposed = true;

    private static MacAddress MakeMac(int unit, byte side)
    {
        Span<byte> b = stackalloc byte[6];
        b[0] = 0x02;
        b[1] = 0x5e; // arbitrary but fixed, so labs are deterministic
        b[2] = 0x1c;
        b[3] = (byte)(unit >> 8);
        b[4] = (byte)unit;
        b[5] = side;
        return MacAddress.Read(b);
    }
}
