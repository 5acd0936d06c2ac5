using Sluice.Stack.Buffers;
using Sluice.Stack.Links;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>
/// A test link: wraps one end of an epair and, deterministically, delays, drops or reorders the frames it
/// transmits. <see cref="Drop"/> decides per frame (by its TCP payload) whether to lose it.
/// </summary>
internal sealed class ImpairedLink : ILink, ITimerHandler
{
    private readonly ILink _inner;
    private readonly EventLoop _loop;
    private readonly Timer _timer;
    private readonly PriorityQueue<Packet, (long Due, long Order)> _queue = new();
    private long _order;
    private long _lastDue;

    public ImpairedLink(ILink inner, EventLoop loop)
    {
        _inner = inner;
        _loop = loop;
        _timer = new Timer(this);
    }

    public long DelayNs { get; set; }

    /// <summary>Extra delay for a frame (reordering when it exceeds the gap to the next frame).</summary>
    public Func<Packet, long>? ExtraDelay { get; set; }

    /// <summary>Return true to lose the frame.</summary>
    public Func<Packet, bool>? Drop { get; set; }

    public long Dropped { get; private set; }

    public string Kind => "impaired " + _inner.Kind;

    public MacAddress? HardwareAddress => _inner.HardwareAddress;

    public bool IsUp => _inner.IsUp;

    /// <summary>TCP segmentation offload to advertise (the epair carries super-segments whole); 0 for none.</summary>
    public int MaxSegmentOffload { get; set; }

    public void Attach(IPacketSink? receiver) => _inner.Attach(receiver);

    public void Transmit(Packet frame)
    {
        if (Drop?.Invoke(frame) == true)
        {
            Dropped++;
            frame.Release();
            return;
        }

        var extra = ExtraDelay?.Invoke(frame) ?? 0;
        if (DelayNs == 0 && extra == 0)
        {
            _inner.Transmit(frame);
            return;
        }

        var due = _loop.Now + DelayNs + extra;
        if (extra == 0)
        {
            due = Math.Max(due, _lastDue); // FIFO unless reordering was asked for
            _lastDue = due;
        }

        _queue.Enqueue(frame, (due, _order++));
        Reschedule();
    }

    public void OnTimer(Timer timer)
    {
        while (_queue.TryPeek(out _, out var key) && key.Due <= _loop.Now)
        {
            _inner.Transmit(_queue.Dequeue());
        }

        Reschedule();
    }

    private void Reschedule()
    {
        if (_queue.TryPeek(out _, out var key))
        {
            _loop.Schedule(_timer, key.Due);
        }
    }

    public void Dispose()
    {
        while (_queue.TryDequeue(out var p, out _))
        {
            p.Release();
        }

        _inner.Dispose();
    }

    /// <summary>The TCP segment inside an Ethernet+IPv4 frame, if any.</summary>
    public static bool TryTcp(Packet frame, out TcpHeader header, out int payloadLength)
    {
        header = default;
        payloadLength = 0;
        var d = frame.Data;
        if (d.Length < 14 + 20 || d[12] != 0x08 || d[13] != 0x00 || d[14 + 9] != 6)
        {
            return false;
        }

        var ihl = (d[14] & 0xf) * 4;
        var total = (d[16] << 8) | d[17];
        var tcp = d.Slice(14 + ihl, Math.Min(total, d.Length - 14) - ihl);
        if (!TcpHeader.TryParse(tcp, out header))
        {
            return false;
        }

        payloadLength = tcp.Length - ((tcp[12] >> 4) * 4);
        return true;
    }
}

/// <summary>Two stacks (client 192.0.2.1, server 192.0.2.2) on one virtual-time loop, joined by impaired links.</summary>
internal sealed class TcpPair
{
    public static readonly IPv4Address ClientAddress = new(192, 0, 2, 1);
    public static readonly IPv4Address ServerAddress = new(192, 0, 2, 2);
    public static readonly IPv6Address ClientAddress6 = Sluice.Stack.Tests.Net.TestNet.V6("2001:db8::1");
    public static readonly IPv6Address ServerAddress6 = Sluice.Stack.Tests.Net.TestNet.V6("2001:db8::2");

    public TcpPair(string? block = null, long oneWayDelayNs = 0, int seed = 1)
    {
        Loop = EventLoop.CreateVirtual(new PacketPool(new PacketPoolOptions { Diagnostic = true }));
        Client = new NetStack(Loop, new NetStackOptions { Name = "client", Seed = seed });
        Server = new NetStack(Loop, new NetStackOptions { Name = "server", Seed = seed + 1 });
        var (la, lb) = EpairLink.CreatePair(Loop, 0);
        ClientLink = new ImpairedLink(la, Loop) { DelayNs = oneWayDelayNs };
        ServerLink = new ImpairedLink(lb, Loop) { DelayNs = oneWayDelayNs };
        var ia = Client.CreateInterface("epair0a", ClientLink, "epair");
        var ib = Server.CreateInterface("epair0b", ServerLink, "epair");
        ia.AddAddress(ClientAddress, 24);
        ib.AddAddress(ServerAddress, 24);
        ia.AddAddress(ClientAddress6, 64, Sluice.Stack.Interfaces.IPv6AddressFlags.NoDad);
        ib.AddAddress(ServerAddress6, 64, Sluice.Stack.Interfaces.IPv6AddressFlags.NoDad);
        ia.SetUp(true);
        ib.SetUp(true);
        _ = Client.Tcp; // attach TCP (and its sysctls) until NetStack's constructor does
        _ = Server.Tcp;
        if (block is not null)
        {
            Assert.True(Client.Tcp.TrySetDefaultFunctionBlock(block));
            Assert.True(Server.Tcp.TrySetDefaultFunctionBlock(block));
        }
    }

    public EventLoop Loop { get; }

    public NetStack Client { get; }

    public NetStack Server { get; }

    /// <summary>Frames the client sends (toward the server).</summary>
    public ImpairedLink ClientLink { get; }

    /// <summary>Frames the server sends (toward the client).</summary>
    public ImpairedLink ServerLink { get; }

    public TcpSocket Listen(ushort port = 80, int backlog = 16)
    {
        var l = Server.OpenTcp();
        Assert.Equal(Errno.None, l.Bind(ServerAddress, port));
        Assert.Equal(Errno.None, l.Listen(backlog));
        return l;
    }

    /// <summary>Connects and accepts; returns both ends established.</summary>
    public (TcpSocket Client, TcpSocket Server) Establish(TcpSocket listener, Action<TcpSocket>? configure = null)
    {
        var c = Client.OpenTcp();
        configure?.Invoke(c);
        Assert.Equal(Errno.EINPROGRESS, c.Connect(new InetEndpoint(ServerAddress, listener.LocalEndpoint.Port)));
        TcpSocket? s = null;
        Assert.True(Loop.RunUntil(() => c.State == TcpState.Established && listener.TryAccept(out s) == Errno.None, 10 * Nanos.PerSecond));
        return (c, s!);
    }

    /// <summary>Sends <paramref name="data"/> from <paramref name="from"/> and collects it at <paramref name="to"/>; returns the bytes received.</summary>
    public byte[] Transfer(TcpSocket from, TcpSocket to, byte[] data, long timeoutNs = 600 * Nanos.PerSecond, bool close = true)
    {
        var received = new MemoryStream();
        var offset = 0;
        var buffer = new byte[16384];
        var eof = false;
        void Pump()
        {
            while (offset < data.Length)
            {
                var e = from.Send(data.AsSpan(offset), out var n);
                if (e != Errno.None)
                {
                    break;
                }

                offset += n;
            }

            if (offset == data.Length && close && from.State is TcpState.Established or TcpState.CloseWait)
            {
                from.Shutdown(TcpShutdown.Write);
            }

            while (true)
            {
                var e = to.Receive(buffer, out var n);
                if (e != Errno.None)
                {
                    break;
                }

                if (n == 0)
                {
                    eof = true;
                    break;
                }

                received.Write(buffer, 0, n);
            }
        }

        from.Writable = _ => Pump();
        to.Readable = _ => Pump();
        Pump();
        Loop.RunUntil(() => close ? eof : received.Length >= data.Length, timeoutNs);
        from.Writable = null;
        to.Readable = null;
        return received.ToArray();
    }

    public static byte[] Pattern(int length, int seed = 7)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
