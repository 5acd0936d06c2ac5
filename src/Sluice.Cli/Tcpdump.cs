using System.Globalization;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;

namespace Sluice.Cli;

/// <summary>
/// tcpdump(1), writing only: <c>tcpdump -i IF -w FILE [-c N] [-Q in|out|inout] [-s snaplen] [-U]
/// [--time-stamp-precision micro|nano]</c> starts a capture of <c>IF</c> (in the current VNET) to a pcap file.
/// </summary>
/// <remarks>
/// In a lab tcpdump runs in the background, like <c>tcpdump ... &amp;</c> in sh: it prints tcpdump 4.99's
/// <c>listening on</c> line to stderr and returns at once; the capture goes on while later commands (and, in
/// <c>sluice run</c>, the live appliance) run. It ends after <c>-c N</c> frames, when the interface is destroyed, or
/// when the lab ends; then it prints tcpdump's three statistics lines to the lab's stderr and closes the file.
/// The file is pcap with nanosecond timestamps (what <c>--time-stamp-precision nano</c> gives; <c>micro</c> is accepted
/// and still writes nanoseconds). Timestamps are the loop's clock: the Unix time on real time, 1970-01-01 plus
/// virtual time in a virtual lab (the same file on every run). Without <c>-U</c> records reach the file in blocks.
/// Filter expressions, <c>-r</c> and printing decoded packets are not implemented: they fail with a message.
/// Messages are tcpdump 4.99's (<c>invalid packet count</c>, <c>invalid snaplen</c>, <c>unknown capture direction</c>,
/// <c>unsupported time stamp precision</c>, <c>X: No such device exists</c>); from memory of its sources, unconfirmed.
/// </remarks>
internal sealed class Tcpdump : ITool
{
    private const int DefaultSnapLength = 262144;

    private const string UsageText =
        "Usage: tcpdump [-npqUv] [ -c count ] [ -i interface ] [ -Q in|out|inout ]\n"
        + "\t\t[ -s snaplen ] [ --time-stamp-precision precision ] -w file\n";

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        long count = 0;
        int snapLength = DefaultSnapLength;
        string? interfaceName = null, file = null;
        var direction = CaptureDirection.InOut;
        var packetBuffered = false;

        // tcpdump's long options, taken out before the short ones go through getopt.
        var shortArgs = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                shortArgs.AddRange(args[i..].ToArray());
                break;
            }

            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                shortArgs.Add(a);
                continue;
            }

            var eq = a.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? a : a[..eq];
            string? value = eq < 0 ? null : a[(eq + 1)..];
            switch (name)
            {
                case "--time-stamp-precision" or "--snapshot-length" or "--direction" or "--interface":
                    if (value is null)
                    {
                        if (i + 1 >= args.Length)
                        {
                            ctx.Err.WriteLine($"tcpdump: option '{name}' requires an argument");
                            ctx.Err.Write(UsageText);
                            return 1;
                        }

                        value = args[++i];
                    }

                    switch (name)
                    {
                        case "--time-stamp-precision":
                            if (value is not ("micro" or "nano"))
                            {
                                return ctx.Fail("unsupported time stamp precision");
                            }

                            break;
                        case "--snapshot-length":
                            shortArgs.Add("-s");
                            shortArgs.Add(value);
                            break;
                        case "--direction":
                            shortArgs.Add("-Q");
                            shortArgs.Add(value);
                            break;
                        default:
                            shortArgs.Add("-i");
                            shortArgs.Add(value);
                            break;
                    }

                    break;
                case "--immediate-mode" or "--micro" or "--nano" or "--number":
                    break;
                case "--packet-buffered":
                    packetBuffered = true;
                    break;
                default:
                    ctx.Err.WriteLine($"tcpdump: unrecognized option '{a}'");
                    ctx.Err.Write(UsageText);
                    return 1;
            }
        }

        var argv = shortArgs.ToArray();
        var opt = new GetOpt(argv, "c:i:lnNpqQ:r:s:StUvw:");
        int c;
        while ((c = opt.Next()) != -1)
        {
            var arg = opt.OptionArgument ?? string.Empty;
            switch (c)
            {
                case 'c':
                    if (!long.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count <= 0)
                    {
                        return ctx.Fail($"invalid packet count {arg}");
                    }

                    break;
                case 'i':
                    interfaceName = arg;
                    break;
                case 'Q':
                    if (!PcapCapture.TryParseDirection(arg, out direction))
                    {
                        return ctx.Fail($"unknown capture direction '{arg}'");
                    }

                    break;
                case 's':
                    if (!int.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out snapLength))
                    {
                        return ctx.Fail($"invalid snaplen {arg}");
                    }

                    // libpcap: 0 and anything above the maximum mean the default.
                    if (snapLength is 0 or > DefaultSnapLength)
                    {
                        snapLength = DefaultSnapLength;
                    }

                    break;
                case 'w':
                    file = arg;
                    break;
                case 'U':
                    packetBuffered = true;
                    break;
                case 'r':
                    return ctx.Fail("reading a capture (-r) is not implemented by sluice; use tshark -r or tcpdump -r outside");
                case 'l' or 'n' or 'N' or 'p' or 'q' or 'S' or 't' or 'v':
                    break;
                default:
                    ctx.Err.WriteLine(opt.Diagnostic("tcpdump", c));
                    ctx.Err.Write(UsageText);
                    return 1;
            }
        }

        if (opt.OperandIndex < argv.Length)
        {
            return ctx.Fail("filter expressions are not implemented by sluice: capture everything and filter when reading");
        }

        if (file is null)
        {
            return ctx.Fail("sluice's tcpdump only writes captures: give -w file");
        }

        if (file == "-")
        {
            return ctx.Fail("-w -: writing to standard output is not supported in a lab");
        }

        if (interfaceName == "pflog0" && ctx.Stack.FindInterface(interfaceName) is null)
        {
            return CapturePflog(ctx, file, snapLength);
        }

        NetworkInterface? ifp;
        if (interfaceName is null)
        {
            // tcpdump without -i takes the first interface that is up and not a loopback.
            ifp = ctx.Stack.Interfaces.FirstOrDefault(i => i.IsUp && !i.IsLoopback);
            if (ifp is null)
            {
                return ctx.Fail("no suitable device found");
            }
        }
        else
        {
            ifp = ctx.Stack.FindInterface(interfaceName);
            if (ifp is null)
            {
                return ctx.Fail($"{interfaceName}: No such device exists");
            }
        }

        FileStream stream;
        try
        {
            stream = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var reason = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => "No such file or directory",
                UnauthorizedAccessException => "Permission denied",
                _ => e.Message,
            };
            return ctx.Fail($"{file}: {reason}");
        }

        var capture = new TcpdumpCapture(ctx.Lab, ifp, stream, direction, snapLength, count, packetBuffered);
        ctx.Lab.Captures.Add(capture);
        ifp.AddTap(capture);
        ctx.Err.WriteLine($"tcpdump: listening on {ifp.Name}, link-type EN10MB (Ethernet), snapshot length {snapLength} bytes");
        return 0;
    }

    /// <summary>
    /// <c>tcpdump -i pflog0 -w FILE</c>: what pf's <c>log</c> rules of this VNET record (DLT_PFLOG), flushed record by
    /// record until the process ends. Owned by pf's engine (its log sinks); -c, -Q and statistics do not apply.
    /// </summary>
    private static int CapturePflog(ToolContext ctx, string file, int snapLength)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return ctx.Fail($"{file}: {(e is FileNotFoundException or DirectoryNotFoundException ? "No such file or directory" : e.Message)}");
        }

        var writer = new Sluice.Pf.Engine.PflogPcapWriter(stream) { AutoFlush = true };
        stream.Flush();
        Sluice.Pf.PfInstance.Of(ctx.Stack).Engine.LogSinks.Add(writer);
        ctx.Err.WriteLine($"tcpdump: listening on pflog0, link-type PFLOG (OpenBSD pflog file), snapshot length {snapLength} bytes");
        return 0;
    }
}

/// <summary>A running <c>tcpdump -w</c>: a <see cref="PcapCapture"/> on one interface with tcpdump's count and statistics.</summary>
/// <remarks>Loop thread only. Owns its file, which <see cref="Close"/> flushes and closes.</remarks>
internal sealed class TcpdumpCapture : IFrameTap
{
    private readonly Lab _lab;
    private readonly FileStream _file;
    private readonly PcapCapture _capture;
    private readonly long _limit;
    private readonly bool _packetBuffered;
    private long _seen;
    private bool _closing;
    private bool _closed;

    public TcpdumpCapture(Lab lab, NetworkInterface ifp, FileStream file, CaptureDirection direction, int snapLength, long limit, bool packetBuffered)
    {
        _lab = lab;
        Interface = ifp;
        _file = file;
        _limit = limit;
        _packetBuffered = packetBuffered;
        _capture = new PcapCapture(file, lab.Loop.Clock, CaptureFormat.Pcap, snapLength)
        {
            Direction = direction,
            TimestampOffsetNanoseconds = lab.UnixTimeOffsetNanoseconds,
        };
        if (packetBuffered)
        {
            _file.Flush();
        }
    }

    /// <summary>The interface captured.</summary>
    public NetworkInterface Interface { get; }

    /// <summary>Frames written to the file.</summary>
    public long Packets => _capture.Packets;

    public void OnFrame(NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound)
    {
        if (_closing)
        {
            return;
        }

        _seen++;
        _capture.OnFrame(ifp, frame, outbound);
        if (_packetBuffered)
        {
            _file.Flush();
        }

        if (_limit > 0 && _capture.Packets >= _limit)
        {
            // The interface is walking its taps: detach after this frame is through.
            _closing = true;
            _lab.Loop.Post(static state => ((TcpdumpCapture)state!).Close(), this);
        }
    }

    /// <summary>Stops the capture, closes the file and prints tcpdump's statistics to the lab's stderr; idempotent.</summary>
    public void Close()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        _closing = true;
        Interface.RemoveTap(this);
        _capture.Dispose();
        _file.Dispose();
        _lab.Captures.Remove(this);
        var n = _capture.Packets;
        _lab.Err.WriteLine($"{n} packet{(n == 1 ? string.Empty : "s")} captured");
        _lab.Err.WriteLine($"{_seen} packet{(_seen == 1 ? string.Empty : "s")} received by filter");
        _lab.Err.WriteLine("0 packets dropped by kernel");
    }
}
