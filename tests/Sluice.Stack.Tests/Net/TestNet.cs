using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Icmp;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Net;

/// <summary>Builds small topologies of stacks joined by epairs on one virtual-time loop with a diagnostic pool.</summary>
internal sealed class TestNet
{
    private int _unit;

    public TestNet() => Loop = EventLoop.CreateVirtual(new PacketPool(new PacketPoolOptions { Diagnostic = true }));

    public EventLoop Loop { get; }

    public NetStack Stack(string name) => new(Loop, new NetStackOptions { Name = name, Seed = name.GetHashCode(StringComparison.Ordinal) & 0xffff });

    public (NetworkInterface A, NetworkInterface B) Connect(NetStack a, NetStack b)
    {
        var unit = _unit++;
        var (la, lb) = EpairLink.CreatePair(Loop, unit);
        var ia = a.CreateInterface($"epair{unit}a", la, "epair");
        var ib = b.CreateInterface($"epair{unit}b", lb, "epair");
        return (ia, ib);
    }

    public static IPv4Address V4(string s) => IPv4Address.TryParse(s, out var a) ? a : throw new ArgumentException(s);

    public static IPv6Address V6(string s) => IPv6Address.TryParse(s, out var a) ? a : throw new ArgumentException(s);

    public PingResult Ping(NetStack from, InetAddress to, int count = 3, long intervalNs = Nanos.PerSecond, int dataLength = 56)
    {
        var observer = new Recorder();
        using var pinger = from.CreatePinger(new PingOptions { Destination = to, Count = count, IntervalNs = intervalNs, DataLength = dataLength }, observer);
        pinger.Start();
        Loop.RunUntil(() => pinger.IsFinished, 60 * Nanos.PerSecond);
        return new PingResult(pinger.Transmitted, pinger.Received, pinger.Duplicates, observer.Replies, observer.Errors, observer.SendErrors);
    }

    internal sealed record PingResult(int Transmitted, int Received, int Duplicates, List<PingReply> Replies, List<PingError> Errors, List<Errno> SendErrors);

    private sealed class Recorder : IPingObserver
    {
        public List<PingReply> Replies { get; } = [];

        public List<PingError> Errors { get; } = [];

        public List<Errno> SendErrors { get; } = [];

        public void OnReply(in PingReply reply) => Replies.Add(reply);

        public void OnError(in PingError error) => Errors.Add(error);

        public void OnSendError(ushort sequence, Errno error) => SendErrors.Add(error);
    }
}
