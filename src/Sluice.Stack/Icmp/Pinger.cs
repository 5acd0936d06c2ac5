using System.Buffers.Binary;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Icmp;

/// <summary>What to ping and how (ping(8) options).</summary>
public sealed record PingOptions
{
    /// <summary>The host to ping.</summary>
    public required InetAddress Destination { get; init; }

    /// <summary>-S: source address (unspecified = chosen by the stack).</summary>
    public InetAddress? Source { get; init; }

    /// <summary>-c: requests to send (0 = until stopped).</summary>
    public int Count { get; init; }

    /// <summary>-i: interval between requests, ns (default 1 s).</summary>
    public long IntervalNs { get; init; } = Nanos.PerSecond;

    /// <summary>-s: data bytes after the ICMP header (default 56).</summary>
    public int DataLength { get; init; } = 56;

    /// <summary>-m / -m (hlim): TTL or hop limit (-1 = default).</summary>
    public int Ttl { get; init; } = -1;

    /// <summary>-W: ms to wait for the last reply when nothing was received (FreeBSD's MAXWAIT, 10 s).</summary>
    public long WaitNs { get; init; } = 10 * Nanos.PerSecond;

    /// <summary>-t: overall time limit, ns (0 = none).</summary>
    public long TimeoutNs { get; init; }

    /// <summary>ICMP identifier (ping uses its pid); null = random from the stack.</summary>
    public ushort? Identifier { get; init; }

    /// <summary>
    /// The outgoing interface for IPv6 (the zone of <c>fe80::1%epair0a</c>, or <c>ping -6 -I epair0a</c>); null lets
    /// the routing table choose, where a zoneless link-local destination meets the <c>fe80::/10</c> reject route.
    /// </summary>
    public Interfaces.NetworkInterface? Interface { get; init; }
}

/// <summary>An echo reply.</summary>
public readonly record struct PingReply(int Bytes, InetAddress From, ushort Sequence, int HopLimit, long RoundTripNs, bool Duplicate);

/// <summary>An ICMP error about one of our requests.</summary>
public readonly record struct PingError(int Bytes, InetAddress From, byte Type, byte Code, byte[] Quoted, int Mtu);

/// <summary>Receives a pinger's events on the event loop.</summary>
public interface IPingObserver
{
    void OnReply(in PingReply reply);

    void OnError(in PingError error);

    void OnSendError(ushort sequence, Errno error);
}

/// <summary>
/// The engine of ping(8): sends ICMP/ICMPv6 echo requests on the stack's loop and matches replies, with FreeBSD's
/// timing (first request at once, one per interval, stop once every request is answered, otherwise wait 2×max RTT
/// (at least 1 s) after the last request if anything came back, else the -W time).
/// </summary>
public sealed class Pinger : ITimerHandler, IDisposable
{
    private readonly NetStack _stack;
    private readonly PingOptions _options;
    private readonly RawSocket _socket;
    private readonly Timer _timer;
    private readonly Timer _deadline;
    private readonly ushort _id;
    private readonly IPingObserver? _observer;
    private readonly Dictionary<ushort, long> _sentAt = [];
    private readonly HashSet<ushort> _seen = [];
    private readonly byte[] _payload;
    private long _sumNs;
    private double _sumSquaresMs;

    internal Pinger(NetStack stack, PingOptions options, IPingObserver? observer)
    {
        _stack = stack;
        _options = options;
        _observer = observer;
        _id = options.Identifier ?? (ushort)stack.Random.Next(1, 65536);
        IsIPv6 = options.Destination.IsIPv6;
        _socket = stack.OpenRaw(IsIPv6 ? IPProtocol.IcmpV6 : IPProtocol.Icmp, IsIPv6);
        _socket.DataAvailable = OnData;
        _timer = new Timer(this);
        _deadline = new Timer(this);
        _payload = new byte[Math.Max(0, options.DataLength)];
        for (var i = 8; i < _payload.Length; i++)
        {
            _payload[i] = (byte)i;
        }
    }

    /// <summary>True for ping -6.</summary>
    public bool IsIPv6 { get; }

    /// <summary>Requests sent.</summary>
    public int Transmitted { get; private set; }

    /// <summary>Distinct replies received.</summary>
    public int Received { get; private set; }

    /// <summary>Duplicate replies.</summary>
    public int Duplicates { get; private set; }

    /// <summary>True once ping would exit.</summary>
    public bool IsFinished { get; private set; }

    /// <summary>Minimum round trip, ns.</summary>
    public long MinNs { get; private set; } = long.MaxValue;

    /// <summary>Maximum round trip, ns.</summary>
    public long MaxNs { get; private set; }

    /// <summary>Mean round trip in ms.</summary>
    public double AverageMs => Received + Duplicates == 0 ? 0 : _sumNs / 1e6 / (Received + Duplicates);

    /// <summary>Population standard deviation of round trips in ms (FreeBSD's formula).</summary>
    public double StdDevMs
    {
        get
        {
            var n = Received + Duplicates;
            if (n == 0)
            {
                return 0;
            }

            var avg = AverageMs;
            return Math.Sqrt(Math.Max(0, (_sumSquaresMs / n) - (avg * avg)));
        }
    }

    /// <summary>Sends the first request and starts the timers.</summary>
    public void Start()
    {
        if (_options.TimeoutNs > 0)
        {
            _stack.Loop.ScheduleAfter(_deadline, _options.TimeoutNs);
        }

        SendNext();
    }

    /// <summary>Stops (SIGINT).</summary>
    public void Stop()
    {
        IsFinished = true;
        _stack.Loop.Cancel(_timer);
        _stack.Loop.Cancel(_deadline);
    }

    void ITimerHandler.OnTimer(Timer timer)
    {
        if (IsFinished)
        {
            return;
        }

        if (timer == _deadline)
        {
            Stop();
            return;
        }

        if (_options.Count == 0 || Transmitted < _options.Count)
        {
            SendNext();
            return;
        }

        Stop(); // the final wait ran out
    }

    private void SendNext()
    {
        var seq = (ushort)Transmitted;
        Transmitted++;
        var now = _stack.Loop.Now;
        _sentAt[seq] = now;
        var packet = _stack.Pool.Rent(8 + _payload.Length);
        var span = packet.Data;
        span[..8].Clear();
        _payload.CopyTo(span[8..]);
        if (_payload.Length >= 8)
        {
            // struct tv32 { sec, usec } like FreeBSD's ping, in network order.
            BinaryPrimitives.WriteUInt32BigEndian(span[8..], (uint)(now / Nanos.PerSecond));
            BinaryPrimitives.WriteUInt32BigEndian(span[12..], (uint)(now % Nanos.PerSecond / 1000));
        }

        Errno error;
        if (IsIPv6)
        {
            var icmp = IcmpV6Packet.CreateUnchecked(span);
            icmp.Type = IcmpV6Type.EchoRequest;
            icmp.Code = 0;
            icmp.Identifier = _id;
            icmp.SequenceNumber = seq;
            var destination = _options.Destination.V6;
            // rip6_output → in6_selectsrc: a zone (or -I) picks the interface; its errors are in6_selectif's.
            var zone = _options.Interface ?? _stack.ZoneInterface(_options.Destination);
            var source = _options.Source is { IsUnspecified: false } s ? s.V6 : default;
            var chosen = default(InetAddress);
            error = source.IsUnspecified ? _stack.SelectSource(destination, zone, out chosen) : Errno.None;
            if (error != Errno.None)
            {
                packet.Release();
            }
            else
            {
                source = source.IsUnspecified ? chosen.V6 : source;
                icmp.FillChecksum(source, destination);
                error = _stack.OutputIPv6(packet, source, destination, IPProtocol.IcmpV6, _options.Ttl, outInterface: zone);
            }
        }
        else
        {
            var icmp = IcmpV4Packet.CreateUnchecked(span);
            icmp.Type = IcmpV4Type.Echo;
            icmp.Code = 0;
            icmp.Identifier = _id;
            icmp.SequenceNumber = seq;
            icmp.FillChecksum();
            var source = _options.Source is { } s ? s.V4 : IPv4Address.Any;
            error = _stack.OutputIPv4(packet, source, _options.Destination.V4, IPProtocol.Icmp, _options.Ttl);
        }

        if (error != Errno.None)
        {
            _observer?.OnSendError(seq, error);
        }

        ScheduleNext();
    }

    private void ScheduleNext()
    {
        if (_options.Count == 0 || Transmitted < _options.Count)
        {
            _stack.Loop.ScheduleAfter(_timer, _options.IntervalNs);
            return;
        }

        // After the last request: 2 x max RTT (at least 1 s) when something came back, else the wait time.
        long wait;
        if (Received > 0)
        {
            wait = Math.Max(Nanos.PerSecond, 2 * MaxNs / Nanos.PerSecond * Nanos.PerSecond);
        }
        else
        {
            wait = _options.WaitNs;
        }

        _stack.Loop.ScheduleAfter(_timer, wait);
    }

    private void OnData(RawSocket socket)
    {
        while (socket.TryReceive(out var d))
        {
            try
            {
                Handle(d);
            }
            finally
            {
                d.Packet.Release();
            }
        }
    }

    private void Handle(in RawDatagram d)
    {
        if (IsFinished)
        {
            return;
        }

        var data = d.Packet.Data;
        Span<byte> message;
        if (IsIPv6)
        {
            message = data;
        }
        else
        {
            if (!IPv4Packet.TryCreate(data, out var ip))
            {
                return;
            }

            message = ip.Payload;
        }

        if (message.Length < 8)
        {
            return;
        }

        var type = message[0];
        var isReply = IsIPv6 ? type == (byte)IcmpV6Type.EchoReply : type == (byte)IcmpV4Type.EchoReply;
        if (isReply)
        {
            var id = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
            var seq = BinaryPrimitives.ReadUInt16BigEndian(message[6..]);
            if (id != _id || !_sentAt.TryGetValue(seq, out var sent))
            {
                return;
            }

            var rtt = _stack.Loop.Now - sent;
            var duplicate = !_seen.Add(seq);
            if (duplicate)
            {
                Duplicates++;
            }
            else
            {
                Received++;
            }

            _sumNs += rtt;
            var ms = rtt / 1e6;
            _sumSquaresMs += ms * ms;
            MinNs = Math.Min(MinNs, rtt);
            MaxNs = Math.Max(MaxNs, rtt);
            _observer?.OnReply(new PingReply(message.Length, d.Source, seq, d.HopLimit, rtt, duplicate));
            if (_options.Count > 0 && Received >= _options.Count)
            {
                Stop();
            }

            return;
        }

        var isError = IsIPv6 ? type < 128 : type is 3 or 4 or 5 or 11 or 12;
        if (!isError)
        {
            return;
        }

        // The quoted packet must be one of our requests.
        var quoted = message[8..];
        int quotedIcmp;
        if (IsIPv6)
        {
            quotedIcmp = 40;
            if (quoted.Length < 48 || quoted[6] != (byte)IPProtocol.IcmpV6)
            {
                return;
            }
        }
        else
        {
            if (quoted.Length < 28 || quoted[9] != (byte)IPProtocol.Icmp)
            {
                return;
            }

            quotedIcmp = (quoted[0] & 0x0f) * 4;
            if (quoted.Length < quotedIcmp + 8)
            {
                return;
            }
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(quoted[(quotedIcmp + 4)..]) != _id)
        {
            return;
        }

        var mtu = IsIPv6 ? (int)BinaryPrimitives.ReadUInt32BigEndian(message[4..]) : BinaryPrimitives.ReadUInt16BigEndian(message[6..]);
        _observer?.OnError(new PingError(message.Length, d.Source, type, message[1], quoted.ToArray(), mtu));
    }

    /// <summary>Closes the raw socket and cancels timers.</summary>
    public void Dispose()
    {
        Stop();
        _socket.Dispose();
    }
}
