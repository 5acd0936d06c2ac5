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
/// Many VNET stacks in one process on one virtual-time event loop, driven by FreeBSD commands.
/// </summary>
/// <remarks>
/// Single-threaded: every command runs on the caller's thread, and between commands the loop runs pending work.
/// Commands never throw for bad input; they print FreeBSD's diagnostics and return a non-zero status.
/// </remarks>
public sealed class Lab : IDisposable
{
    private readonly List<LabJail> _jails = [];
    private readonly Dictionary<string, int> _cloneUnits = new(StringComparer.Ordinal);
    private int _nextJid = 1;

    /// <summary>Creates a lab with a host stack; command output goes to <paramref name="stdout"/> and <paramref name="stderr"/>.</summary>
    public Lab(TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        Out = stdout;
        Err = stderr;
        Loop = EventLoop.CreateVirtual();
        Host = new NetStack(Loop, new NetStackOptions { Name = "host", Hostname = "sluice" });
    }

    /// <summary>Where commands print their output.</summary>
    public TextWriter Out { get; }

    /// <summary>Where commands print their diagnostics.</summary>
    public TextWriter Err { get; }

    /// <summary>The virtual-time loop all stacks run on.</summary>
    public EventLoop Loop { get; }

    /// <summary>The host's stack (VNET 0).</summary>
    public NetStack Host { get; }

    /// <summary>Exceptions a tool let escape (bugs: tests assert this stays 0).</summary>
    internal int InternalErrors { get; private set; }

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

    /// <inheritdoc />
    public void Dispose()
    {
        Out.Flush();
        Err.Flush();
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
