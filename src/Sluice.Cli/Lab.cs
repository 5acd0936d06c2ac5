using Sluice.Stack;
using Sluice.Stack.Time;

namespace Sluice.Cli;

/// <summary>A jail: a name, a jid, a hostname, a path, and (with <c>vnet</c>) its own network stack.</summary>
public sealed class LabJail
{
    private string _hostname;

    internal LabJail(int jid, string name, string hostname, string path, bool vnet, NetStack stack)
    {
        Jid = jid;
        Name = name;
        _hostname = hostname;
        Path = path;
        Vnet = vnet;
        Stack = stack;
    }

    /// <summary>The jail id, from 1 up.</summary>
    public int Jid { get; }

    /// <summary>The jail's name.</summary>
    public string Name { get; }

    /// <summary><c>host.hostname</c> (a VNET jail's is its stack's <c>kern.hostname</c>).</summary>
    public string Hostname
    {
        get => Vnet ? Stack.Hostname : _hostname;
        internal set
        {
            _hostname = value;
            if (Vnet)
            {
                Stack.Hostname = value;
            }
        }
    }

    /// <summary>The jail's root path (informational).</summary>
    public string Path { get; }

    /// <summary>True when the jail has its own VNET.</summary>
    public bool Vnet { get; }

    /// <summary>The stack commands inside the jail run against (the host's for a non-VNET jail).</summary>
    public NetStack Stack { get; }
}

/// <summary>
/// Many VNET stacks in one process on one event loop, driven by FreeBSD commands: on virtual time (the default) or on
/// real time with Linux TAP devices (<see cref="CreateRealTime"/>).
/// </summary>
/// <remarks>
/// Single-threaded: every command runs on the caller's thread, and between commands the loop runs pending work.
/// Commands never throw for bad input; they print FreeBSD's diagnostics and return a non-zero status.
/// </remarks>
public sealed class Lab : IDisposable
{
    private readonly List<LabJail> _jails = [];
    private readonly Dictionary<string, int> _cloneUnits = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private int _nextJid = 1;
    private bool _disposed;

    /// <summary>Creates a lab with a host stack; command output goes to <paramref name="stdout"/> and <paramref name="stderr"/>.</summary>
    public Lab(TextWriter stdout, TextWriter stderr)
        : this(stdout, stderr, EventLoop.CreateVirtual(), string.Empty)
    {
    }

    private Lab(TextWriter stdout, TextWriter stderr, EventLoop loop, string linuxInterfacePrefix)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        Out = stdout;
        Err = stderr;
        Loop = loop;
        LinuxInterfacePrefix = linuxInterfacePrefix;
        Host = new NetStack(Loop, new NetStackOptions { Name = "host", Hostname = "sluice" });
        if (!loop.Clock.IsVirtual)
        {
            // Capture timestamps are the loop clock plus the Unix time at which that clock read 0.
            UnixTimeOffsetNanoseconds = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100 - loop.Clock.Now; // clock-ok: pcap wall-clock epoch
        }
    }

    /// <summary>
    /// Creates a lab on real time: its loop runs on a <see cref="RealClock"/>, it can create Linux TAP devices
    /// (<c>ifconfig tapN create</c>), and tools that wait (ping, sleep) wait in real time.
    /// </summary>
    /// <remarks>
    /// The loop runs only on the thread that calls the lab's methods: between commands it runs pending work, and a
    /// waiting tool drives it. Keep it running between commands with <see cref="RunUntilStopped"/> or
    /// <c>Loop.RunUntil(condition, timeout)</c>. The Linux device of <c>tapN</c> is named
    /// <paramref name="linuxInterfacePrefix"/> + <c>tapN</c> (at most 15 bytes in all).
    /// </remarks>
    public static Lab CreateRealTime(TextWriter stdout, TextWriter stderr, string linuxInterfacePrefix = "")
    {
        ArgumentNullException.ThrowIfNull(linuxInterfacePrefix);
        return new Lab(stdout, stderr, new EventLoop(new RealClock()), linuxInterfacePrefix);
    }

    /// <summary>True when the lab runs on real time (see <see cref="CreateRealTime"/>).</summary>
    public bool IsRealTime => !Loop.Clock.IsVirtual;

    /// <summary>Prepended to a TAP interface's name to name its Linux device (real-time labs).</summary>
    public string LinuxInterfacePrefix { get; }

    /// <summary>Fires when <see cref="Stop"/> is called or the time given to <see cref="StopAfter"/> has passed.</summary>
    public CancellationToken Stopping => _stop.Token;

    /// <summary>Nanoseconds to add to the loop clock for Unix time (0 on virtual time: captures start at the epoch).</summary>
    public long UnixTimeOffsetNanoseconds { get; }

    /// <summary>Where commands print their output.</summary>
    public TextWriter Out { get; }

    /// <summary>Where commands print their diagnostics.</summary>
    public TextWriter Err { get; }

    /// <summary>Standard input for tools that read it (<c>setkey -c</c>); null reads as empty.</summary>
    public TextReader? Input { get; set; }

    /// <summary>The loop all stacks run on (virtual time unless the lab was created with <see cref="CreateRealTime"/>).</summary>
    public EventLoop Loop { get; }

    /// <summary>The host's stack (VNET 0).</summary>
    public NetStack Host { get; }

    /// <summary>Exceptions a tool let escape (bugs: tests assert this stays 0).</summary>
    internal int InternalErrors { get; private set; }

    /// <summary>Live TAP interfaces by unit, wherever (in which VNET) they are now.</summary>
    internal Dictionary<int, Sluice.Stack.Interfaces.NetworkInterface> Taps { get; } = [];

    /// <summary>Running <c>tcpdump -w</c> captures; closed when they reach their count or the lab ends.</summary>
    internal List<TcpdumpCapture> Captures { get; } = [];

    /// <summary>Live epairs by unit: both ends, wherever (in which VNET) they are now.</summary>
    internal Dictionary<int, (Sluice.Stack.Interfaces.NetworkInterface A, Sluice.Stack.Interfaces.NetworkInterface B)> Epairs { get; } = [];

    /// <summary>The jails, in creation order.</summary>
    public IReadOnlyList<LabJail> Jails => _jails;

    /// <summary>Finds a jail by name or jid; null when there is none.</summary>
    public LabJail? Jail(string nameOrJid)
    {
        foreach (var j in _jails)
        {
            if (j.Name == nameOrJid)
            {
                return j;
            }
        }

        if (int.TryParse(nameOrJid, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var jid))
        {
            foreach (var j in _jails)
            {
                if (j.Jid == jid)
                {
                    return j;
                }
            }
        }

        return null;
    }

    /// <summary>Tokenizes <paramref name="commandLine"/> like sh and runs it on the host; returns the exit status.</summary>
    public int Execute(string commandLine)
    {
        if (!ShellWords.TrySplit(commandLine ?? string.Empty, out var words, out var error))
        {
            Err.WriteLine($"sluice: {error}");
            return 2;
        }

        return Execute(words.ToArray());
    }

    /// <summary>Runs one command given as words (<c>argv[0]</c> is the tool) on the host; returns the exit status.</summary>
    public int Execute(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        var args = argv.ToArray();
        var status = Run(args, null, Out, Err);
        Loop.RunPending();
        return status;
    }

    /// <summary>Runs the lab script at <paramref name="path"/> ("-" reads stdin); stops at the first failing command.</summary>
    public int RunScript(string path)
    {
        string text;
        try
        {
            text = path == "-" ? Console.In.ReadToEnd() : File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Err.WriteLine($"sluice: {path}: {Describe(e)}");
            return Cli.ExitNoInput;
        }

        return RunScriptText(text, path);
    }

    /// <summary>Runs script <paramref name="text"/>, naming it <paramref name="fileName"/> in diagnostics.</summary>
    public int RunScriptText(string text, string fileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var command in LabScript.Parse(text))
        {
            if (!ShellWords.TrySplit(command.Text, out var words, out var error))
            {
                Err.WriteLine($"{fileName}:{command.Line}: {command.Text}: {error}");
                return 2;
            }

            if (words.Count == 0)
            {
                continue;
            }

            // sh's "! cmd" inverts the status: a lab can assert that a command fails.
            if (_stop.IsCancellationRequested)
            {
                Out.Flush();
                Err.WriteLine($"{fileName}:{command.Line}: {command.Text}: interrupted");
                return 130;
            }

            var negate = words[0] == "!";
            var argv = negate ? words.Skip(1).ToArray() : words.ToArray();
            var tee = new LastLineWriter(Err);
            var status = argv.Length == 0 ? 0 : Run(argv, null, Out, tee);
            Loop.RunPending();
            if (negate)
            {
                status = status == 0 ? 1 : 0;
            }

            if (status != 0)
            {
                Out.Flush();
                var reason = negate ? "command unexpectedly succeeded" : tee.LastLine ?? $"exit status {status}";
                Err.WriteLine($"{fileName}:{command.Line}: {command.Text}: {reason}");
                return status;
            }
        }

        Out.Flush();
        return 0;
    }

    /// <summary>Runs a tool inside <paramref name="jail"/> (null: the host).</summary>
    internal int Run(ReadOnlySpan<string> argv, LabJail? jail, TextWriter stdout, TextWriter stderr)
    {
        if (argv.Length == 0)
        {
            return 0;
        }

        var name = argv[0] ?? string.Empty;
        var program = name.Contains('/', StringComparison.Ordinal) ? name[(name.LastIndexOf('/') + 1)..] : name;
        if (!Tools.TryGet(program, out var tool))
        {
            stderr.WriteLine($"sluice: {name}: command not found");
            return 127;
        }

        var context = new ToolContext(this, jail, jail?.Stack ?? Host, stdout, stderr, program);
        try
        {
            return tool.Run(context, argv[1..]);
        }
        catch (Exception e) when (e is not (OutOfMemoryException or StackOverflowException))
        {
            // A tool bug must not take the lab down; report it like a failed system call.
            InternalErrors++;
            stderr.WriteLine($"{program}: internal error: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    internal LabJail CreateJail(string name, string? hostname, string path, bool vnet)
    {
        // Without host.hostname a jail inherits its parent's name (prison0's here).
        hostname ??= Host.Hostname;
        var stack = vnet ? new NetStack(Loop, new NetStackOptions { Name = name, Hostname = hostname, Seed = _nextJid + 1 }) : Host;
        var jail = new LabJail(_nextJid++, name, hostname, path, vnet, stack);
        _jails.Add(jail);
        return jail;
    }

    internal void RemoveJail(LabJail jail) => _jails.Remove(jail);

    /// <summary>Takes the lowest free unit of a cloner (epair units are global, like FreeBSD's).</summary>
    internal int AllocateUnit(string cloner, Func<int, bool> inUse)
    {
        for (var unit = 0; unit < 32768; unit++)
        {
            if (!inUse(unit))
            {
                _cloneUnits[cloner] = Math.Max(_cloneUnits.GetValueOrDefault(cloner), unit + 1);
                return unit;
            }
        }

        return -1;
    }

    /// <summary>All stacks: the host's, then each VNET jail's.</summary>
    internal IEnumerable<NetStack> AllStacks()
    {
        yield return Host;
        foreach (var j in _jails)
        {
            if (j.Vnet)
            {
                yield return j.Stack;
            }
        }
    }

    /// <summary>The jail owning <paramref name="stack"/>, or null for the host.</summary>
    internal LabJail? JailOf(NetStack stack)
    {
        foreach (var j in _jails)
        {
            if (j.Vnet && ReferenceEquals(j.Stack, stack))
            {
                return j;
            }
        }

        return null;
    }

    /// <summary>Asks a real-time lab to stop: a waiting tool returns, the script stops, <see cref="RunUntilStopped"/> returns. Any thread.</summary>
    public void Stop()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Stopped after the lab was disposed: nothing left to stop.
        }

        Loop.Wake();
    }

    /// <summary>Stops the lab after <paramref name="delay"/> of real time (see <see cref="Stop"/>).</summary>
    public void StopAfter(TimeSpan delay) => _stop.CancelAfter(delay);

    /// <summary>
    /// Real time: keeps the loop running on the calling thread (forwarding, answering) until <see cref="Stop"/> or
    /// <paramref name="limit"/> (null: no limit besides Stop). Virtual time: runs the loop for <paramref name="limit"/> (null: pending work only).
    /// </summary>
    public void RunUntilStopped(TimeSpan? limit = null)
    {
        var ns = limit is { } l ? (long)Math.Min(l.TotalNanoseconds, long.MaxValue / 4) : long.MaxValue / 4;
        if (!IsRealTime)
        {
            if (limit is null)
            {
                Loop.RunPending();
            }
            else
            {
                Loop.RunFor(ns);
            }

            return;
        }

        Loop.RunUntil(() => _stop.IsCancellationRequested, ns, _stop.Token);
    }

    /// <summary>Ends the captures, destroys the TAP interfaces (their Linux devices go) and flushes the output.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var capture in Captures.ToArray())
        {
            capture.Close();
        }

        foreach (var ifp in Taps.Values)
        {
            ifp.Stack.DestroyInterface(ifp);
        }

        Taps.Clear();
        Loop.RunPending();
        Out.Flush();
        Err.Flush();
        _stop.Dispose();
    }

    private static string Describe(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "No such file or directory",
        UnauthorizedAccessException => "Permission denied",
        _ => e.Message,
    };

    /// <summary>Passes text through and remembers the last non-empty line (for the FILE:LINE context).</summary>
    private sealed class LastLineWriter(TextWriter inner) : TextWriter
    {
        private readonly System.Text.StringBuilder _current = new();

        public string? LastLine { get; private set; }

        public override System.Text.Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            inner.Write(value);
            if (value == '\n')
            {
                if (_current.Length > 0)
                {
                    LastLine = _current.ToString();
                }

                _current.Clear();
            }
            else
            {
                _current.Append(value);
            }
        }

        public override void Write(string? value)
        {
            foreach (var c in value ?? string.Empty)
            {
                Write(c);
            }
        }

        public override void Flush() => inner.Flush();
    }
}
