using System.Globalization;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;

namespace Sluice.Cli;

/// <summary>
/// tcpdrop(8): drops one TCP connection (<c>laddr lport faddr fport</c>, or <c>laddr:lport faddr:fport</c> /
/// <c>laddr.lport faddr.fport</c>), or all of them (<c>-a</c>), or those using a congestion control (<c>-C</c>),
/// a stack (<c>-S</c>) or in a state (<c>-s</c>); <c>-l</c> prints the tcpdrop commands instead of dropping.
/// </summary>
/// <remarks>
/// Drops go through <see cref="TcpStack.Drop"/> (net.inet.tcp.drop). Exit 0 when every drop succeeded, 1 otherwise
/// or on a usage error, as tcpdrop.c. Never throws for bad input.
/// </remarks>
internal sealed class Tcpdrop : ITool
{
    private const string UsageText =
        "usage: tcpdrop local-address local-port foreign-address foreign-port\n"
        + "       tcpdrop local-address:local-port foreign-address:foreign-port\n"
        + "       tcpdrop local-address.local-port foreign-address.foreign-port\n"
        + "       tcpdrop [-l] -a\n"
        + "       tcpdrop [-l] -C cc-algo [-S stack] [-s state]\n"
        + "       tcpdrop [-l] [-C cc-algo] -S stack [-s state]\n"
        + "       tcpdrop [-l] [-C cc-algo] [-S stack] -s state\n";

    public int Run(ToolContext ctx, ReadOnlySpan<string> args) => Run(TcpStack.Attach(ctx.Stack), args, ctx.Out, ctx.Err);

    /// <summary>Runs tcpdrop against <paramref name="tcp"/>; used by the lab tool and the packetdrill shell.</summary>
    internal static int Run(TcpStack tcp, ReadOnlySpan<string> args, TextWriter stdout, TextWriter stderr)
    {
        bool all = false, list = false, subset = false;
        string? cc = null, stack = null;
        TcpState? state = null;
        var opt = new GetOpt(args, "aC:lS:s:");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'a':
                    all = true;
                    break;
                case 'l':
                    list = true;
                    break;
                case 'C':
                    subset = true;
                    cc = opt.OptionArgument;
                    break;
                case 'S':
                    subset = true;
                    stack = opt.OptionArgument;
                    break;
                case 's':
                    subset = true;
                    // tcpstates[] names; CLOSED and LISTEN are not connections that can be dropped.
                    state = ParseState(opt.OptionArgument ?? "");
                    if (state is null or TcpState.Closed or TcpState.Listen)
                    {
                        return Usage(stderr);
                    }

                    break;
                default:
                    stderr.WriteLine(opt.Diagnostic("tcpdrop", c));
                    return Usage(stderr);
            }
        }

        var operands = args[opt.OperandIndex..];
        if (all && subset)
        {
            return Usage(stderr);
        }

        if (all || subset)
        {
            return operands.Length != 0 ? Usage(stderr) : DropMatching(tcp, all, cc, stack, state, list, stdout, stderr);
        }

        if (list || operands.Length is not (2 or 4))
        {
            return Usage(stderr);
        }

        string lhost, lport, fhost, fport;
        if (operands.Length == 4)
        {
            (lhost, lport, fhost, fport) = (operands[0], operands[1], operands[2], operands[3]);
        }
        else if (!SplitHostPort(operands[0], out lhost, out lport) || !SplitHostPort(operands[1], out fhost, out fport))
        {
            return Usage(stderr);
        }

        if (!TryEndpoint(lhost, lport, out var local))
        {
            stderr.WriteLine($"tcpdrop: getaddrinfo: {lhost} port {lport}: Name does not resolve");
            return 1;
        }

        if (!TryEndpoint(fhost, fport, out var foreign))
        {
            stderr.WriteLine($"tcpdrop: getaddrinfo: {fhost} port {fport}: Name does not resolve");
            return 1;
        }

        if (local.Address.IsIPv6 != foreign.Address.IsIPv6)
        {
            stderr.WriteLine($"tcpdrop: {lhost} {lport} {fhost} {fport}: different address families");
            return 1;
        }

        return DropOne(tcp, local, foreign, list: false, stdout, stderr) ? 0 : 1;
    }

    private static int DropMatching(TcpStack tcp, bool all, string? cc, string? stack, TcpState? state, bool list, TextWriter stdout, TextWriter stderr)
    {
        var ok = true;
        foreach (var conn in tcp.Connections())
        {
            if (conn.State == TcpState.Listen)
            {
                continue; // tcpdropall skips listening sockets
            }

            if (!all)
            {
                if (state is { } s && conn.State != s)
                {
                    continue;
                }

                // tcpdrop(8): TIME_WAIT connections belong to no stack and no congestion control.
                if (stack is not null && (conn.State == TcpState.TimeWait || !string.Equals(conn.Stack, stack, StringComparison.Ordinal)))
                {
                    continue;
                }

                if (cc is not null && (conn.State == TcpState.TimeWait || !string.Equals(conn.CongestionControl, cc, StringComparison.Ordinal)))
                {
                    continue;
                }
            }

            ok &= DropOne(tcp, conn.Local, conn.Foreign, list, stdout, stderr);
        }

        return ok ? 0 : 1;
    }

    private static bool DropOne(TcpStack tcp, InetEndpoint local, InetEndpoint foreign, bool list, TextWriter stdout, TextWriter stderr)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"{local.Address} {local.Port} {foreign.Address} {foreign.Port}");
        if (list)
        {
            stdout.WriteLine($"tcpdrop {name}");
            return true;
        }

        var e = tcp.Drop(local, foreign);
        if (e != Errno.None)
        {
            stderr.WriteLine($"tcpdrop: {name}: {ErrnoText.Describe(e)}");
            return false;
        }

        stdout.WriteLine($"{name}: dropped");
        return true;
    }

    /// <summary>The address and port of <c>addr:port</c> or <c>addr.port</c> (the last separator splits).</summary>
    private static bool SplitHostPort(string word, out string host, out string port)
    {
        var at = word.LastIndexOfAny([':', '.']);
        if (at <= 0 || at == word.Length - 1)
        {
            host = port = "";
            return false;
        }

        host = word[..at];
        port = word[(at + 1)..];
        return true;
    }

    private static bool TryEndpoint(string host, string port, out InetEndpoint endpoint)
    {
        endpoint = default;
        if (!InetAddress.TryParse(host, out var address)
            || !ushort.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p))
        {
            return false;
        }

        endpoint = new InetEndpoint(address, p);
        return true;
    }

    private static TcpState? ParseState(string name)
    {
        for (var s = TcpState.Closed; s <= TcpState.TimeWait; s++)
        {
            if (TcpStateNames.Of(s) == name)
            {
                return s;
            }
        }

        return null;
    }

    private static int Usage(TextWriter stderr)
    {
        stderr.Write(UsageText);
        return 1;
    }
}
