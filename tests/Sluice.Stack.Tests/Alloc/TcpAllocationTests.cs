using Sluice.Stack.Buffers;
using Sluice.Stack.Links;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Tests.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Alloc;

/// <summary>
/// A TCP bulk transfer allocates nothing in steady state: two stacks joined by an epair on virtual time move 4 MB
/// (after a 1 MB warm-up on the same connection) without a single managed allocation on the loop's thread, and every
/// packet goes back to the (diagnostic) pool.
/// </summary>
/// <remarks>
/// An allocation assertion, not a timing one. The same transfer is measured by bench/Sluice.Benchmarks
/// (TcpBenchmarks). Tier-0 code runs here (no escape analysis), so boxing, closures, LINQ and interface
/// enumerators on the per-segment path all show.
/// </remarks>
public sealed class TcpAllocationTests
{
    private const int Warmup = 4 << 20;
    private const int Measured = 4 << 20;
    private const int Windows = 3;

    [Theory]
    [InlineData("freebsd", 0, 0, false)]
    [InlineData("rack", 0, 0, false)]
    [InlineData("freebsd", 1_000_000, 0, false)]
    [InlineData("rack", 1_000_000, 0, false)]
    [InlineData("freebsd", 1_000_000, 997, false)]
    [InlineData("rack", 1_000_000, 997, false)]
    [InlineData("freebsd", 0, 0, true)]
    [InlineData("rack", 1_000_000, 0, true)]
    public void BulkTransferAllocatesNothingPerSegmentAndReturnsEveryPacket(string block, long oneWayDelayNs, int dropEvery, bool tso)
    {
        var t = new TcpBulkPair(block, oneWayDelayNs, dropEvery, tso);
        Assert.True(t.Transfer(Warmup), $"warm-up stalled at {t.Received} of {Warmup} bytes");

        using var recorder = new AllocationRecorder();
        var windows = new List<string>(Windows);
        var cleanWindows = 0;
        for (var w = 0; w < Windows; w++)
        {
            var stats = t.Client.Tcp.Statistics;
            var segmentsBefore = stats.tcps_sndpack;
            var retransmitsBefore = stats.tcps_sndrexmitpack;
            var createdBefore = t.Loop.Pool.Created;
            var jittedBefore = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true);
            var gcsBefore = GC.CollectionCount(0);
            var before = GC.GetAllocatedBytesForCurrentThread();
            var done = t.Transfer(Measured);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            var segments = stats.tcps_sndpack - segmentsBefore;
            var retransmits = stats.tcps_sndrexmitpack - retransmitsBefore;
            var created = t.Loop.Pool.Created - createdBefore;
            var jitted = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true) - jittedBefore;
            var gcs = GC.CollectionCount(0) - gcsBefore;

            Assert.True(done, $"transfer stalled at {t.Received} of {Measured} bytes");
            Assert.Equal(Measured, t.Received);
            Assert.Equal(0, t.Corrupted);
            Assert.True(tso ? t.SuperSegments > 0 && segments < Measured / 1460 : segments >= Measured / 1460, $"{segments} data sends, {t.SuperSegments} TSO super-segments");
            Assert.True(dropEvery == 0 ? retransmits == 0 : retransmits >= segments / dropEvery, $"{retransmits} retransmissions");
            Assert.Equal(0, created);
            cleanWindows += allocated == 0 ? 1 : 0;
            windows.Add($"{allocated} B in {segments} segments ({allocated / (double)segments:F1} B/segment; {jitted} methods jitted on this thread, {gcs} gen0 GCs)");
        }

        // A per-segment allocation shows in every window; a one-off allocation by the runtime on this thread (seen once
        // in CI on a loaded machine, 7.9 KB in one window, never reproduced) shows in one. Steady state must have a clean window.
        Assert.True(cleanWindows > 0, $"every {Measured}-byte window allocated: {string.Join("; ", windows)}; sampled types: {recorder.Describe()}");

        t.Close();
        Assert.Equal(0, t.Loop.Pool.Outstanding);
    }
}

/// <summary>
/// Two stacks (192.0.2.1 sends, 192.0.2.2 receives and discards) on one virtual-time loop joined by an epair
/// (optionally delayed, and losing every <c>dropEvery</c>-th data segment of the sender so that SACK recovery,
/// retransmission and the timers run; optionally advertising TSO so that the sender emits 64 KiB super-segments,
/// which the epair delivers whole), with one established connection and preallocated buffers, so that a transfer
/// itself allocates nothing. The receiver checks every byte against the sender's pattern.
/// </summary>
internal sealed class TcpBulkPair
{
    private static readonly IPv4Address ClientAddress = new(192, 0, 2, 1);
    private static readonly IPv4Address ServerAddress = new(192, 0, 2, 2);

    private readonly byte[] _source = new byte[64 * 1024];
    private readonly byte[] _sink = new byte[64 * 1024];
    private readonly TcpSocket _listener;
    private readonly Func<bool> _done;
    private readonly Action<TcpSocket> _pump;
    private long _toSend;
    private long _target;
    private long _checked;
    private Func<long>? _superSegments;

    private long _dataFrames;
    private long _sent;

    public TcpBulkPair(string block, long oneWayDelayNs = 0, int dropEvery = 0, bool tso = false)
    {
        Loop = EventLoop.CreateVirtual(new PacketPool(new PacketPoolOptions { Diagnostic = true }));
        Client = new NetStack(Loop, new NetStackOptions { Name = "client", Seed = 1 });
        Server = new NetStack(Loop, new NetStackOptions { Name = "server", Seed = 2 });
        Assert.True(Client.Tcp.TrySetDefaultFunctionBlock(block));
        Assert.True(Server.Tcp.TrySetDefaultFunctionBlock(block));
        var (a, b) = EpairLink.CreatePair(Loop, 0);
        ILink clientLink = a, serverLink = b;
        if (oneWayDelayNs > 0 || dropEvery > 0)
        {
            var impaired = new ImpairedLink(a, Loop) { DelayNs = oneWayDelayNs };
            if (dropEvery > 0)
            {
                impaired.Drop = frame => ImpairedLink.TryTcp(frame, out _, out var payload) && payload > 0 && ++_dataFrames % dropEvery == 0;
            }

            clientLink = impaired;
            serverLink = new ImpairedLink(b, Loop) { DelayNs = oneWayDelayNs };
        }

        if (tso)
        {
            var offloading = new SegmentOffloadLink(clientLink);
            _superSegments = () => offloading.SuperSegments;
            clientLink = offloading;
        }

        var ia = Client.CreateInterface("epair0a", clientLink, "epair");
        var ib = Server.CreateInterface("epair0b", serverLink, "epair");
        ia.AddAddress(ClientAddress, 24);
        ib.AddAddress(ServerAddress, 24);
        ia.SetUp(true);
        ib.SetUp(true);
        new Random(3).NextBytes(_source);

        _listener = Server.OpenTcp();
        Assert.Equal(Errno.None, _listener.SetOption(TcpSocketOption.SO_RCVBUF, 256 * 1024));
        Assert.Equal(Errno.None, _listener.Bind(ServerAddress, 5001));
        Assert.Equal(Errno.None, _listener.Listen(1));
        Sender = Client.OpenTcp();
        Assert.Equal(Errno.None, Sender.SetOption(TcpSocketOption.SO_SNDBUF, 256 * 1024));
        Assert.Equal(Errno.EINPROGRESS, Sender.Connect(new InetEndpoint(ServerAddress, 5001)));
        TcpSocket? accepted = null;
        Assert.True(Loop.RunUntil(() => Sender.State == TcpState.Established && _listener.TryAccept(out accepted) == Errno.None, 10 * Nanos.PerSecond));
        Receiver = accepted!;
        _pump = Pump;
        _done = () => Received >= _target;
        Sender.Writable = _pump;
        Receiver.Readable = _pump;
    }

    public EventLoop Loop { get; }

    public NetStack Client { get; }

    public NetStack Server { get; }

    public TcpSocket Sender { get; }

    public TcpSocket Receiver { get; }

    /// <summary>Bytes the receiver has read since the last <see cref="Transfer"/> started.</summary>
    public long Received { get; private set; }

    /// <summary>Received chunks that differed from what was sent.</summary>
    public int Corrupted { get; private set; }

    /// <summary>TSO super-segments the sender emitted (0 without TSO).</summary>
    public long SuperSegments => _superSegments?.Invoke() ?? 0;

    /// <summary>Sends <paramref name="bytes"/> and runs the loop until all of them were read; false on a stall.</summary>
    public bool Transfer(long bytes)
    {
        _toSend = bytes;
        _target = bytes;
        Received = 0;
        Pump(Sender);
        return Loop.RunUntil(_done, 600 * Nanos.PerSecond);
    }

    /// <summary>Closes both ends and runs the loop past TIME_WAIT, so that every packet and timer is gone.</summary>
    public void Close()
    {
        Sender.Writable = null;
        Receiver.Readable = null;
        Sender.Close();
        Receiver.Close();
        _listener.Close();
        Loop.RunFor(120 * Nanos.PerSecond);
    }

    private void Pump(TcpSocket _)
    {
        while (_toSend > 0)
        {
            var offset = (int)(_sent % _source.Length);
            var chunk = (int)Math.Min(_toSend, _source.Length - offset);
            if (Sender.Send(_source.AsSpan(offset, chunk), out var n) != Errno.None)
            {
                break;
            }

            _toSend -= n;
            _sent += n;
        }

        while (Receiver.Receive(_sink, out var n) == Errno.None && n > 0)
        {
            Received += n;
            Verify(_sink.AsSpan(0, n));
        }
    }

    /// <summary>Compares received bytes with the sender's repeating pattern.</summary>
    private void Verify(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var offset = (int)(_checked % _source.Length);
            var n = Math.Min(data.Length, _source.Length - offset);
            if (!data[..n].SequenceEqual(_source.AsSpan(offset, n)))
            {
                Corrupted++;
            }

            _checked += n;
            data = data[n..];
        }
    }
}

/// <summary>A link that advertises TCP segmentation offload and passes super-segments on whole (the epair carries any length).</summary>
internal sealed class SegmentOffloadLink(ILink inner) : ILink
{
    public long SuperSegments { get; private set; }

    public string Kind => inner.Kind;

    public MacAddress? HardwareAddress => inner.HardwareAddress;

    public bool IsUp => inner.IsUp;

    public int MaxSegmentOffload => 65535;

    public void Attach(IPacketSink? receiver) => inner.Attach(receiver);

    public void Transmit(Packet frame)
    {
        if (frame.GsoSize != 0)
        {
            SuperSegments++;
        }

        inner.Transmit(frame);
    }

    public void Dispose() => inner.Dispose();
}
