using System.Buffers.Binary;
using System.Text;
using Sluice.Interop.Tests.Infrastructure;
using Sluice.Stack.Sockets;
using Sluice.Wire;

namespace Sluice.Interop.Tests.Stack;

/// <summary>A Sluice stack on a TAP device talking to the Linux kernel and its tools in a fresh namespace.</summary>
public sealed class StackInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [InteropFact]
    public void LinuxPingsSluiceOverIPv4()
    {
        using var host = SluiceOnTap.Start(output);
        var ping = host.Namespace.Exec(Bound, "ping", "-c", "3", "-W", "2", "192.0.2.2");
        Assert.True(ping.Succeeded, ping.ToString());
        Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", ping.Stdout, StringComparison.Ordinal);
    }

    [InteropFact]
    public void LinuxPingsSluiceOverIPv6()
    {
        using var host = SluiceOnTap.Start(output);
        var ping = host.Namespace.Exec(Bound, "ping", "-6", "-c", "3", "-W", "2", "2001:db8::2");
        Assert.True(ping.Succeeded, ping.ToString());
        Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", ping.Stdout, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task SluicePingsLinuxOverIPv4()
    {
        using var host = SluiceOnTap.Start(output);
        const ushort identifier = 0x5e1c;
        var replies = new HashSet<ushort>();
        var allReplied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var socket = await host.Loop.InvokeAsync(() =>
        {
            var raw = host.Stack.OpenRaw(IPProtocol.Icmp);
            raw.DataAvailable = s =>
            {
                while (s.TryReceive(out var datagram))
                {
                    // IPv4 raw sockets see the IP header first (rip_input).
                    var bytes = datagram.Packet.Data;
                    var ihl = (bytes[0] & 0x0f) * 4;
                    var icmp = bytes[ihl..];
                    if (icmp.Length >= 8 && icmp[0] == 0 && BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]) == identifier)
                    {
                        replies.Add(BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]));
                        if (replies.Count == 3)
                        {
                            allReplied.TrySetResult();
                        }
                    }

                    datagram.Packet.Release();
                }
            };
            return raw;
        });

        for (ushort sequence = 0; sequence < 3; sequence++)
        {
            var seq = sequence;
            var sent = await host.Loop.InvokeAsync(() =>
            {
                var packet = host.Stack.Pool.RentCopy(BuildEchoRequest(identifier, seq));
                return host.Stack.OutputIPv4(packet, SluiceOnTap.SluiceV4, SluiceOnTap.LinuxV4, IPProtocol.Icmp);
            });
            Assert.Equal(Errno.None, sent);
            await Task.Delay(TimeSpan.FromMilliseconds(200));
        }

        await allReplied.Task.WaitAsync(Bound);
        await host.Loop.InvokeAsync(socket.Dispose);
        output.WriteLine("3 packets transmitted, 3 packets received, 0.0% packet loss");
    }

    [InteropFact]
    public async Task SluiceSendsUdpToSocatInLinux()
    {
        using var host = SluiceOnTap.Start(output);
        var receiver = host.Namespace.ExecAsync(Bound, "socat", "-u", "-T", "5", "UDP-RECV:9000", "-");
        await WaitForUdpListener(host, 9000);

        var message = "hello from sluice " + NetNamespace.RandomHex(4);
        var sent = await host.Loop.InvokeAsync(() =>
        {
            using var socket = host.Stack.OpenUdp();
            return socket.SendTo(Encoding.ASCII.GetBytes(message), new InetEndpoint(SluiceOnTap.LinuxV4, 9000));
        });
        Assert.Equal(Errno.None, sent);

        var result = await receiver;
        Assert.Contains(message, result.Stdout, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task SluiceReceivesUdpFromSocatInLinux()
    {
        using var host = SluiceOnTap.Start(output);
        var received = new TaskCompletionSource<(string Text, InetEndpoint From)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var socket = await host.Loop.InvokeAsync(() =>
        {
            var udp = host.Stack.OpenUdp();
            Assert.Equal(Errno.None, udp.Bind(SluiceOnTap.SluiceV4, 9001));
            udp.DataAvailable = s =>
            {
                var buffer = new byte[2048];
                while (s.TryReceive(buffer, out var length, out var from))
                {
                    received.TrySetResult((Encoding.ASCII.GetString(buffer, 0, length), from));
                }
            };
            return udp;
        });

        var message = "hello from linux " + NetNamespace.RandomHex(4);
        var send = host.Namespace.Exec(Bound, "sh", "-c", $"printf '%s' '{message}' | socat - UDP-SENDTO:192.0.2.2:9001");
        Assert.True(send.Succeeded, send.ToString());

        var (text, source) = await received.Task.WaitAsync(Bound);
        Assert.Equal(message, text);
        Assert.Equal((InetAddress)SluiceOnTap.LinuxV4, source.Address);
        await host.Loop.InvokeAsync(socket.Dispose);
    }

    [InteropFact]
    public async Task CaptureOfAPingExchangeDecodesInTshark()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sluice-{NetNamespace.RandomHex(4)}.pcap");
        try
        {
            using (var host = SluiceOnTap.Start(output))
            {
                var capture = await host.Loop.InvokeAsync(() =>
                {
                    var tap = new PcapFileTap(path, host.Loop.Loop.Clock);
                    host.Interface.AddTap(tap);
                    return tap;
                });

                var ping = host.Namespace.Exec(Bound, "ping", "-c", "3", "-i", "0.2", "-W", "2", "192.0.2.2");
                Assert.True(ping.Succeeded, ping.ToString());
                await host.Loop.InvokeAsync(() =>
                {
                    host.Interface.RemoveTap(capture);
                    capture.Dispose();
                });
            }

            var decoded = Command.Run("tshark", ["-n", "-r", path], Bound, output);
            Assert.True(decoded.Succeeded, decoded.ToString());
            Assert.DoesNotContain("[Malformed", decoded.Stdout, StringComparison.Ordinal);
            Assert.True(CountOf(decoded.Stdout, "Echo (ping) request") >= 3, decoded.Stdout);
            Assert.True(CountOf(decoded.Stdout, "Echo (ping) reply") >= 3, decoded.Stdout);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static int CountOf(string text, string what)
    {
        var count = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>An ICMP echo request (RFC 792) with 56 bytes of data, as ping(8) sends.</summary>
    private static byte[] BuildEchoRequest(ushort identifier, ushort sequence)
    {
        var message = new byte[8 + 56];
        message[0] = 8;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), identifier);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(6), sequence);
        for (var i = 8; i < message.Length; i++)
        {
            message[i] = (byte)i;
        }

        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), Checksum.Compute(message));
        return message;
    }

    private static async Task WaitForUdpListener(SluiceOnTap host, int port)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var sockets = host.Namespace.Exec(TimeSpan.FromSeconds(5), "ss", "-Hnul", $"sport = :{port}");
            if (sockets.Stdout.Contains($":{port}", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        throw new TimeoutException($"Nothing listens on UDP port {port} in {host.Namespace}.");
    }
}
