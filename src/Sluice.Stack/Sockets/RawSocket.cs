using Sluice.Stack.Buffers;
using Sluice.Wire;

namespace Sluice.Stack.Sockets;

/// <summary>
/// A raw IP socket (SOCK_RAW) for one protocol: receives a copy of every matching packet delivered to this stack
/// (IPv4: starting at the IP header, as FreeBSD's rip_input hands it; IPv6: starting at the ICMPv6/upper-layer
/// header, with the addresses and hop limit given alongside) — what ping(8) uses.
/// </summary>
public sealed class RawSocket : IDisposable
{
    private readonly NetStack _stack;
    private readonly Queue<RawDatagram> _queue = new();

    internal RawSocket(NetStack stack, IPProtocol protocol, bool ipv6)
    {
        _stack = stack;
        Protocol = protocol;
        IsIPv6 = ipv6;
    }

    /// <summary>The protocol received.</summary>
    public IPProtocol Protocol { get; }

    /// <summary>True for AF_INET6.</summary>
    public bool IsIPv6 { get; }

    /// <summary>Most datagrams queued (beyond that, arrivals are dropped).</summary>
    public int QueueLimit { get; set; } = 256;

    /// <summary>Called on the loop when a datagram is queued.</summary>
    public Action<RawSocket>? DataAvailable { get; set; }

    /// <summary>Datagrams waiting.</summary>
    public int Available => _queue.Count;

    /// <summary>Datagrams dropped for a full queue.</summary>
    public long Drops { get; private set; }

    /// <summary>Takes the next datagram; the caller owns and must release the packet.</summary>
    public bool TryReceive(out RawDatagram datagram) => _queue.TryDequeue(out datagram);

    internal void Enqueue(Packet packet, in RawDatagram meta)
    {
        if (_queue.Count >= QueueLimit)
        {
            Drops++;
            packet.Release();
            return;
        }

        _queue.Enqueue(meta with { Packet = packet });
        DataAvailable?.Invoke(this);
    }

    /// <summary>Closes the socket.</summary>
    public void Dispose()
    {
        _stack.CloseRaw(this);
        while (_queue.TryDequeue(out var d))
        {
            d.Packet.Release();
        }
    }
}

/// <summary>A datagram received on a raw socket.</summary>
public readonly record struct RawDatagram(Packet Packet, InetAddress Source, InetAddress Destination, int HopLimit, int InterfaceIndex);
