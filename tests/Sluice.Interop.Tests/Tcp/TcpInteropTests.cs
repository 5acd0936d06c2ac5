using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Sluice.Cli;
using Sluice.Interop.Tests.Cli;
using Sluice.Interop.Tests.Infrastructure;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Wire;

namespace Sluice.Interop.Tests.Tcp;

/// <summary>
/// Sluice TCP against the Linux kernel through a TAP device in a fresh namespace: curl downloads from Sluice's httpd,
/// Sluice's fetch downloads from python's http.server (10 MB, byte-identical, under both function blocks), and
/// half-closed and abortive closes as Linux sees them. Sluice is 192.0.2.2, Linux 192.0.2.1.
/// </summary>
public sealed class TcpInteropTests(ITestOutputHelper output)
{
    private const int TenMegabytes = 10 << 20;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    [InteropTheory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void CurlDownloadsTenMegabytesFromSluiceHttpd(string stack)
    {
        var file = TempPath("curl");
        try
        {
            using var live = Start(stack, out var ns);
            live.Run("httpd -p 80 -g big:10m");
            var watch = Stopwatch.StartNew();
            var curl = live.Drive(
                ns.ExecAsync(Bound, "curl", "-sS", "--max-time", "80", "-o", file, "-w", "%{http_code} %{size_download} %{speed_download}", "http://192.0.2.2/big"),
                Bound);
            watch.Stop();
            Assert.True(curl.Succeeded, curl.ToString());
            Assert.StartsWith($"200 {TenMegabytes} ", curl.Stdout, StringComparison.Ordinal);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(Generated(TenMegabytes))), Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file))));
            Report($"curl <- Sluice httpd ({stack})", watch.Elapsed);
            Command.Log(output, live.Run("netstat -s -p tcp"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [InteropTheory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void SluiceFetchDownloadsTenMegabytesFromPythonHttpServer(string stack)
    {
        var dir = Directory.CreateTempSubdirectory("sluice-www-").FullName;
        var target = TempPath("fetch");
        try
        {
            var data = RandomNumberGenerator.GetBytes(TenMegabytes);
            File.WriteAllBytes(Path.Combine(dir, "big.bin"), data);
            using var live = Start(stack, out var ns);
            _ = ns.ExecAsync(Bound, "python3", "-m", "http.server", "8000", "--bind", "192.0.2.1", "--directory", dir);
            WaitForListener(live, ns, 8000);

            var watch = Stopwatch.StartNew();
            live.Run($"fetch -o {target} http://192.0.2.1:8000/big.bin");
            watch.Stop();
            Assert.Equal(Convert.ToHexString(SHA256.HashData(data)), Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(target))));
            Assert.Contains(target.PadRight(46) + "          10 MB ", live.Stderr, StringComparison.Ordinal);
            Report($"Sluice fetch <- python http.server ({stack})", watch.Elapsed);
            Command.Log(output, live.Run("netstat -an"));
        }
        finally
        {
            File.Delete(target);
            Directory.Delete(dir, recursive: true);
        }
    }

    [InteropFact]
    public void SluiceStillSendsItsResponseAfterSocatHalfClosesThenCloses()
    {
        var file = TempPath("socat");
        try
        {
            using var live = Start("freebsd", out var ns);
            live.Run("httpd -p 80 -g half:1m");

            // socat sends the request, reaches EOF on its input and shuts down its write side; it keeps reading until
            // Sluice closes (-t bounds the wait for that after its own half-close).
            var socat = live.Drive(
                ns.ExecAsync(Bound, "sh", "-c", $"printf 'GET /half HTTP/1.1\\r\\nHost: sluice\\r\\n\\r\\n' | socat -t 30 - TCP:192.0.2.2:80 > {file}"),
                Bound);
            Assert.True(socat.Succeeded, socat.ToString());
            var bytes = File.ReadAllBytes(file);
            var split = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
            Assert.True(split > 0, "no response head");
            Assert.StartsWith("HTTP/1.1 200 OK\r\n", System.Text.Encoding.ASCII.GetString(bytes, 0, split), StringComparison.Ordinal);
            Assert.True(bytes.AsSpan(split + 4).SequenceEqual(Generated(1 << 20)), "body differs");

            // Sluice closed after its data: Linux, which sent the first FIN, holds TIME_WAIT; Sluice keeps nothing.
            var ss = ns.Exec("ss", "-tan", "state", "time-wait");
            Assert.Contains("192.0.2.2:80", ss.Stdout, StringComparison.Ordinal);
            live.Lab.Loop.RunUntil(() => false, (long)TimeSpan.FromMilliseconds(200).TotalNanoseconds);
            Assert.DoesNotContain("192.0.2.1", live.Run("netstat -an"), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [InteropFact]
    public void LinuxSeesConnectionResetByPeerWhenSluiceClosesWithLingerZero()
    {
        using var live = Start("freebsd", out var ns);
        var stack = live.Lab.Host;
        var aborted = false;
        var listener = stack.OpenTcp();
        Assert.Equal(Errno.None, listener.Bind(IPv4Address.Any, 9000));
        Assert.Equal(Errno.None, listener.Listen(4));
        listener.Readable = l =>
        {
            while (l.TryAccept(out var c) == Errno.None && c is not null)
            {
                void OnData(TcpSocket s)
                {
                    var buffer = new byte[256];
                    if (s.Receive(buffer) > 0 && !aborted)
                    {
                        Assert.Equal(Errno.None, s.SetOption(TcpSocketOption.SO_LINGER, 0));
                        s.Close();
                        aborted = true;
                    }
                }

                c.Readable = OnData;
                OnData(c);
            }
        };

        const string Client = """
            import socket
            s = socket.create_connection(("192.0.2.2", 9000), timeout=20)
            s.sendall(b"hello")
            try:
                while True:
                    if not s.recv(65536):
                        print("EOF")
                        break
            except OSError as e:
                print(type(e).__name__, e)
            """;
        var python = live.Drive(ns.ExecAsync(Bound, "python3", "-c", Client), Bound);
        Assert.True(python.Succeeded, python.ToString());
        Assert.True(aborted);
        Assert.Equal("ConnectionResetError [Errno 104] Connection reset by peer\n", python.Stdout);
        Assert.Equal(TcpState.Listen, listener.State);
        listener.Close();
        Assert.DoesNotContain("192.0.2.1", live.Run("netstat -an"), StringComparison.Ordinal);
    }

    private LiveLab Start(string stack, out NetNamespace ns)
    {
        var live = new LiveLab(output);
        try
        {
            live.Run("ifconfig tap0 create");
            live.Run("ifconfig tap0 inet 192.0.2.2/24 up");
            live.Run($"sysctl net.inet.tcp.functions_default={stack}");
            ns = live.CreateNamespace();
            ns.AdoptAndConfigure(live.LinuxName("tap0"), "192.0.2.1/24", ipv6: null);
            return live;
        }
        catch
        {
            live.Dispose();
            throw;
        }
    }

    // Polls `ss` until the Linux server listens (bounded: 100 tries, the lab's loop kept running between them).
    private static void WaitForListener(LiveLab live, NetNamespace ns, int port)
    {
        for (var i = 0; i < 100; i++)
        {
            var ss = ns.Exec(TimeSpan.FromSeconds(5), "ss", "-ltn");
            if (ss.Stdout.Contains($":{port} ", StringComparison.Ordinal))
            {
                return;
            }

            live.Lab.Loop.RunUntil(() => false, (long)TimeSpan.FromMilliseconds(100).TotalNanoseconds);
        }

        Assert.Fail($"nothing listens on port {port} in {ns.Name}");
    }

    private void Report(string what, TimeSpan elapsed)
    {
        var mbit = TenMegabytes * 8 / elapsed.TotalSeconds / 1e6;
        Command.Log(output, string.Create(CultureInfo.InvariantCulture, $"{what}: 10 MiB in {elapsed.TotalMilliseconds:F0} ms = {mbit:F1} Mbit/s"));
    }

    private static string TempPath(string tag) => Path.Combine(Path.GetTempPath(), $"sluice-{tag}-{NetNamespace.RandomHex(4)}");

    private static byte[] Generated(int length)
    {
        var data = new byte[length];
        Httpd.FillGenerated(data, 0);
        return data;
    }
}
