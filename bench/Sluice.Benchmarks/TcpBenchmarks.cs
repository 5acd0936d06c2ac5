using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Sluice.Stack;
using Sluice.Stack.Links;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Benchmarks;

/// <summary>
/// TCP bulk transfer between two stacks joined by an epair on one virtual-time loop: each operation moves
/// <see cref="TcpBenchmarks.Size"/> bytes from a sending socket to a receiving socket that reads and discards them, on
/// one connection established in setup. Both stacks run on the benchmark thread, so the figure is the CPU cost of
/// both ends of TCP (segmentation, checksums on send and receive, ACK processing, socket-buffer copies).
/// </summary>
/// <remarks>
/// The Gbit/s column is payload bits per second of CPU time for sender and receiver together; Allocated is per
/// operation, so per MiB. The target is 0 B (tests/Sluice.Stack.Tests/Alloc/TcpAllocationTests asserts it).
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(TcpRateConfig))]
public class TcpBenchmarks
{
    /// <summary>Payload bytes per operation (1 MiB).</summary>
    public const int Size = 1 << 20;

    private TcpTransferTopology _t = null!;

    /// <summary>TCP function block of both ends.</summary>
    [Params("freebsd", "rack")]
    public string Block { get; set; } = "freebsd";

    /// <summary>The sender's link advertises segmentation offload (64 KiB super-segments cross the epair whole).</summary>
    [Params(false, true)]
    public bool Tso { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _t = new TcpTransferTopology(Block, Tso);
        _t.Transfer(8 * Size);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_t.Sender.ControlBlock is { } tcb && tcb.RetransmittedPackets != 0)
        {
            throw new InvalidOperationException($"{tcb.RetransmittedPackets} retransmissions: the benchmark measured loss recovery.");
        }
    }

    [Benchmark]
    public long BulkTransfer1MiB() => _t.Transfer(Size);
}

/// <summary>Adds a Gbit/s column: <see cref="TcpBenchmarks.Size"/> payload bytes per operation over the mean time.</summary>
public sealed class TcpRateConfig : ManualConfig
{
    public TcpRateConfig() => AddColumn(new RateColumn("Gbit/s", "Payload gigabits (10^9) per second of CPU time (8 x 1 MiB / Mean in ns)",
        static (_, ns) => 8.0 * TcpBenchmarks.Size / ns));
}

/// <summary>
/// Two stacks (192.0.2.1 sends, 192.0.2.2 receives and discards) on one virtual-time loop, joined by an epair,
/// with one established connection (256 KiB socket buffers) and preallocated buffers. With <c>tso</c> the
/// sender's end advertises <see cref="ILink.MaxSegmentOffload"/>, so TCP emits 64 KiB super-segments.
/// </summary>
public sealed class TcpTransferTopology
{
    public static readonly IPv4Address ClientAddress = new(192, 0, 2, 1);
    public static readonly IPv4Address ServerAddress = new(192, 0, 2, 2);
    public const ushort Port = 5001;

    private readonly byte[] _source = new byte[64 * 1024];
    private readonly byte[] _sink = new byte[64 * 1024];
    private readonly Func<bool> _done;
    private long _toSend;
    private long _target;

    public TcpTransferTopology(string block, bool tso = false)
    {
        Loop = EventLoop.CreateVirtual();
        Client = new NetStack(Loop, new NetStackOptions { Name = "client", Seed = 1 });
        Server = new NetStack(Loop, new NetStackOptions { Name = "server", Seed = 2 });
        Check(Client.Tcp.TrySetDefaultFunctionBlock(block) && Server.Tcp.TrySetDefaultFunctionBlock(block), $"function block {block}");
        var (a, b) = EpairLink.CreatePair(Loop, 0);
        var ia = Client.CreateInterface("epair0a", tso ? new OffloadingEpair(a) : a, "epair");
        var ib = Server.CreateInterface("epair0b", b, "epair");
        ia.AddAddress(ClientAddress, 24);
        ib.AddAddress(ServerAddress, 24);
        ia.SetUp(true);
        ib.SetUp(true);
        new Random(3).NextBytes(_source);

        var listener = Server.OpenTcp();
        Check(listener.SetOption(TcpSocketOption.SO_RCVBUF, 256 * 1024) == Errno.None, "SO_RCVBUF");
        Check(listener.Bind(ServerAddress, Port) == Errno.None && listener.Listen(1) == Errno.None, "listen");
        Sender = Client.OpenTcp();
        Check(Sender.SetOption(TcpSocketOption.SO_SNDBUF, 256 * 1024) == Errno.None, "SO_SNDBUF");
        Check(Sender.Connect(new InetEndpoint(ServerAddress, Port)) == Errno.EINPROGRESS, "connect");
        TcpSocket? accepted = null;
        Check(Loop.RunUntil(() => Sender.State == TcpState.Established && listener.TryAccept(out accepted) == Errno.None, 10 * Nanos.PerSecond), "establish");
        Receiver = accepted!;
        _done = () => Received >= _target;
        Action<TcpSocket> pump = _ => Pump();
        Sender.Writable = pump;
        Receiver.Readable = pump;
    }

    public EventLoop Loop { get; }

    public NetStack Client { get; }

    public NetStack Server { get; }

    public TcpSocket Sender { get; }

    public TcpSocket Receiver { get; }

    /// <summary>Bytes read by the receiver during the current transfer.</summary>
    public long Received { get; private set; }

    /// <summary>Moves <paramref name="bytes"/> from sender to receiver; returns the bytes received.</summary>
    /// <exception cref="InvalidOperationException">The transfer stalled.</exception>
    public long Transfer(long bytes)
    {
        _toSend = bytes;
        _target = bytes;
        Received = 0;
        Pump();
        if (!Loop.RunUntil(_done, 600 * Nanos.PerSecond))
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"transfer stalled at {Received} of {bytes} bytes"));
        }

        return Received;
    }

    private void Pump()
    {
        while (_toSend > 0)
        {
            var chunk = (int)Math.Min(_toSend, _source.Length);
            if (Sender.Send(_source.AsSpan(0, chunk), out var n) != Errno.None)
            {
                break;
            }

            _toSend -= n;
        }

        while (Receiver.Receive(_sink, out var n) == Errno.None && n > 0)
        {
            Received += n;
        }
    }

    private static void Check(bool ok, string what)
    {
        if (!ok)
        {
            throw new InvalidOperationException($"TCP benchmark setup failed: {what}.");
        }
    }
}

/// <summary>An epair end that advertises TCP segmentation offload; super-segments cross to the peer whole.</summary>
public sealed class OffloadingEpair(EpairLink inner) : ILink
{
    public string Kind => inner.Kind;

    public MacAddress? HardwareAddress => inner.HardwareAddress;

    public bool IsUp => inner.IsUp;

    public int MaxSegmentOffload => 65535;

    public void Attach(Stack.Time.IPacketSink? receiver) => inner.Attach(receiver);

    public void Transmit(Stack.Buffers.Packet frame) => inner.Transmit(frame);

    public void Dispose() => inner.Dispose();
}
