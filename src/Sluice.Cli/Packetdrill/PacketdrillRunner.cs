using System.Globalization;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Cli.Packetdrill;

/// <summary>
/// Runs a parsed packetdrill script against a fresh <see cref="NetStack"/> on virtual time, the way packetdrill runs
/// one against a kernel through a tun device: inbound packets are injected at their script times, outbound packets
/// are captured and checked field by field within the timing tolerance, system calls go to the socket API.
/// </summary>
/// <remarks>
/// Addresses as packetdrill's defaults (local 192.168.0.1, remote 192.0.2.1; IPv6 fd3d:fa7b:d17d::1 and
/// fd3d:fa7b:d17d:8888::1), local port 8080 for bind and remote port 8080 for connect. Inbound sequence numbers are
/// used as written (the script's remote ISN is the live one); outbound ones are shifted by the stack's ISN learned from
/// its SYN. Never throws: the first failure is returned as <c>FILE:LINE: message</c>.
/// </remarks>
internal sealed partial class PacketdrillRunner
{
    private const long DefaultToleranceMicros = 4000;
    private const long AnyTimeWindowMicros = 3_600_000_000;
    private const ushort LocalPort = 8080;
    private const ushort RemotePortDefault = 50_123;

    private static readonly MacAddress RemoteMac = new(0x02_00_00_00_00_02UL);

    private readonly PacketdrillScript _script;
    private readonly string _stackName;
    private readonly TextWriter _log;
    private readonly bool _ipv6;
    private readonly long _tolerance;
    private readonly bool _nonFatalSyscall;
    private readonly int _mtu;

    private EventLoop _loop = null!;
    private NetStack _stack = null!;
    private TcpStack _tcp = null!;
    private CaptureLink _link = null!;
    private long _t0;
    private long _lastMicros;
    private int _line;

    private InetAddress _localAddress;
    private InetAddress _remoteAddress;
    private ushort _localPort = LocalPort;
    private ushort _remotePort = RemotePortDefault;
    private uint _localIsnOffset;
    private readonly Dictionary<uint, uint> _tsMap = [];
    private uint? _lastTsOffset;

    public PacketdrillRunner(PacketdrillScript script, string stackName, TextWriter log)
    {
        _script = script;
        _stackName = stackName;
        _log = log;
        var o = script.Options;
        _ipv6 = o.TryGetValue("ip_version", out var v) && v == "ipv6";
        _tolerance = o.TryGetValue("tolerance_usecs", out var t) && long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var tol) ? tol : DefaultToleranceMicros;
        _nonFatalSyscall = o.TryGetValue("non_fatal", out var nf) && nf.Split(',').Contains("syscall");
        _mtu = o.TryGetValue("mtu", out var m) && int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out var mtu) ? mtu : 1500;
    }

    /// <summary>Options of the header the runner understands.</summary>
    internal static readonly IReadOnlySet<string> KnownOptions = new HashSet<string>(StringComparer.Ordinal)
    {
        "ip_version", "tolerance_usecs", "udp_encapsulation", "non_fatal", "mtu", "tcp_md5_secret",
    };

    /// <summary>Runs the script; returns null on pass, else the first failure as <c>FILE:LINE: message</c> (maybe several lines).</summary>
    public string? Run()
    {
        try
        {
            Setup();
            foreach (var ev in _script.Events)
            {
                _line = ev.Line;
                RunEvent(ev);
            }

            _line = _script.Events.Count > 0 ? _script.Events[^1].Line : 0;
            if (_pending is not null)
            {
                RunLoopUntil(null, _loop.Now + (_tolerance * 1000));
                if (_pending is not null)
                {
                    throw new ScriptException(_pending.Event.Line, $"{_pending.Event.Name}: blocking system call still blocking at the end of the script");
                }
            }

            return null;
        }
        catch (ScriptException e)
        {
            return $"{_script.FileName}:{e.Line}: {e.Message}";
        }
        catch (Exception e)
        {
            return $"{_script.FileName}:{_line}: internal error while running the stack: {e.GetType().Name}: {e.Message}";
        }
    }

    private void Setup()
    {
        foreach (var name in _script.Options.Keys)
        {
            if (!KnownOptions.Contains(name))
            {
                throw new ScriptException(1, $"unsupported option --{name}");
            }
        }

        if (_script.Options.TryGetValue("ip_version", out var ipv) && ipv is not ("ipv4" or "ipv6"))
        {
            throw new ScriptException(1, $"unsupported --ip_version={ipv}");
        }

        if (_mtu is < 68 or > 65535 && !_ipv6 || _mtu is < 1280 or > 65535 && _ipv6)
        {
            // The stack refuses such MTUs; report it as the first line's failure.
            if (_mtu < 68 || _mtu > 65535)
            {
                throw new ScriptException(1, $"--mtu={_mtu} is not a valid interface MTU");
            }
        }

        _loop = EventLoop.CreateVirtual(new PacketPool());
        _stack = new NetStack(_loop, new NetStackOptions { Name = "packetdrill", Seed = 1 });
        _tcp = TcpStack.Attach(_stack);
        if (!_tcp.TrySetDefaultFunctionBlock(_stackName))
        {
            throw new ScriptException(1, $"no TCP stack named '{_stackName}' (available: {string.Join(", ", _tcp.FunctionBlocks.Select(b => b.Name))})");
        }

        _link = new CaptureLink(_loop, RemoteMac);
        var ifp = _stack.CreateInterface("tun0", _link, "packetdrill");
        var mtuError = ifp.TrySetMtu(_mtu);
        if (mtuError is not null)
        {
            throw new ScriptException(1, $"--mtu={_mtu}: {mtuError}");
        }

        _link.LocalMac = ifp.HardwareAddress;
        ifp.SetUp(true);
        if (_ipv6)
        {
            IPv6Address.TryParse("fd3d:fa7b:d17d::1", out var local);
            IPv6Address.TryParse("fd3d:fa7b:d17d:8888::1", out var remote);
            ifp.AddAddress(local, 48, IPv6AddressFlags.NoDad);
            _localAddress = local;
            _remoteAddress = remote;
        }
        else
        {
            var local = new IPv4Address(192, 168, 0, 1);
            var gateway = new IPv4Address(192, 168, 0, 2);
            ifp.AddAddress(local, 24);
            _stack.Arp.AddStatic(ifp, gateway, RemoteMac);
            if (!_stack.TryAddRoute(new IPv4Address(192, 0, 2, 0), 24, gateway, out var err))
            {
                throw new ScriptException(1, $"cannot add the route to the remote host: {err}");
            }

            _localAddress = local;
            _remoteAddress = new IPv4Address(192, 0, 2, 1);
        }

        _loop.RunPending();
        _link.Captured.Clear();
        _t0 = _loop.Now;
        _lastMicros = 0;
    }

    // ---------------------------------------------------------------- time

    private long Resolve(ScriptTime t, long baseMicros) => t.Kind switch
    {
        TimeKind.Absolute => t.Micros,
        TimeKind.Relative => baseMicros + t.Micros,
        _ => baseMicros,
    };

    private long NowMicros => (_loop.Now - _t0) / 1000;

    private long NsAt(long micros) => _t0 + (micros * 1000);

    private static string Sec(long micros) => (micros / 1e6).ToString("0.000000", CultureInfo.InvariantCulture);

    private void RunEvent(ScriptEvent ev)
    {
        var start = Resolve(ev.Time.Start, _lastMicros);
        if (ev is TcpPacketEvent { Segment.Inbound: false } outbound)
        {
            HandleOutbound(outbound, start);
            return;
        }

        if (ev.Time.Start.Kind == TimeKind.Any)
        {
            start = NowMicros;
        }

        if (start < _lastMicros && ev.Time.Start.Kind == TimeKind.Absolute)
        {
            throw new ScriptException(ev.Line, $"time {Sec(start)} goes backwards (previous event at {Sec(_lastMicros)})");
        }

        RunLoopUntil(null, NsAt(start));
        _lastMicros = start;
        switch (ev)
        {
            case TcpPacketEvent p:
                InjectTcp(p.Segment);
                break;
            case IcmpPacketEvent i:
                if (!i.Icmp.Inbound)
                {
                    throw new ScriptException(ev.Line, "outbound ICMP packets are not supported by the interpreter");
                }

                InjectIcmp(i.Icmp);
                break;
            case SyscallEvent s:
                RunSyscall(s, start);
                break;
            case ShellEvent sh:
                RunShell(sh);
                break;
            case CodeEvent code:
                RunCode(code);
                break;
        }

        _loop.RunPending();
        CheckPendingNotLate();
    }

    /// <summary>Runs the loop until <paramref name="condition"/> holds or virtual time reaches <paramref name="deadline"/> ns, completing a blocked system call when it can.</summary>
    private bool RunLoopUntil(Func<bool>? condition, long deadline)
    {
        while (true)
        {
            var timeout = Math.Max(0, deadline - _loop.Now);
            _loop.RunUntil(() => (condition?.Invoke() ?? false) || PollPending(), timeout);
            if (_pendingDone)
            {
                CompletePending();
                continue;
            }

            if (condition?.Invoke() == true)
            {
                return true;
            }

            if (_loop.Now >= deadline)
            {
                CheckPendingNotLate();
                return false;
            }
        }
    }

    // ---------------------------------------------------------------- outbound

    private void HandleOutbound(TcpPacketEvent ev, long start)
    {
        long earliest, latest;
        if (ev.Time.Start.Kind == TimeKind.Any)
        {
            earliest = long.MinValue;
            latest = NowMicros + AnyTimeWindowMicros;
        }
        else
        {
            var end = ev.Time.RangeEnd is { } r ? Resolve(r, _lastMicros) : start;
            earliest = start - _tolerance;
            latest = end + _tolerance;
        }

        if (_link.Captured.Count == 0 && !RunLoopUntil(() => _link.Captured.Count > 0, NsAt(latest)))
        {
            throw new ScriptException(ev.Line, $"error handling packet: Timed out waiting for packet (expected at {Sec(start)} sec, tolerance {Sec(_tolerance)} sec)");
        }

        var (time, bytes) = _link.Captured.Dequeue();
        var actual = (time - _t0) / 1000;
        VerifyOutbound(ev, bytes, actual);
        if (actual < earliest || actual > latest)
        {
            throw new ScriptException(ev.Line, $"error handling packet: timing error: expected outbound packet at {Sec(start)} sec but happened at {Sec(actual)} sec; tolerance {Sec(_tolerance)} sec\n" +
                $"script packet: {Sec(start)} {Describe(ev.Segment)}\nactual packet: {Sec(actual)} {DescribeLive(bytes)}");
        }

        _lastMicros = ev.Time.Start.Kind == TimeKind.Any ? actual : start;
    }
}
