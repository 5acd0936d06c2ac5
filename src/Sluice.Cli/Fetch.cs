using System.Globalization;
using System.Text;
using Sluice.Stack;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Cli;

/// <summary>
/// fetch(1), HTTP only: <c>fetch [-qsv] [-o file|-] [-T seconds] URL ...</c> over a Sluice TCP socket of the current VNET.
/// </summary>
/// <remarks>
/// The transfer drives the lab's loop with <c>RunUntil</c> (virtual time in labs, real time on live links). Progress
/// goes to stderr in fetch.c's non-TTY form (stat_start/stat_end): the file name padded to 46, then bytes, rate and
/// elapsed time. Errors print <c>fetch: URL: reason</c> (libfetch's HTTP reason or the errno text) and exit 1; a failed
/// transfer removes the partial file. Hosts must be numeric (Sluice has no resolver).
/// </remarks>
internal sealed class Fetch : ITool
{
    private const string UsageText =
        "usage: fetch [-146AadFlMmnPpqRrsUv] [-B bytes] [--bind-address=host]\n"
        + "       [--ca-cert=file] [--ca-path=dir] [--cert=file] [--crl=file]\n"
        + "       [-i file] [--key=file] [-N file] [--no-passive] [--no-proxy=list]\n"
        + "       [--no-sslv3] [--no-tlsv1] [--no-verify-hostname] [--no-verify-peer]\n"
        + "       [-o file] [--referer=URL] [-S bytes] [-T seconds]\n"
        + "       [--user-agent=agent-string] [-w seconds] URL ...\n"
        + "       fetch [-146AadFlMmnPpqRrsUv] [-B bytes] [--bind-address=host]\n"
        + "       [--ca-cert=file] [--ca-path=dir] [--cert=file] [--crl=file]\n"
        + "       [-i file] [--key=file] [-N file] [--no-passive] [--no-proxy=list]\n"
        + "       [--no-sslv3] [--no-tlsv1] [--no-verify-hostname] [--no-verify-peer]\n"
        + "       [-o file] [--referer=URL] [-S bytes] [-T seconds]\n"
        + "       [--user-agent=agent-string] [-w seconds] -h host -f file [-c dir]\n";

    // fetch.c TIMEOUT: the default for -T.
    private const long DefaultTimeoutSeconds = 120;

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        string? output = null;
        var quiet = false;
        var sizeOnly = false;
        var timeout = DefaultTimeoutSeconds;
        var opt = new GetOpt(args, "146AaB:dFi:lMmN:no:PpqRrS:sT:Uvw:");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'o':
                    output = opt.OptionArgument;
                    break;
                case 'q':
                    quiet = true;
                    break;
                case 's':
                    sizeOnly = true;
                    break;
                case 'T':
                    if (!long.TryParse(opt.OptionArgument, NumberStyles.None, CultureInfo.InvariantCulture, out timeout))
                    {
                        ctx.Err.WriteLine($"fetch: invalid timeout ({opt.OptionArgument})");
                        return 1;
                    }

                    break;
                case '?' or ':':
                    ctx.Err.WriteLine(opt.Diagnostic("fetch", c));
                    ctx.Err.Write(UsageText);
                    return 1;
                default:
                    break; // accepted and ignored: -1 -4 -6 -A -a -d -F -l -M -m -n -P -p -R -r -U -v -B -i -N -S -w
            }
        }

        if (opt.OperandIndex >= args.Length)
        {
            ctx.Err.Write(UsageText);
            return 1;
        }

        var status = 0;
        for (var i = opt.OperandIndex; i < args.Length; i++)
        {
            if (One(ctx, args[i], output, quiet, sizeOnly, timeout == 0 ? long.MaxValue / 4 : Nanos.FromSeconds(timeout)) != 0)
            {
                status = 1;
            }
        }

        return status;
    }

    private static int One(ToolContext ctx, string url, string? output, bool quiet, bool sizeOnly, long timeout)
    {
        if (!HttpUrl.TryParse(url, out var target, out var problem))
        {
            ctx.Err.WriteLine($"fetch: {url}: {problem}");
            return 1;
        }

        var path = output ?? target.FileName;
        var toStdout = path == "-";
        var loop = ctx.Lab.Loop;
        var get = new HttpFetch(ctx.Stack, target, sizeOnly ? "HEAD" : "GET");
        FileStream? file = null;
        Stream? sink = null;
        long started = 0;
        get.ResponseStarted = () =>
        {
            if (sizeOnly || get.Status != 200)
            {
                return true;
            }

            try
            {
                sink = toStdout ? new MemoryStream() : file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                ctx.Err.WriteLine($"fetch: {path}: {Describe(e)}");
                return false;
            }

            started = loop.Now;
            if (!quiet)
            {
                ctx.Err.Write(path.PadRight(46));
            }

            return true;
        };
        get.Body = data => sink?.Write(data);

        var e = get.Start();
        if (e != Errno.None)
        {
            ctx.Err.WriteLine($"fetch: {url}: {ErrnoText.Describe(e)}");
            return 1;
        }

        // Bounded by -T of inactivity: each pass runs until done or until nothing moved for the timeout.
        while (!get.IsDone)
        {
            loop.RunUntil(() => get.IsDone || loop.Now - get.LastActivity >= timeout, timeout, ctx.Lab.Stopping);
            if (get.IsDone)
            {
                break;
            }

            if (ctx.Lab.Stopping.IsCancellationRequested)
            {
                get.Abort();
                return Failed(ctx, file, path, sink is not null ? "fetch: transfer interrupted" : $"fetch: {url}: Interrupted system call");
            }

            if (loop.Now - get.LastActivity >= timeout)
            {
                get.Abort();
                return Failed(ctx, file, path, sink is not null ? "fetch: transfer timed out" : $"fetch: {url}: Operation timed out");
            }
        }

        if (get.Failure is { } failure)
        {
            return Failed(ctx, file, path, $"fetch: {url}: {failure}");
        }

        if (sizeOnly)
        {
            ctx.Out.WriteLine(get.Status == 200 && get.ContentLength is long size ? size.ToString(CultureInfo.InvariantCulture) : "Unknown");
            return 0;
        }

        if (get.Status != 200)
        {
            return Failed(ctx, file, path, $"fetch: {url}: {HttpFetch.Reason(get.Status, get.ReasonPhrase)}");
        }

        if (get.ContentLength is long expected && get.Received < expected)
        {
            if (!quiet)
            {
                ctx.Err.WriteLine();
            }

            return Failed(ctx, file, path, string.Create(CultureInfo.InvariantCulture, $"fetch: {path} appears to be truncated: {get.Received}/{expected} bytes"));
        }

        file?.Dispose();
        if (toStdout && sink is MemoryStream ms)
        {
            WriteStdout(ctx.Out, ms.ToArray());
        }

        if (!quiet)
        {
            ctx.Err.WriteLine(StatEnd(get.Received, loop.Now - started));
        }

        return 0;
    }

    /// <summary>stat_end without a TTY: 8 blanks, the size, the average rate and the elapsed time [src fetch.c].</summary>
    internal static string StatEnd(long bytes, long elapsedNs) =>
        $"        {StatBytes(bytes)} {StatRate(bytes, elapsedNs)} {StatSeconds(elapsedNs / Nanos.PerSecond)}";

    /// <summary>stat_bytes: <c>%4jd %cB</c>, dividing by 1024 while above 9999 (prefixes ` kMGTP`) [src].</summary>
    internal static string StatBytes(long bytes)
    {
        const string prefixes = " kMGTP";
        var p = 0;
        while (bytes > 9999 && p < prefixes.Length - 1)
        {
            bytes /= 1024;
            p++;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{bytes,4} {prefixes[p]}B");
    }

    /// <summary>stat_bps: the size per second plus <c>ps</c>, or <c>?? Bps</c> when no time passed [src].</summary>
    internal static string StatRate(long bytes, long elapsedNs) =>
        elapsedNs <= 0 ? "?? Bps" : StatBytes((long)(bytes / (elapsedNs / 1e9))) + "ps";

    /// <summary>stat_seconds: <c>%02ldd%02ldh</c>, <c>%02ldh%02ldm</c>, <c>%02ldm%02lds</c> or <c>   %02lds</c> [src].</summary>
    internal static string StatSeconds(long seconds)
    {
        var days = seconds / 86400;
        var hours = seconds % 86400 / 3600;
        var minutes = seconds % 3600 / 60;
        var secs = seconds % 60;
        return days > 0 ? $"{days:00}d{hours:00}h" : hours > 0 ? $"{hours:00}h{minutes:00}m" : minutes > 0 ? $"{minutes:00}m{secs:00}s" : $"   {secs:00}s";
    }

    private static int Failed(ToolContext ctx, FileStream? file, string path, string message)
    {
        if (file is not null)
        {
            file.Dispose();
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left behind; the message below is what matters.
            }

            ctx.Err.WriteLine();
        }

        ctx.Err.WriteLine(message);
        return 1;
    }

    private static void WriteStdout(TextWriter writer, byte[] data)
    {
        if (writer is StreamWriter { BaseStream: { } stream })
        {
            writer.Flush();
            stream.Write(data);
            stream.Flush();
            return;
        }

        writer.Write(Encoding.Latin1.GetString(data));
    }

    private static string Describe(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "No such file or directory",
        UnauthorizedAccessException => "Permission denied",
        _ => e.Message,
    };
}

/// <summary>An <c>http://host[:port]/path</c> URL with a numeric host.</summary>
internal sealed record HttpUrl(InetAddress Address, ushort Port, string HostHeader, string PathAndQuery)
{
    /// <summary>The last path component (fetch's default output name), or <c>fetch.out</c> when empty.</summary>
    public string FileName
    {
        get
        {
            var path = PathAndQuery;
            var q = path.IndexOf('?', StringComparison.Ordinal);
            if (q >= 0)
            {
                path = path[..q];
            }

            var name = path[(path.LastIndexOf('/') + 1)..];
            return name.Length == 0 ? "fetch.out" : Uri.UnescapeDataString(name);
        }
    }

    /// <summary>Parses <paramref name="text"/>; <paramref name="problem"/> is libfetch's message when it fails.</summary>
    public static bool TryParse(string text, out HttpUrl url, out string problem)
    {
        url = null!;
        problem = "Invalid URL";
        var sep = text.IndexOf("://", StringComparison.Ordinal);
        if (sep <= 0)
        {
            return false;
        }

        if (!text[..sep].Equals("http", StringComparison.OrdinalIgnoreCase))
        {
            problem = "URL scheme not supported";
            return false;
        }

        var rest = text[(sep + 3)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? "/" : rest[slash..];
        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            authority = authority[(at + 1)..];
        }

        string host;
        var port = 80;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            host = authority[1..close];
            var after = authority[(close + 1)..];
            if (after.Length > 0 && (after[0] != ':' || !int.TryParse(after[1..], NumberStyles.None, CultureInfo.InvariantCulture, out port)))
            {
                return false;
            }
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            host = colon < 0 ? authority : authority[..colon];
            if (colon >= 0 && !int.TryParse(authority[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port))
            {
                return false;
            }
        }

        if (host.Length == 0 || port is < 1 or > 65535)
        {
            return false;
        }

        if (!InetAddress.TryParse(host, out var address))
        {
            problem = "No address record";
            return false;
        }

        url = new HttpUrl(address, (ushort)port, authority, path);
        return true;
    }
}

/// <summary>
/// One HTTP/1.1 request over a Sluice TCP socket (libfetch's sequence: connect, request with <c>Connection: close</c>,
/// status line and headers, then a Content-Length, chunked or until-close body).
/// </summary>
/// <remarks>Everything runs on the stack's loop; the caller drives the loop until <see cref="IsDone"/>.</remarks>
internal sealed class HttpFetch(NetStack stack, HttpUrl url, string method)
{
    private const int MaxHeader = 64 * 1024;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly MemoryStream _head = new();
    private TcpSocket? _socket;
    private Phase _phase = Phase.Connecting;
    private long _chunkLeft;
    private readonly StringBuilder _line = new();

    private enum Phase
    {
        Connecting,
        Head,
        Body,
        ChunkSize,
        ChunkData,
        ChunkDataEnd,
        Trailer,
        Done,
    }

    /// <summary>Called once the status line and headers are in; returning false aborts.</summary>
    public Func<bool>? ResponseStarted { get; set; }

    /// <summary>Receives the body (de-chunked) as it arrives.</summary>
    public Action<ReadOnlySpan<byte>>? Body { get; set; }

    /// <summary>True when the exchange ended (see <see cref="Failure"/>).</summary>
    public bool IsDone => _phase == Phase.Done;

    /// <summary>Why it failed (errno text or protocol error), null on success.</summary>
    public string? Failure { get; private set; }

    /// <summary>The socket error that ended it, if any.</summary>
    public Errno Error { get; private set; }

    /// <summary>HTTP status code (0 before the response).</summary>
    public int Status { get; private set; }

    /// <summary>The reason phrase the server sent.</summary>
    public string ReasonPhrase { get; private set; } = string.Empty;

    /// <summary>Content-Length, when the server sent one (and no chunking).</summary>
    public long? ContentLength { get; private set; }

    /// <summary>Body bytes received.</summary>
    public long Received { get; private set; }

    /// <summary>Loop time of the last progress (connect, bytes).</summary>
    public long LastActivity { get; private set; }

    /// <summary>The local socket (for netstat checks in tests).</summary>
    public TcpSocket? Socket => _socket;

    /// <summary>libfetch's text for an HTTP status (its http.errors table follows RFC 9110's phrases).</summary>
    public static string Reason(int status, string sent) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => sent.Length > 0 ? sent : "Unknown HTTP error",
    };

    /// <summary>Opens the socket and starts connecting; returns the connect error, if immediate.</summary>
    public Errno Start()
    {
        LastActivity = stack.Loop.Now;
        var s = stack.OpenTcp(url.Address.IsIPv6);
        _socket = s;
        s.Connected = _ => SendRequest();
        s.Readable = _ => OnReadable();
        s.Closed = (_, error) =>
        {
            if (error != Errno.None)
            {
                Fail(error);
            }
            else
            {
                OnReadable();
            }
        };
        var e = s.Connect(new InetEndpoint(url.Address, url.Port));
        if (e is not (Errno.EINPROGRESS or Errno.None))
        {
            s.Close();
            _phase = Phase.Done;
            return e;
        }

        if (s.State == TcpState.Established)
        {
            SendRequest();
        }

        return Errno.None;
    }

    /// <summary>Stops the exchange and resets the connection.</summary>
    public void Abort()
    {
        _phase = Phase.Done;
        _socket?.Abort();
    }

    private void SendRequest()
    {
        if (_phase != Phase.Connecting)
        {
            return;
        }

        LastActivity = stack.Loop.Now;
        _phase = Phase.Head;
        var request = Encoding.ASCII.GetBytes(
            $"{method} {url.PathAndQuery} HTTP/1.1\r\nHost: {url.HostHeader}\r\nUser-Agent: fetch libfetch/2.0\r\nConnection: close\r\n\r\n");
        var e = _socket!.Send(request, out var n);
        if (e != Errno.None || n != request.Length)
        {
            Fail(e == Errno.None ? Errno.ENOBUFS : e);
        }
    }

    private void OnReadable()
    {
        while (_phase is not (Phase.Done or Phase.Connecting))
        {
            var e = _socket!.Receive(_buffer, out var n);
            if (e == Errno.EAGAIN)
            {
                return;
            }

            if (e != Errno.None)
            {
                Fail(e);
                return;
            }

            if (n == 0)
            {
                EndOfStream();
                return;
            }

            LastActivity = stack.Loop.Now;
            Consume(_buffer.AsSpan(0, n));
        }
    }

    private void Consume(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty && _phase != Phase.Done)
        {
            switch (_phase)
            {
                case Phase.Head:
                    {
                        var before = (int)_head.Length;
                        _head.Write(data);
                        var all = _head.GetBuffer().AsSpan(0, (int)_head.Length);
                        var end = all.IndexOf("\r\n\r\n"u8);
                        if (end < 0)
                        {
                            if (_head.Length > MaxHeader)
                            {
                                Protocol("Protocol error");
                            }

                            return;
                        }

                        var used = end + 4 - before;
                        if (!ParseHead(Encoding.Latin1.GetString(all[..end])))
                        {
                            return;
                        }

                        data = data[used..];
                        break;
                    }

                case Phase.Body:
                    {
                        var take = ContentLength is long length ? (int)Math.Min(data.Length, length - Received) : data.Length;
                        Deliver(data[..take]);
                        data = data[take..];
                        if (ContentLength is long l && Received >= l)
                        {
                            Complete();
                        }

                        break;
                    }

                case Phase.ChunkSize or Phase.Trailer or Phase.ChunkDataEnd:
                    {
                        var nl = data.IndexOf((byte)'\n');
                        var piece = nl < 0 ? data : data[..nl];
                        _line.Append(Encoding.Latin1.GetString(piece));
                        if (_line.Length > 8192)
                        {
                            Protocol("Protocol error");
                            return;
                        }

                        if (nl < 0)
                        {
                            return;
                        }

                        data = data[(nl + 1)..];
                        var line = _line.ToString().TrimEnd('\r');
                        _line.Clear();
                        ChunkLine(line);
                        break;
                    }

                case Phase.ChunkData:
                    {
                        var take = (int)Math.Min(data.Length, _chunkLeft);
                        Deliver(data[..take]);
                        data = data[take..];
                        _chunkLeft -= take;
                        if (_chunkLeft == 0)
                        {
                            _phase = Phase.ChunkDataEnd;
                        }

                        break;
                    }
            }
        }
    }

    private void ChunkLine(string line)
    {
        switch (_phase)
        {
            case Phase.ChunkDataEnd:
                if (line.Length != 0)
                {
                    Protocol("Protocol error");
                    return;
                }

                _phase = Phase.ChunkSize;
                break;
            case Phase.ChunkSize:
                var semi = line.IndexOf(';', StringComparison.Ordinal);
                var hex = (semi >= 0 ? line[..semi] : line).Trim();
                if (!long.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
                {
                    Protocol("Protocol error");
                    return;
                }

                _chunkLeft = size;
                _phase = size == 0 ? Phase.Trailer : Phase.ChunkData;
                break;
            case Phase.Trailer:
                if (line.Length == 0)
                {
                    Complete();
                }

                break;
        }
    }

    private bool ParseHead(string head)
    {
        var lines = head.Split("\r\n");
        var status = lines[0].Split(' ', 3);
        if (status.Length < 2 || !status[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(status[1], NumberStyles.None, CultureInfo.InvariantCulture, out var code))
        {
            Protocol("Protocol error");
            return false;
        }

        Status = code;
        ReasonPhrase = status.Length > 2 ? status[2] : string.Empty;
        var chunked = false;
        for (var i = 1; i < lines.Length; i++)
        {
            var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var name = lines[i][..colon].Trim();
            var value = lines[i][(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var length))
            {
                ContentLength = length;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                chunked = true;
            }
        }

        if (chunked)
        {
            ContentLength = null;
        }

        if (ResponseStarted is { } started && !started())
        {
            Abort();
            Failure ??= "aborted";
            return false;
        }

        // A HEAD answer, 1xx/204/304 and non-200 answers end with the head (fetch reports the status and stops).
        if (method == "HEAD" || Status != 200 || Status is 204 or 304)
        {
            Complete();
            return false;
        }

        _phase = chunked ? Phase.ChunkSize : Phase.Body;
        if (_phase == Phase.Body && ContentLength == 0)
        {
            Complete();
            return false;
        }

        return true;
    }

    private void Deliver(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        Received += data.Length;
        Body?.Invoke(data);
    }

    private void EndOfStream()
    {
        switch (_phase)
        {
            case Phase.Body when ContentLength is null:
                Complete();
                break;
            case Phase.Body:
                // Short body: the caller reports "appears to be truncated".
                Complete();
                break;
            case Phase.Head when _head.Length == 0:
                Protocol("Connection closed by remote host"); // unconfirmed wording
                break;
            default:
                Protocol("Protocol error");
                break;
        }
    }

    private void Complete()
    {
        _phase = Phase.Done;
        _socket?.Close();
    }

    private void Fail(Errno e)
    {
        if (_phase == Phase.Done)
        {
            return;
        }

        Error = e;
        Failure = ErrnoText.Describe(e);
        _phase = Phase.Done;
        _socket?.Close();
    }

    private void Protocol(string message)
    {
        Failure = message;
        _phase = Phase.Done;
        _socket?.Abort();
    }
}
