using System.Globalization;
using Sluice.Stack;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;

namespace Sluice.Cli;

/// <summary>
/// A small emulated network for deterministic client tests in .NET: a client and a server stack joined through a
/// router whose dummynet pipes shape each direction (`ipfw pipe N config` grammar), on virtual time. An
/// <see cref="HttpClient"/> from <see cref="CreateHttpClient"/> runs its connections over the client stack's TCP.
/// </summary>
/// <remarks>
/// Topology: client 192.0.2.2 — (192.0.2.1) router (198.51.100.1) — server 198.51.100.2. Pipe 1 carries client→server
/// traffic, pipe 2 server→client. The server jail runs whatever <see cref="Execute"/> starts in it
/// (<c>jexec server httpd -p 80 -g file:1m</c>), or a TcpSocket of the test's own on <see cref="Server"/>.
/// Drive the loop with <see cref="Run{T}(Func{Task{T}}, TimeSpan)"/> on the calling thread, or run it on a dedicated
/// thread (<c>wan.Loop.Run(token)</c>) and await the client anywhere: virtual time waits for the client's code between its
/// operations (<see cref="EventLoop"/>), so virtual durations are exact and the same on every run.
/// </remarks>
public sealed class EmulatedWan : IDisposable
{
    /// <summary>The client's address.</summary>
    public const string ClientAddress = "192.0.2.2";

    /// <summary>The server's address.</summary>
    public const string ServerAddress = "198.51.100.2";

    /// <summary>Builds the network; <paramref name="clientToServer"/> and <paramref name="serverToClient"/> are pipe configurations such as <c>bw 10Mbit/s delay 50ms plr 0.01</c>.</summary>
    /// <exception cref="ArgumentException">A pipe configuration is not valid dummynet syntax (the message is dnctl's error).</exception>
    public EmulatedWan(string clientToServer, string serverToClient, TextWriter? log = null)
    {
        var errors = new StringWriter(CultureInfo.InvariantCulture);
        Lab = new Lab(log ?? TextWriter.Null, errors);
        var script = $"""
            jail -c name=client vnet persist
            jail -c name=router vnet persist
            jail -c name=server vnet persist
            ifconfig epair0 create
            ifconfig epair1 create
            ifconfig epair0a vnet client
            ifconfig epair0b vnet router
            ifconfig epair1a vnet router
            ifconfig epair1b vnet server
            jexec client ifconfig epair0a inet {ClientAddress}/24 up
            jexec router ifconfig epair0b inet 192.0.2.1/24 up
            jexec router ifconfig epair1a inet 198.51.100.1/24 up
            jexec server ifconfig epair1b inet {ServerAddress}/24 up
            jexec client route add default 192.0.2.1
            jexec server route add default 198.51.100.1
            jexec router sysctl net.inet.ip.forwarding=1
            jexec router ipfw -q pipe 1 config {clientToServer}
            jexec router ipfw -q pipe 2 config {serverToClient}
            jexec router ipfw -q add 100 pipe 1 ip from any to any in recv epair0b
            jexec router ipfw -q add 200 pipe 2 ip from any to any in recv epair1a
            jexec router ipfw -q add 65000 allow ip from any to any
            """;
        if (Lab.RunScriptText(script, "emulated-wan") != 0)
        {
            var message = errors.ToString().Trim();
            Lab.Dispose();
            throw new ArgumentException($"emulated WAN: {message}");
        }

        Client = Lab.Jail("client")!.Stack;
        Server = Lab.Jail("server")!.Stack;
        Router = Lab.Jail("router")!.Stack;
    }

    /// <summary>The lab behind the network (jails `client`, `router`, `server`).</summary>
    public Lab Lab { get; }

    /// <summary>The client's stack.</summary>
    public NetStack Client { get; }

    /// <summary>The server's stack.</summary>
    public NetStack Server { get; }

    /// <summary>The router's stack (ipfw and dummynet live here).</summary>
    public NetStack Router { get; }

    /// <summary>The event loop (virtual time).</summary>
    public EventLoop Loop => Lab.Loop;

    /// <summary>Virtual time now, in nanoseconds.</summary>
    public long Now => Lab.Loop.Now;

    /// <summary>Runs a FreeBSD command in the lab (e.g. <c>jexec server httpd -p 80 -g big:10m</c>); returns its exit status.</summary>
    public int Execute(string command) => Lab.Execute(command);

    /// <summary>An HttpClient whose connections go over the client stack's TCP.</summary>
    public HttpClient CreateHttpClient() => new(new SocketsHttpHandler { ConnectCallback = SluiceConnect.For(Client), UseProxy = false });

    /// <summary>
    /// Runs <paramref name="body"/> as foreign work of the loop (<see cref="EventLoop.RunForeign{T}"/>) and drives the
    /// loop on the calling thread until it completes; returns its result. Virtual durations measured inside the body
    /// (<see cref="Now"/> before and after an <c>await</c>) are the same on every run.
    /// </summary>
    /// <exception cref="TimeoutException">The body did not complete within <paramref name="virtualTimeout"/> of virtual
    /// time, or the loop's foreign watchdog fired (the body blocked, or awaited something that is not on the loop).</exception>
    public T Run<T>(Func<Task<T>> body, TimeSpan virtualTimeout)
    {
        ArgumentNullException.ThrowIfNull(body);
        return Run(Lab.Loop.RunForeign(body), virtualTimeout);
    }

    /// <summary>Drives the loop on the calling thread until <paramref name="task"/> completes and returns its result.</summary>
    /// <remarks>Prefer <see cref="Run{T}(Func{Task{T}}, TimeSpan)"/>: a task started on the test thread runs its first steps
    /// outside the loop's foreign context.</remarks>
    /// <exception cref="TimeoutException">The task did not complete within <paramref name="virtualTimeout"/> of virtual
    /// time, or the loop's foreign watchdog fired.</exception>
    public T Run<T>(Task<T> task, TimeSpan virtualTimeout)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (!Lab.Loop.RunUntilCompleted(task, virtualTimeout.Ticks * 100))
        {
            throw new TimeoutException($"the task did not complete within {virtualTimeout} of virtual time");
        }

        return task.GetAwaiter().GetResult();
    }

    /// <inheritdoc />
    public void Dispose() => Lab.Dispose();
}
