using Sluice.Cli;
using Sluice.Interop.Tests.Infrastructure;

namespace Sluice.Interop.Tests.Cli;

/// <summary>
/// A real-time <see cref="Lab"/> driven from the test thread (commands and loop on one thread, as in <c>sluice run</c>),
/// with its TAP devices named <see cref="Prefix"/> + <c>tapN</c> on Linux and the namespaces the test makes.
/// </summary>
/// <remarks>Dispose order: the lab (captures closed, TAP devices removed), then the namespaces — also on failure.</remarks>
public sealed class LiveLab : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly List<NetNamespace> _namespaces = [];
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();
    private int _disposed;

    public LiveLab(ITestOutputHelper output)
    {
        _output = output;
        Prefix = "s" + NetNamespace.RandomHex(3);
        Lab = Lab.CreateRealTime(_out, _err, Prefix);
    }

    /// <summary>Prepended to <c>tapN</c> for the Linux device's name (unique per test).</summary>
    public string Prefix { get; }

    public Lab Lab { get; }

    /// <summary>Everything the lab's commands printed on stderr so far.</summary>
    public string Stderr => _err.ToString();

    /// <summary>The Linux name of the lab's interface <paramref name="tapName"/>.</summary>
    public string LinuxName(string tapName) => Prefix + tapName;

    /// <summary>Runs one lab command, requires exit status 0, and returns what it printed on stdout.</summary>
    public string Run(string command)
    {
        var (status, text) = TryRun(command);
        Assert.True(status == 0, $"`{command}` exit {status}\n{text}\n--- lab stderr\n{_err}");
        return text;
    }

    /// <summary>Runs one lab command; returns its status and stdout.</summary>
    public (int Status, string Stdout) TryRun(string command)
    {
        var before = _out.GetStringBuilder().Length;
        var status = Lab.Execute(command);
        var text = _out.GetStringBuilder().ToString(before, _out.GetStringBuilder().Length - before);
        Command.Log(_output, $"sluice# {command}  -> {status}\n{text}".TrimEnd());
        return (status, text);
    }

    /// <summary>A fresh namespace, deleted with the lab.</summary>
    public NetNamespace CreateNamespace()
    {
        var ns = NetNamespace.Create(_output);
        _namespaces.Add(ns);
        return ns;
    }

    /// <summary>Keeps the lab's loop running on this thread (forwarding, answering) until <paramref name="task"/> completes.</summary>
    public T Drive<T>(Task<T> task, TimeSpan bound)
    {
        Lab.Loop.RunUntil(() => task.IsCompleted, (long)bound.TotalNanoseconds);
        Assert.True(task.IsCompleted, $"not done within {bound}");
        return task.GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            Lab.Dispose();
            Command.Log(_output, $"--- lab stderr\n{_err}".TrimEnd());
        }
        catch (Exception e)
        {
            Command.Log(_output, $"[interop] lab cleanup: {e}");
        }

        for (var i = _namespaces.Count - 1; i >= 0; i--)
        {
            _namespaces[i].Dispose();
        }
    }
}
