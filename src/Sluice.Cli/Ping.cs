using System.Globalization;
using Sluice.Cli.Formatting;
using Sluice.Stack.Icmp;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Routing;
using Sluice.Stack.Sockets;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Cli;

/// <summary>
/// ping(8) / ping -6 / ping6: <c>-c count -i wait -s size -t timeout -W waittime -S src -m ttl -q</c>, on the lab's time (virtual or real).
/// </summary>
/// <remarks>
/// Output per sbin/ping (see Formatting/PingFormat.cs). Exit status [src/man]: 0 when a reply came back, 2 when none,
/// 64 (EX_USAGE) for bad options, 68 (EX_NOHOST) for an unresolvable host. Option messages are ping.c's
/// (<c>invalid count of packets to transmit</c>, <c>invalid timing interval</c> [test], <c>invalid packet size</c>,
/// <c>invalid timeout</c>, <c>invalid TTL</c>; from memory except the one marked [test]); ping -6 uses the same ones
/// here (ping6.c words some differently — unconfirmed). <c>-q</c> hides replies but not ICMP errors; <c>-Q</c> hides those (pr_pack's F_QUIET/F_QUIET2). Sluice has no resolver: only numeric hosts resolve.
/// A virtual-time lab cannot be interrupted, so there a ping without <c>-c</c> or <c>-t</c> is refused; in a real-time lab
/// (<c>sluice run</c>) it runs until the lab stops (SIGINT), then prints its summary. On real time the round-trip times are
/// real ones, measured on the loop's clock.
/// </remarks>
internal sealed class Ping : ITool
{
    private const int ExitUsage = 64, ExitNoHost = 68, ExitOsErr = 71;
    private const int MaxPayload = 65535 - 20 - 8;

    private const string UsageText =
        "usage: ping [-4AaDdfHnoQqRrv] [-C pcp] [-c count] [-G sweepmaxsize]\n"
        + "            [-g sweepminsize] [-h sweepincrsize] [-i wait]\n"
        + "            [-l preload] [-M mask | time] [-m ttl] [-P policy]\n"
        + "            [-p pattern] [-S src_addr] [-s packetsize] [-t timeout]\n"
        + "            [-W waittime] [-z tos] IPv4-host\n"
        + "       ping [-6AaDdEfHNnOoquvYyZ] [-b bufsiz] [-c count] [-e gateway]\n"
        + "            [-I interface] [-i wait] [-k addrtype] [-l preload] [-m hoplimit]\n"
        + "            [-P policy] [-p pattern] [-S sourceaddr] [-s packetsize] [-t timeout]\n"
        + "            [-W waittime] [IPv6-hops ...] IPv6-host\n";

    public int Run(ToolContext ctx, ReadOnlySpan<string> args)
    {
        var force6 = ctx.Program == "ping6";
        var force4 = false;
        int count = 0, dataLength = 56, ttl = -1, timeoutSeconds = 0;
        double intervalMs = 1000, waitMs = 10_000;
        string? source = null, interfaceName = null;
        bool quiet = false, quietErrors = false;
        var opt = new GetOpt(args, "46AaC:c:DdEfG:g:Hh:I:i:k:Ll:M:m:NnOoP:p:QqRrS:s:T:t:uvW:YyZz:b:e:");
        int c;
        while ((c = opt.Next()) != -1)
        {
            var arg = opt.OptionArgument ?? string.Empty;
            switch (c)
            {
                case '4':
                    force4 = true;
                    break;
                case '6':
                    force6 = true;
                    break;
                case 'c':
                    if (!long.TryParse(arg, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) || n < 1)
                    {
                        return Usage(ctx, $"invalid count of packets to transmit: `{arg}'");
                    }

                    count = (int)Math.Min(n, int.MaxValue);
                    break;
                case 'i':
                    if (!TryParseDouble(arg, out var seconds) || seconds * 1000.0 > int.MaxValue)
                    {
                        return Usage(ctx, $"invalid timing interval: `{arg}'");
                    }

                    // ping.c keeps the interval as whole milliseconds ((int)(strtod * 1000)).
                    intervalMs = Math.Floor(seconds * 1000.0);
                    break;
                case 's':
                    if (!long.TryParse(arg, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var size) || size < 0)
                    {
                        return Usage(ctx, $"invalid packet size: `{arg}'");
                    }

                    if (size > MaxPayload)
                    {
                        return Usage(ctx, $"packet size too large: {size} > {MaxPayload}");
                    }

                    dataLength = (int)size;
                    break;
                case 't':
                    if (!int.TryParse(arg, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out timeoutSeconds)
                        || timeoutSeconds < 1 || timeoutSeconds > 3600)
                    {
                        return Usage(ctx, $"invalid timeout: `{arg}'");
                    }

                    break;
                case 'W':
                    if (!TryParseDouble(arg, out waitMs) || waitMs > int.MaxValue)
                    {
                        return Usage(ctx, $"invalid timing interval: `{arg}'");
                    }

                    waitMs = Math.Floor(waitMs);

                    break;
                case 'm':
                    if (!int.TryParse(arg, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out ttl) || ttl < 0 || ttl > 255)
                    {
                        return Usage(ctx, $"invalid TTL: `{arg}'");
                    }

                    break;
                case 'S':
                    source = arg;
                    break;
                case 'I':
                    interfaceName = arg;
                    break;
                case 'q':
                    quiet = true;
                    break;
                case 'Q':
                    quietErrors = true;
                    break;
                case '?' or ':':
                    ctx.Err.WriteLine(opt.Diagnostic("ping", c));
                    ctx.Err.Write(UsageText);
                    return ExitUsage;
                default:
                    break;
            }
        }

        var operands = args[opt.OperandIndex..];
        if (operands.Length != 1 || (force4 && force6))
        {
            if (force4 && force6)
            {
                ctx.Err.WriteLine("ping: -4 and -6 cannot be used simultaneously"); // unconfirmed wording
            }

            ctx.Err.Write(UsageText);
            return ExitUsage;
        }

        var host = operands[0];
        if (!TryResolve(ctx, host, force4, force6, out var destination, out var zone))
        {
            ctx.Err.WriteLine($"ping: cannot resolve {host}: Unknown host");
            return ExitNoHost;
        }

        // ping6.c -I: the outgoing interface (IPV6_PKTINFO ipi6_ifindex) for every request.
        NetworkInterface? outInterface = null;
        if (interfaceName is not null && destination.IsIPv6)
        {
            outInterface = ctx.Stack.FindInterface(interfaceName);
            if (outInterface is null)
            {
                ctx.Err.WriteLine($"ping: {interfaceName}: invalid interface name");
                return 1;
            }
        }

        InetAddress? from = null;
        if (source is not null)
        {
            if (!TryResolve(ctx, source, !destination.IsIPv6, destination.IsIPv6, out var s, out _))
            {
                ctx.Err.WriteLine($"ping: cannot resolve {source}: Unknown host");
                return ExitNoHost;
            }

            var local = s.IsIPv6 ? ctx.Stack.IsLocalAddress(s.V6) : ctx.Stack.IsLocalAddress(s.V4);
            if (!local)
            {
                ctx.Err.WriteLine("ping: bind: Can't assign requested address");
                return ExitOsErr;
            }

            from = s;
        }

        if (count == 0 && timeoutSeconds == 0 && !ctx.Lab.IsRealTime)
        {
            return Usage(ctx, "a lab cannot interrupt ping: give -c count or -t timeout");
        }

        return destination.IsIPv6
            ? Run6(ctx, host, destination, zone, outInterface, from, count, intervalMs, dataLength, ttl, timeoutSeconds, waitMs, quiet, quietErrors)
            : Run4(ctx, host, destination, from, count, intervalMs, dataLength, ttl, timeoutSeconds, waitMs, quiet, quietErrors);
    }

    private static int Run4(ToolContext ctx, string host, InetAddress destination, InetAddress? source, int count, double intervalMs,
        int dataLength, int ttl, int timeoutSeconds, double waitMs, bool quiet, bool quietErrors)
    {
        ctx.Out.WriteLine(PingFormat.Banner4(host, destination.ToString(), source?.ToString(), dataLength));
        return Drive(ctx, host, destination, null, source, count, intervalMs, dataLength, ttl, timeoutSeconds, waitMs, quiet, quietErrors);
    }

    private static int Run6(ToolContext ctx, string host, InetAddress destination, NetworkInterface? zone, NetworkInterface? outInterface,
        InetAddress? source, int count, double intervalMs, int dataLength, int ttl, int timeoutSeconds, double waitMs, bool quiet, bool quietErrors)
    {
        // ping6.c connects a dummy UDP socket to learn the source. Its errors are in6_selectif's: a scoped destination
        // without a zone meets the fe80::/10 or ff02::/16 reject route (ENETUNREACH); -I names the interface outright
        // (selectroute takes ipi6_ifindex without a route).
        var dst = destination.V6;
        var via = outInterface ?? zone;
        InetAddress src;
        if (source is { } given)
        {
            src = via is not null && given.V6.IsLinkLocal ? InetAddress.Scoped(given.V6, (uint)via.Index) : given;
        }
        else
        {
            var error = ctx.Stack.SelectSource(dst, via, out src);
            if (error != Errno.None)
            {
                ctx.Err.WriteLine($"ping: UDP connect: {ErrnoText.Describe(error)}");
                return 1;
            }
        }

        // getnameinfo(NI_NUMERICHOST) prints scoped addresses with their zone: the source from getsockname, the
        // destination only with the zone given in it (-I does not set sin6_scope_id).
        ctx.Out.WriteLine(PingFormat.Banner6(src.ToString(ctx.Stack), ScopedAddress.Format(dst, zone), dataLength));
        return Drive(ctx, host, destination, via, source, count, intervalMs, dataLength, ttl, timeoutSeconds, waitMs, quiet, quietErrors);
    }

    private static int Drive(ToolContext ctx, string host, InetAddress destination, NetworkInterface? zone, InetAddress? source, int count,
        double intervalMs, int dataLength, int ttl, int timeoutSeconds, double waitMs, bool quiet, bool quietErrors)
    {
        var tally = new PingTally { Timing = dataLength >= 8 };
        var printer = new Printer(ctx, tally, destination.IsIPv6, zone, quiet, quietErrors);
        var options = new PingOptions
        {
            Destination = destination,
            Source = source,
            Interface = zone,
            Count = count,
            // An interval of 0 ms sends back to back in FreeBSD; on virtual time that needs some spacing: 10 µs.
            IntervalNs = Math.Max(10 * Nanos.PerMicrosecond, (long)(intervalMs * Nanos.PerMillisecond)),
            DataLength = dataLength,
            Ttl = ttl,
            WaitNs = (long)(waitMs * Nanos.PerMillisecond),
            TimeoutNs = timeoutSeconds * Nanos.PerSecond,
        };
        using var pinger = ctx.Stack.CreatePinger(options, printer);
        pinger.Start();
        var limit = timeoutSeconds > 0
            ? (timeoutSeconds + 1) * Nanos.PerSecond
            : count == 0
                ? long.MaxValue / 4
                : (long)(((count * Math.Max(intervalMs, 1)) + (2 * waitMs) + 3_600_000) * Nanos.PerMillisecond);

        // On real time the loop waits for replies; a stop of the lab (SIGINT to sluice run) ends ping like ^C.
        ctx.Lab.Loop.RunUntil(() => pinger.IsFinished, limit, ctx.Lab.Stopping);
        pinger.Stop();
        tally.Transmitted = pinger.Transmitted;
        ctx.Out.Write(PingFormat.Summary(host, tally));
        return tally.Received > 0 ? 0 : 2;
    }

    // Numeric hosts only (no resolver); IPv6 literals may carry a zone (fe80::1%epair0a), which must name an interface here.
    private static bool TryResolve(ToolContext ctx, string text, bool only4, bool only6, out InetAddress address, out NetworkInterface? zone)
    {
        address = default;
        zone = null;
        if (!only6 && IPv4Address.TryParse(text, out var v4))
        {
            address = v4;
            return true;
        }

        if (!only4 && ScopedAddress.TryParse(text, ctx.Stack, out var v6, out zone, out _))
        {
            address = v6;
            return true;
        }

        return false;
    }

    // strtod as ping.c uses it: the whole word must be a number.
    private static bool TryParseDouble(string text, out double value) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign | NumberStyles.AllowExponent,
            CultureInfo.InvariantCulture, out value) && !double.IsNaN(value) && value >= 0;

    private static int Usage(ToolContext ctx, string message)
    {
        ctx.Err.WriteLine($"ping: {message}");
        return ExitUsage;
    }

    /// <summary>Prints each event as ping does, as it happens on the loop.</summary>
    private sealed class Printer(ToolContext ctx, PingTally tally, bool inet6, NetworkInterface? zone, bool quiet, bool quietErrors) : IPingObserver
    {
        // recvmsg's sin6_scope_id names the arrival interface of a scoped sender (fe80::2%epair0a).
        private string From6(InetAddress from) =>
            from.ScopeId != 0 ? from.ToString(ctx.Stack) : ScopedAddress.Format(from.V6, zone);

        public void OnReply(in PingReply reply)
        {
            var rtt = reply.RoundTripNs / (double)Nanos.PerMillisecond;
            tally.AddReply(rtt, reply.Duplicate);
            if (quiet)
            {
                return;
            }

            double? time = tally.Timing ? rtt : null;
            ctx.Out.WriteLine(inet6
                ? PingFormat.Reply6(reply.Bytes, From6(reply.From), reply.Sequence, reply.HopLimit, time, reply.Duplicate)
                : PingFormat.Reply4(reply.Bytes, reply.From.ToString(), reply.Sequence, reply.HopLimit, time, reply.Duplicate));
        }

        public void OnError(in PingError error)
        {
            if (quietErrors)
            {
                return;
            }

            if (inet6)
            {
                ctx.Out.WriteLine($"{error.Bytes} bytes from {From6(error.From)}: {PingFormat.Icmp6Error(error.Type, error.Code, error.Mtu)}");
                return;
            }

            ctx.Out.WriteLine($"{error.Bytes} bytes from {error.From}: {PingFormat.Icmp4Error(error.Type, error.Code, error.Mtu)}");
            var header = PingFormat.QuotedHeader4(error.Quoted);
            if (header.Length > 0)
            {
                ctx.Out.WriteLine(header);
            }

            ctx.Out.WriteLine();
        }

        public void OnSendError(ushort sequence, Errno error) =>
            ctx.Err.WriteLine($"ping: {(inet6 ? "sendmsg" : "sendto")}: {ErrnoText.Describe(error)}"); // ping6.c uses sendmsg(2)
    }
}
