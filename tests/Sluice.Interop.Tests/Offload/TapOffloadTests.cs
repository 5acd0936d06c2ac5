using Sluice.Interop.Tests.Infrastructure;
using Sluice.Stack;
using Sluice.Stack.Links;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Wire;

namespace Sluice.Interop.Tests.Offload;

/// <summary>
/// TCP through a TAP opened with IFF_VNET_HDR and checksum/segmentation offload: Linux hands Sluice 64 KiB GSO
/// super-frames with partial checksums, and Sluice hands Linux TSO super-segments that Linux segments.
/// </summary>
public sealed class TapOffloadTests(ITestOutputHelper output)
{
    private const int Bytes = 50 << 20;
    private const ushort Port = 5001;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [InteropTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task LinuxSendsFiftyMegabytesAsGsoSuperFramesAndSluiceCountsEveryByte(bool ipv6)
    {
        using var host = OffloadHost.Start(output);
        InetAddress sluice = ipv6 ? OffloadHost.SluiceV6 : OffloadHost.SluiceV4;
        var received = 0L;
        var eof = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await host.Loop.InvokeAsync(() =>
        {
            var buffer = new byte[256 * 1024];
            // 4 MB buffers exceed FreeBSD's default kern.ipc.maxsockbuf (2 MB → ENOBUFS); raise it as a FreeBSD user would.
            Assert.True(host.Stack.Sysctl.TrySet("kern.ipc.maxsockbuf", "16777216").Succeeded);
            var listener = host.Stack.OpenTcp(ipv6);
            Assert.Equal(Errno.None, listener.SetOption(TcpSocketOption.SO_RCVBUF, 4 << 20));
            Assert.Equal(Errno.None, listener.Bind(sluice, Port));
            Assert.Equal(Errno.None, listener.Listen(4));
            listener.Readable = l =>
            {
                while (l.TryAccept(out var connection) == Errno.None)
                {
                    connection!.Readable = c =>
                    {
                        while (c.Receive(buffer, out var n) == Errno.None)
                        {
                            if (n == 0)
                            {
                                c.Close();
                                eof.TrySetResult();
                                return;
                            }

                            received += n;
                        }
                    };
                }
            };
        });

        var sender = host.Namespace.Exec(Bound, "python3", "-c", $$"""
            import socket
            s = socket.create_connection(("{{sluice}}", {{Port}}), timeout=30)
            buf = bytes(1 << 16)
            left = {{Bytes}}
            while left:
                left -= s.send(buf[:min(left, len(buf))])
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
            s.close()
            """);
        Assert.True(sender.Succeeded, sender.ToString());
        await eof.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var (total, gso, largest) = await host.Loop.InvokeAsync(() => (received, host.Tap.GsoFramesReceived, host.Tap.LargestFrameReceived));
        output.WriteLine($"{(ipv6 ? "IPv6" : "IPv4")}: received {total} bytes; {gso} GSO frames, largest frame {largest} bytes; {host.Tap.Received} frames read");
        Assert.Equal(Bytes, total);
        Assert.True(gso > 0, "no GSO frame arrived");
        Assert.True(largest > 1514, $"largest frame {largest} bytes: nothing above the MTU");
        Assert.Equal(0, host.Tap.BadOffloadHeaders);
    }

    [InteropTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SluiceSendsFiftyMegabytesAsTsoSuperSegmentsAndLinuxCountsEveryByte(bool ipv6)
    {
        using var host = OffloadHost.Start(output);
        InetAddress linux = ipv6 ? OffloadHost.LinuxV6 : OffloadHost.LinuxV4;
        var receiver = host.Namespace.ExecAsync(Bound, "python3", "-c", $$"""
            import socket
            l = socket.socket(socket.{{(ipv6 ? "AF_INET6" : "AF_INET")}})
            l.bind(("{{linux}}", {{Port}}))
            l.listen(1)
            l.settimeout(30)
            c, _ = l.accept()
            c.settimeout(30)
            n = 0
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                n += len(b)
            print(n)
            """);

        var sent = 0L;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var source = new byte[64 * 1024];
        TcpSocket? socket = null;
        var connectDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            // The Linux listener may not be up yet: retry the connection until it is accepted.
            socket = await host.Loop.InvokeAsync(() =>
            {
                Assert.True(host.Stack.Sysctl.TrySet("kern.ipc.maxsockbuf", "16777216").Succeeded);
                var s = host.Stack.OpenTcp(ipv6);
                Assert.Equal(Errno.None, s.SetOption(TcpSocketOption.SO_SNDBUF, 4 << 20));
                void Pump(TcpSocket t)
                {
                    while (sent < Bytes && t.Send(source.AsSpan(0, (int)Math.Min(source.Length, Bytes - sent)), out var n) == Errno.None)
                    {
                        sent += n;
                    }

                    if (sent == Bytes && t.State == TcpState.Established)
                    {
                        t.Shutdown(TcpShutdown.Write);
                        done.TrySetResult();
                    }
                }

                s.Connected = Pump;
                s.Writable = Pump;
                Assert.Equal(Errno.EINPROGRESS, s.Connect(new InetEndpoint(linux, Port)));
                return s;
            });
            await Task.Delay(300);
            var state = await host.Loop.InvokeAsync(() => socket.State);
            if (state != TcpState.Closed || DateTime.UtcNow > connectDeadline)
            {
                break;
            }
        }

        await done.Task.WaitAsync(TimeSpan.FromSeconds(40));
        var result = await receiver;
        Assert.True(result.Succeeded, result.ToString());
        var gso = await host.Loop.InvokeAsync(() => host.Tap.GsoFramesTransmitted);
        output.WriteLine($"{(ipv6 ? "IPv6" : "IPv4")}: Linux counted {result.Stdout.Trim()} bytes; {gso} TSO super-segments, {host.Tap.Transmitted} frames written, {host.Tap.TransmitErrors} write errors (before Linux brought its side up)");
        Assert.Equal(Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture), result.Stdout.Trim());
        Assert.True(gso > 0, "no TSO super-segment was sent");
    }
}

/// <summary>
/// A Sluice stack (192.0.2.2/24, 2001:db8::2/64) on a TAP opened with offload whose Linux side (192.0.2.1/24,
/// 2001:db8::1/64) sits in a fresh namespace;
/// the loop runs on its own thread for a bounded time. Dispose: loop, TAP, namespace — also on failure.
/// </summary>
internal sealed class OffloadHost : IDisposable
{
    public static readonly IPv4Address SluiceV4 = new(192, 0, 2, 2);
    public static readonly IPv4Address LinuxV4 = new(192, 0, 2, 1);
    public static readonly IPv6Address SluiceV6 = new(0x2001_0db8_0000_0000UL, 2UL);
    public static readonly IPv6Address LinuxV6 = new(0x2001_0db8_0000_0000UL, 1UL);

    private readonly List<IDisposable> _owned = [];

    private OffloadHost(ITestOutputHelper output)
    {
        try
        {
            Namespace = NetNamespace.Create(output);
            _owned.Add(Namespace);
            Loop = new RealTimeLoop(TimeSpan.FromSeconds(120));
            Tap = TapLink.Open(NetNamespace.NewDeviceName("slo"), Loop.Loop, offload: true);
            _owned.Add(Tap);
            _owned.Add(Loop);
            Stack = new NetStack(Loop.Loop, new NetStackOptions { Name = "offload" });
            var ifp = Stack.CreateInterface("tap0", Tap, "tap");
            // No DAD for the test address (as Linux's side is added nodad): both ends are usable at once.
            Assert.True(Stack.Sysctl.TrySet("net.inet6.ip6.dad_count", "0").Succeeded);
            ifp.AddAddress(SluiceV4, 24);
            ifp.AddAddress(SluiceV6, 64);
            ifp.SetUp(true);
            Loop.Start();
            Namespace.AdoptAndConfigure(Tap.LinuxName, $"{LinuxV4}/24", $"{LinuxV6}/64");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public NetNamespace Namespace { get; } = null!;

    public RealTimeLoop Loop { get; } = null!;

    public TapLink Tap { get; } = null!;

    public NetStack Stack { get; } = null!;

    public static OffloadHost Start(ITestOutputHelper output) => new(output);

    public void Dispose()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                _owned[i].Dispose();
            }
            catch (Exception e)
            {
                Command.Log(null, $"[interop] cleanup: {e.Message}");
            }
        }

        _owned.Clear();
    }
}
