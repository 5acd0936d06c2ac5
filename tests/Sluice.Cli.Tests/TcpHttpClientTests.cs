using System.Net.Http;
using System.Security.Cryptography;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;

namespace Sluice.Cli.Tests;

/// <summary>An <see cref="HttpClient"/> whose connections are Sluice TCP (<see cref="SluiceConnect"/>), against httpd in another VNET.</summary>
public sealed class TcpHttpClientTests
{
    private const string Topology = """
        jail -c name=client vnet persist
        jail -c name=server vnet persist
        ifconfig epair0 create
        ifconfig epair0a vnet client
        ifconfig epair0b vnet server
        jexec client ifconfig epair0a inet 192.0.2.2/24 up
        jexec server ifconfig epair0b inet 192.0.2.1/24 up
        jexec server httpd -p 80 -g one:1m
        """;

    private static readonly byte[] OneMegabyte = Generated(1 << 20);

    [Fact]
    public void HttpClientGetsOneMegabyteOnAVirtualLoopDrivenByTheTestThread()
    {
        using var lab = new Lab(TextWriter.Null, TextWriter.Null);
        Assert.Equal(0, lab.RunScriptText(Topology, "http.lab"));
        using var client = new HttpClient(new SocketsHttpHandler { ConnectCallback = SluiceConnect.For(lab.Jail("client")!.Stack) });

        var task = lab.Loop.RunForeign(() => client.GetByteArrayAsync(new Uri("http://192.0.2.1/one")));
        Assert.True(lab.Loop.RunUntilCompleted(task, Nanos.FromSeconds(60)), "transfer did not finish");
        Assert.Equal(SHA256.HashData(OneMegabyte), SHA256.HashData(task.Result));

        // A second request reuses the pooled connection.
        var again = lab.Loop.RunForeign(() => client.GetAsync(new Uri("http://192.0.2.1/one")));
        Assert.True(lab.Loop.RunUntilCompleted(again, Nanos.FromSeconds(60)));
        Assert.Equal(System.Net.HttpStatusCode.OK, again.Result.StatusCode);
        var missing = lab.Loop.RunForeign(() => client.GetAsync(new Uri("http://192.0.2.1/none")));
        Assert.True(lab.Loop.RunUntilCompleted(missing, Nanos.FromSeconds(60)));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.Result.StatusCode);
    }

    [Fact]
    public void TcpStreamVirtualTimeContractWithPlainRunUntil()
    {
        // TcpStream's remarks: start the operation, then loop.RunUntil(() => task.IsCompleted, timeout). That holds for a
        // single ReadAsync/WriteAsync issued by the test thread; it is checked here on a raw TcpStream.
        using var lab = new Lab(TextWriter.Null, TextWriter.Null);
        Assert.Equal(0, lab.RunScriptText(Topology, "http.lab"));
        var connect = SluiceConnect.ConnectAsync(lab.Jail("client")!.Stack, "192.0.2.1", 80).AsTask();
        Assert.True(lab.Loop.RunUntil(() => connect.IsCompleted, Nanos.FromSeconds(5)));
        using var stream = connect.Result;
        var write = stream.WriteAsync("GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray()).AsTask();
        Assert.True(lab.Loop.RunUntil(() => write.IsCompleted, Nanos.FromSeconds(5)));
        var received = new MemoryStream();
        var buffer = new byte[16384];
        for (var i = 0; i < 10_000; i++)
        {
            var read = stream.ReadAsync(buffer).AsTask();
            Assert.True(lab.Loop.RunUntil(() => read.IsCompleted, Nanos.FromSeconds(5)), "read did not complete");
            if (read.Result == 0)
            {
                break;
            }

            received.Write(buffer, 0, read.Result);
        }

        var bytes = received.ToArray();
        var body = bytes.AsSpan(bytes.AsSpan().IndexOf("\r\n\r\n"u8) + 4);
        Assert.True(body.SequenceEqual(OneMegabyte));
    }

    [Fact]
    public async Task HttpClientGetsOneMegabyteWithTheLoopOnItsOwnThread()
    {
        using var lab = Lab.CreateRealTime(TextWriter.Null, TextWriter.Null);
        Assert.Equal(0, lab.RunScriptText(Topology, "http.lab"));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var thread = new Thread(() => lab.Loop.Run(stop.Token)) { IsBackground = true, Name = "sluice loop" };
        thread.Start();
        try
        {
            using var client = new HttpClient(new SocketsHttpHandler { ConnectCallback = SluiceConnect.For(lab.Jail("client")!.Stack) })
            {
                Timeout = TimeSpan.FromSeconds(30),
            };
            var body = await client.GetByteArrayAsync(new Uri("http://192.0.2.1/one"));
            Assert.Equal(SHA256.HashData(OneMegabyte), SHA256.HashData(body));
            var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("http://192.0.2.1:81/x")));
            Assert.Contains("refused", refused.ToString(), StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            await stop.CancelAsync();
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        }
    }

    private static byte[] Generated(int length)
    {
        var data = new byte[length];
        Httpd.FillGenerated(data, 0);
        return data;
    }
}
