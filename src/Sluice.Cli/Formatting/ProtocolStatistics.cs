using System.Globalization;
using System.Text;
using Sluice.Stack;

namespace Sluice.Cli.Formatting;

/// <summary>
/// <c>netstat -s</c> sections for ip, icmp, udp, ip6 and icmp6 (usr.bin/netstat/inet.c ip_stats, icmp_stats, udp_stats;
/// inet6.c ip6_stats, icmp6_stats). The wordings are written from memory of those files and are unconfirmed line by line;
/// counters Sluice does not keep are left out rather than printed as invented zeros.
/// </summary>
internal static class ProtocolStatistics
{
    private static readonly string?[] IcmpNames =
    [
        "echo reply", "#1", "#2", "destination unreachable", "source quench", "routing redirect", "#6", "#7", "echo",
        "router advertisement", "router solicitation", "time exceeded", "parameter problem", "time stamp", "time stamp reply",
        "information request", "information request reply", "address mask request", "address mask reply",
    ];

    private sealed class Lines(bool zeros)
    {
        public readonly StringBuilder Text = new();

        // p(): "\t%ju thing%s ..." with plural(n); skipped when zero under -ss.
        public void P(long n, string format)
        {
            if (n != 0 || zeros)
            {
                Text.Append(Expand(format, n)).Append('\n');
            }
        }

        private static string Expand(string format, long n) =>
            format.Replace("{n}", n.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                  .Replace("{s}", CFormat.Plural(n), StringComparison.Ordinal)
                  .Replace("{es}", CFormat.PluralEs(n), StringComparison.Ordinal);
    }

    public static string Ip(IpStatistics s, bool zeros)
    {
        var l = new Lines(zeros);
        l.Text.Append("ip:\n");
        l.P(s.Total, "\t{n} total packet{s} received");
        l.P(s.BadSum, "\t{n} bad header checksum{s}");
        l.P(s.TooSmall, "\t{n} with size smaller than minimum");
        l.P(s.TooShort, "\t{n} with data size < data length");
        l.P(s.TooLong, "\t{n} with ip length > max ip packet size");
        l.P(s.BadHeaderLength, "\t{n} with header length < data size");
        l.P(s.BadLength, "\t{n} with data length < header length");
        l.P(s.BadOptions, "\t{n} with bad options");
        l.P(s.BadVersion, "\t{n} with incorrect version number");
        l.P(s.Fragments, "\t{n} fragment{s} received");
        l.P(s.FragmentsDropped, "\t{n} fragment{s} dropped (dup or out of space)");
        l.P(s.FragmentsTimedOut, "\t{n} fragment{s} dropped after timeout");
        l.P(s.Reassembled, "\t{n} packet{s} reassembled ok");
        l.P(s.Delivered, "\t{n} packet{s} for this host");
        l.P(s.NoProtocol, "\t{n} packet{s} for unknown/unsupported protocol");
        if (s.Forwarded != 0 || zeros)
        {
            l.Text.Append(CultureInfo.InvariantCulture, $"\t{s.Forwarded} packet{CFormat.Plural(s.Forwarded)} forwarded");
            l.Text.Append(CultureInfo.InvariantCulture, $" ({s.FastForwarded} packet{CFormat.Plural(s.FastForwarded)} fast forwarded)\n");
        }

        l.P(s.CantForward, "\t{n} packet{s} not forwardable");
        l.P(s.NotMember, "\t{n} packet{s} received for unknown multicast group");
        l.P(s.RedirectSent, "\t{n} redirect{s} sent");
        l.P(s.LocalOut, "\t{n} packet{s} sent from this host");
        l.P(s.RawOut, "\t{n} packet{s} sent with fabricated ip header");
        l.P(s.OutputDropped, "\t{n} output packet{s} dropped due to no bufs, etc.");
        l.P(s.NoRoute, "\t{n} output packet{s} discarded due to no route");
        l.P(s.Fragmented, "\t{n} output datagram{s} fragmented");
        l.P(s.OutputFragments, "\t{n} fragment{s} created");
        l.P(s.CantFragment, "\t{n} datagram{s} that can't be fragmented");
        l.P(s.NoGif, "\t{n} tunneling packet{s} that can't find gif");
        l.P(s.BadAddress, "\t{n} datagram{s} with bad address in header");
        return l.Text.ToString();
    }

    public static string Icmp(IcmpStatistics s, bool zeros)
    {
        var l = new Lines(zeros);
        l.Text.Append("icmp:\n");
        l.P(s.Error, "\t{n} call{s} to icmp_error");
        l.P(s.OldIcmp, "\t{n} error{s} not generated in response to an icmp message");
        Histogram(l.Text, "Output histogram", s.OutHistogram);
        l.P(s.BadCode, "\t{n} message{s} with bad code fields");
        l.P(s.TooShort, "\t{n} message{s} less than the minimum length");
        l.P(s.Checksum, "\t{n} message{s} with bad checksum");
        l.P(s.BadLength, "\t{n} message{s} with bad length");
        l.P(s.BroadcastEchoDropped, "\t{n} multicast echo requests ignored");
        Histogram(l.Text, "Input histogram", s.InHistogram);
        l.P(s.Reflect, "\t{n} message response{s} generated");
        l.Text.Append("\tICMP address mask responses are disabled\n");
        return l.Text.ToString();
    }

    private static void Histogram(StringBuilder sb, string title, long[] counts)
    {
        var first = true;
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] == 0)
            {
                continue;
            }

            if (first)
            {
                sb.Append('\t').Append(title).Append(":\n");
                first = false;
            }

            var name = i < IcmpNames.Length ? IcmpNames[i] : null;
            sb.Append(name is null
                ? string.Create(CultureInfo.InvariantCulture, $"\t\tunknown ICMP #{i}: {counts[i]}\n")
                : string.Create(CultureInfo.InvariantCulture, $"\t\t{name}: {counts[i]}\n"));
        }
    }

    public static string Udp(UdpStatistics s, bool zeros)
    {
        var l = new Lines(zeros);
        l.Text.Append("udp:\n");
        l.P(s.Received, "\t{n} datagram{s} received");
        l.P(s.HeaderDropped, "\t{n} with incomplete header");
        l.P(s.BadLength, "\t{n} with bad data length field");
        l.P(s.BadSum, "\t{n} with bad checksum");
        l.P(s.NoChecksum, "\t{n} with no checksum");
        l.P(s.NoPort, "\t{n} dropped due to no socket");
        l.P(s.NoPortBroadcast, "\t{n} broadcast/multicast datagram{s} undelivered");
        l.P(s.FullSocket, "\t{n} dropped due to full socket buffers");
        var delivered = s.Received - s.HeaderDropped - s.BadLength - s.BadSum - s.NoPort - s.NoPortBroadcast - s.FullSocket;
        l.P(delivered, "\t{n} delivered");
        l.P(s.Sent, "\t{n} datagram{s} output");
        return l.Text.ToString();
    }

    public static string Ip6(Ip6Statistics s, bool zeros)
    {
        var l = new Lines(zeros);
        l.Text.Append("ip6:\n");
        l.P(s.Total, "\t{n} total packet{s} received");
        l.P(s.TooSmall, "\t{n} with size smaller than minimum");
        l.P(s.TooShort, "\t{n} with data size < data length");
        l.P(s.BadOptions, "\t{n} with bad options");
        l.P(s.BadVersion, "\t{n} with incorrect version number");
        l.P(s.Fragments, "\t{n} fragment{s} received");
        l.P(s.FragmentsDropped, "\t{n} fragment{s} dropped (dup or out of space)");
        l.P(s.FragmentsTimedOut, "\t{n} fragment{s} dropped after timeout");
        l.P(s.FragmentOverflow, "\t{n} fragment{s} that exceeded limit");
        l.P(s.Reassembled, "\t{n} packet{s} reassembled ok");
        l.P(s.Delivered, "\t{n} packet{s} for this host");
        l.P(s.Forwarded, "\t{n} packet{s} forwarded");
        l.P(s.CantForward, "\t{n} packet{s} not forwardable");
        l.P(s.LocalOut, "\t{n} packet{s} sent from this host");
        l.P(s.OutputDropped, "\t{n} output packet{s} dropped due to no bufs, etc.");
        l.P(s.NoRoute, "\t{n} output packet{s} discarded due to no route");
        l.P(s.Fragmented, "\t{n} output datagram{s} fragmented");
        l.P(s.OutputFragments, "\t{n} fragment{s} created");
        l.P(s.CantFragment, "\t{n} datagram{s} that can't be fragmented");
        l.P(s.BadScope, "\t{n} packet{s} that violated scope rules");
        l.P(s.NoProtocol, "\t{n} packet{s} for unknown/unsupported protocol"); // unconfirmed wording
        l.P(s.TooManyHeaders, "\t{n} packet{s} whose headers are not continuous");
        return l.Text.ToString();
    }

    public static string Icmp6(Icmp6Statistics s, bool zeros)
    {
        var l = new Lines(zeros);
        l.Text.Append("icmp6:\n");
        l.P(s.Error, "\t{n} call{s} to icmp6_error");
        l.P(s.CantError, "\t{n} error{s} not generated in response to an icmp6 message");
        l.P(s.TooFreq, "\t{n} error{s} not generated because of rate limitation");
        Histogram6(l.Text, "Output histogram", s.OutHistogram);
        l.P(s.BadCode, "\t{n} message{s} with bad code fields");
        l.P(s.TooShort, "\t{n} message{s} < minimum length");
        l.P(s.Checksum, "\t{n} bad checksum{s}");
        l.P(s.BadLength, "\t{n} message{s} with bad length");
        Histogram6(l.Text, "Input histogram", s.InHistogram);
        l.P(s.Reflect, "\t{n} message response{s} generated");
        l.P(s.BadNeighborSolicit, "\t{n} bad neighbor solicitation message{s}");
        l.P(s.BadNeighborAdvert, "\t{n} bad neighbor advertisement message{s}");
        return l.Text.ToString();
    }

    private static void Histogram6(StringBuilder sb, string title, long[] counts)
    {
        var first = true;
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] == 0)
            {
                continue;
            }

            if (first)
            {
                sb.Append('\t').Append(title).Append(":\n");
                first = false;
            }

            var name = i switch
            {
                1 => "unreach",
                2 => "packet too big",
                3 => "time exceed",
                4 => "parameter problem",
                128 => "echo",
                129 => "echo reply",
                133 => "router solicitation",
                134 => "router advertisement",
                135 => "neighbor solicitation",
                136 => "neighbor advertisement",
                137 => "redirect",
                143 => "MLDv2 listener report",
                _ => $"#{i}",
            };
            sb.Append(CultureInfo.InvariantCulture, $"\t\t{name}: {counts[i]}\n");
        }
    }
}
