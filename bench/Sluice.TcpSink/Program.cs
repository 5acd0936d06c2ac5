using System.Diagnostics;
using System.Globalization;
using Sluice.Stack;
using Sluice.Stack.Links;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.TcpSink;

/// <summary>
/// A TCP discard server on a Linux TAP device, for bench/tcp-vs-linux.sh: opens TAP <c>NAME</c> (with
/// virtio-net offload when asked), gives the stack <c>ADDRESS/PREFIX</c>, prints "ready", accepts one connection on
/// <c>PORT</c>, reads and counts until end of stream, closes, prints "BYTES SECONDS GSO-FRAMES LARGEST-FRAME" and exits.
/// Exits 1 when nothing finished within <c>SECONDS</c>.
/// </summary>
/// <remarks>Usage: <c>Sluice.TcpSink NAME ADDRESS/PREFIX PORT offload|plain SECONDS</c>.</remarks>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length != 5 || !TryParseV4Prefix(args[1], out var address, out var prefix)
            || !ushort.TryParse(args[2], CultureInfo.InvariantCulture, out var port)
            || args[3] is not ("offload" or "plain")
            || !int.TryParse(args[4], CultureInfo.InvariantCulture, out var seconds) || seconds is < 1 or > 3600)
        {
            Console.Error.WriteLine("usage: Sluice.TcpSink NAME ADDRESS/PREFIX PORT offload|plain SECONDS");
            return 2;
        }

        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var loop = new EventLoop(new RealClock());
        using var tap = TapLink.Open(args[0], loop, offload: args[3] == "offload");
        var stack = new NetStack(loop, new NetStackOptions { Name = "sink" });
        var ifp = stack.CreateInterface("tap0", tap, "tap");
        ifp.AddAddress(address, prefix);
        ifp.SetUp(true);

        var buffer = new byte[1 << 20];
        long bytes = 0;
        var clock = new Stopwatch();
        double elapsed = 0;
        var finished = false;
        // 4 MB exceeds FreeBSD's default kern.ipc.maxsockbuf (2 MB); raise it first, as on FreeBSD.
        stack.Sysctl.TrySet("kern.ipc.maxsockbuf", "16777216");
        var listener = stack.OpenTcp();
        Check(listener.SetOption(TcpSocketOption.SO_RCVBUF, 4 << 20), "SO_RCVBUF");
        Check(listener.Bind(address, port), "bind");
        Check(listener.Listen(1), "listen");
        listener.Readable = l =>
        {
            while (l.TryAccept(out var connection) == Errno.None)
            {
                clock.Start();
                connection!.Readable = c =>
                {
                    while (c.Receive(buffer, out var n) == Errno.None)
                    {
                        if (n == 0)
                        {
                            elapsed = clock.Elapsed.TotalSeconds;
                            c.Close();
                            finished = true;
                            return;
                        }

                        bytes += n;
                    }
                };
            }
        };

        Console.WriteLine("ready");
        Console.Out.Flush();
        loop.RunUntil(() => finished, (long)seconds * 1_000_000_000, cancel.Token);

        // Let the FIN and the last ACKs leave before the device goes.
        loop.RunUntil(static () => false, 200_000_000, CancellationToken.None);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{bytes} {elapsed:F6} {tap.GsoFramesReceived} {tap.LargestFrameReceived}"));
        return finished ? 0 : 1;
    }

    private static void Check(Errno error, string what)
    {
        if (error != Errno.None)
        {
            throw new InvalidOperationException($"{what}: {error}");
        }
    }

    private static bool TryParseV4Prefix(string text, out IPv4Address address, out int prefix)
    {
        address = default;
        prefix = 0;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && IPv4Address.TryParse(text[..slash], out address)
            && int.TryParse(text[(slash + 1)..], CultureInfo.InvariantCulture, out prefix) && prefix is >= 0 and <= 32;
    }
}
