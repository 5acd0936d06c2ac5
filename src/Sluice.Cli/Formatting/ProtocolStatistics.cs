using System.Globalization;
using System.Text;
using Sluice.Stack;
using Sluice.Stack.Tcp;

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

        // p2()/p2a(): two counters, the line shown when either is non-zero.
        public void P2(long n, long m, string format)
        {
            if (n != 0 || m != 0 || zeros)
            {
                Text.Append(Expand(format.Replace("{m}", m.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                    .Replace("{t}", CFormat.Plural(m), StringComparison.Ordinal), n)).Append('\n');
            }
        }

        private static string Expand(string format, long n) =>
            format.Replace("{n}", n.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                  .Replace("{s}", CFormat.Plural(n), StringComparison.Ordinal)
                  .Replace("{es}", CFormat.PluralEs(n), StringComparison.Ordinal)
                  .Replace("{ies}", CFormat.PluralIes(n), StringComparison.Ordinal);
    }

    /// <summary>
    /// <c>netstat -s -p tcp</c> (inet.c tcp_stats, the libxo version of FreeBSD 12–14) [src]: every line of FreeBSD's,
    /// in its order. Counters Sluice has no mechanism for (URG, host cache, ECT(1)) are real zeros here;
    /// <paramref name="states"/> gives the <c>TCP connection count by state</c> section (indexed by <see cref="TcpState"/>).
    /// </summary>
    public static string Tcp(TcpStatistics s, long[] states, bool zeros)
    {
        var l = new Lines(zeros);
        l.Text.Append("tcp:\n");
        l.P(s.tcps_sndtotal, "\t{n} packet{s} sent");
        l.P2(s.tcps_sndpack, s.tcps_sndbyte, "\t\t{n} data packet{s} ({m} byte{t})");
        l.P2(s.tcps_sndrexmitpack, s.tcps_sndrexmitbyte, "\t\t{n} data packet{s} ({m} byte{t}) retransmitted");
        l.P(s.tcps_sndrexmitbad, "\t\t{n} data packet{s} unnecessarily retransmitted");
        l.P(0, "\t\t{n} resend{s} initiated by MTU discovery");
        l.P2(s.tcps_sndacks, s.tcps_delack, "\t\t{n} ack-only packet{s} ({m} delayed)");
        l.P(s.tcps_sndurg, "\t\t{n} URG only packet{s}");
        l.P(s.tcps_sndprobe, "\t\t{n} window probe packet{s}");
        l.P(s.tcps_sndwinup, "\t\t{n} window update packet{s}");
        l.P(s.tcps_sndctrl, "\t\t{n} control packet{s}");
        l.P(s.tcps_rcvtotal, "\t{n} packet{s} received");
        l.P2(s.tcps_rcvackpack, s.tcps_rcvackbyte, "\t\t{n} ack{s} (for {m} byte{t})");
        l.P(s.tcps_rcvdupack, "\t\t{n} duplicate ack{s}");
        l.P(s.tcps_rcvacktoomuch, "\t\t{n} ack{s} for unsent data");
        l.P2(s.tcps_rcvpack, s.tcps_rcvbyte, "\t\t{n} packet{s} ({m} byte{t}) received in-sequence");
        l.P2(s.tcps_rcvduppack, s.tcps_rcvdupbyte, "\t\t{n} completely duplicate packet{s} ({m} byte{t})");
        l.P(s.tcps_pawsdrop, "\t\t{n} old duplicate packet{s}");
        l.P2(s.tcps_rcvpartduppack, s.tcps_rcvpartdupbyte, "\t\t{n} packet{s} with some dup. data ({m} byte{t} duped)");
        l.P2(s.tcps_rcvoopack, s.tcps_rcvoobyte, "\t\t{n} out-of-order packet{s} ({m} byte{t})");
        l.P2(s.tcps_rcvpackafterwin, s.tcps_rcvbyteafterwin, "\t\t{n} packet{s} ({m} byte{t}) of data after window");
        l.P(s.tcps_rcvwinprobe, "\t\t{n} window probe{s}");
        l.P(s.tcps_rcvwinupd, "\t\t{n} window update packet{s}");
        l.P(s.tcps_rcvafterclose, "\t\t{n} packet{s} received after close");
        l.P(s.tcps_rcvbadsum, "\t\t{n} discarded for bad checksum{s}");
        l.P(s.tcps_rcvbadoff, "\t\t{n} discarded for bad header offset field{s}");
        l.P(s.tcps_rcvshort, "\t\t{n} discarded because packet too short");
        l.P(0, "\t\t{n} discarded due to memory problems");
        l.P(s.tcps_connattempt, "\t{n} connection request{s}");
        l.P(s.tcps_accepts, "\t{n} connection accept{s}");
        l.P(s.tcps_badsyn, "\t{n} bad connection attempt{s}");
        l.P(s.tcps_listendrop, "\t{n} listen queue overflow{s}");
        l.P(s.tcps_badrst, "\t{n} ignored RSTs in the window{s}");
        l.P(s.tcps_connects, "\t{n} connection{s} established (including accepts)");
        l.P(0, "\t\t{n} time{s} used RTT from hostcache");
        l.P(0, "\t\t{n} time{s} used RTT variance from hostcache");
        l.P(0, "\t\t{n} time{s} used slow-start threshold from hostcache");
        l.P2(s.tcps_closed, s.tcps_drops, "\t{n} connection{s} closed (including {m} drop{t})");
        l.P(0, "\t\t{n} connection{s} updated cached RTT on close");
        l.P(0, "\t\t{n} connection{s} updated cached RTT variance on close");
        l.P(0, "\t\t{n} connection{s} updated cached ssthresh on close");
        l.P(s.tcps_conndrops, "\t{n} embryonic connection{s} dropped");
        l.P2(s.tcps_rttupdated, s.tcps_segstimed, "\t{n} segment{s} updated rtt (of {m} attempt{t})");
        l.P(s.tcps_rexmttimeo, "\t{n} retransmit timeout{s}");
        l.P(s.tcps_timeoutdrop, "\t\t{n} connection{s} dropped by rexmit timeout");
        l.P(s.tcps_persisttimeo, "\t{n} persist timeout{s}");
        l.P(s.tcps_persistdrop, "\t\t{n} connection{s} dropped by persist timeout");
        l.P(s.tcps_finwait2_drops, "\t{n} Connection{s} (fin_wait_2) dropped because of timeout");
        l.P(s.tcps_keeptimeo, "\t{n} keepalive timeout{s}");
        l.P(s.tcps_keepprobe, "\t\t{n} keepalive probe{s} sent");
        l.P(s.tcps_keepdrops, "\t\t{n} connection{s} dropped by keepalive");
        l.P(s.tcps_predack, "\t{n} correct ACK header prediction{s}");
        l.P(s.tcps_predetdat, "\t{n} correct data packet header prediction{s}");
        l.P(s.tcps_sc_added, "\t{n} syncache entr{ies} added");
        l.P(s.tcps_sc_retransmitted, "\t\t{n} retransmitted");
        l.P(s.tcps_sc_dupsyn, "\t\t{n} dupsyn");
        l.P(s.tcps_sc_dropped, "\t\t{n} dropped");
        l.P(s.tcps_sc_completed, "\t\t{n} completed");
        l.P(0, "\t\t{n} bucket overflow");
        l.P(0, "\t\t{n} cache overflow");
        l.P(s.tcps_sc_reset, "\t\t{n} reset");
        l.P(s.tcps_sc_stale, "\t\t{n} stale");
        l.P(s.tcps_sc_aborted, "\t\t{n} aborted");
        l.P(s.tcps_sc_badack, "\t\t{n} badack");
        l.P(0, "\t\t{n} unreach");
        l.P(s.tcps_sc_zonefail, "\t\t{n} zone failure{s}");
        l.P(s.tcps_sc_sendcookie, "\t{n} cookie{s} sent");
        l.P(s.tcps_sc_recvcookie, "\t{n} cookie{s} received");
        l.P(0, "\t{n} hostcache entr{ies} added");
        l.P(0, "\t\t{n} bucket overflow");
        l.P(s.tcps_sack_recovery_episode, "\t{n} SACK recovery episode{s}");
        l.P(s.tcps_sack_rexmits, "\t{n} segment rexmit{s} in SACK recovery episodes");
        l.P(s.tcps_sack_rexmit_bytes, "\t{n} byte rexmit{s} in SACK recovery episodes");
        l.P(s.tcps_sack_rcv_blocks, "\t{n} SACK option{s} (SACK blocks) received");
        l.P(s.tcps_sack_send_blocks, "\t{n} SACK option{s} (SACK blocks) sent");
        l.P(0, "\t{n} SACK scoreboard overflow");
        l.P(s.tcps_ecn_ce, "\t{n} packet{s} with ECN CE bit set");
        l.P(s.tcps_ecn_ect0, "\t{n} packet{s} with ECN ECT(0) bit set");
        l.P(0, "\t{n} packet{s} with ECN ECT(1) bit set");
        l.P(0, "\t{n} successful ECN handshake{s}");
        l.P(s.tcps_ecn_rcwnd, "\t{n} time{s} ECN reduced the congestion window");
        l.P(s.tcps_sig_rcvgoodsig, "\t{n} packet{s} with matching signature received");
        l.P(s.tcps_sig_rcvbadsig, "\t{n} packet{s} with bad signature received");
        l.P(s.tcps_sig_err_buildsig, "\t{n} time{s} failed to make signature due to no SA");
        l.P(s.tcps_sig_err_sigopt, "\t{n} time{s} unexpected signature received");
        l.P(s.tcps_sig_err_nosigopt, "\t{n} time{s} no signature provided by segment");

        // inet.c tcp_stats prints no TLP or DSACK line (struct tcpstat's tcps_tlpresends, tcps_dsack_* are read by
        // other tools): rack's probe counters are the sysctls net.inet.tcp.rack.stats.tlp_*.

        l.Text.Append("TCP connection count by state:\n");
        for (var i = 0; i < states.Length; i++)
        {
            if (!zeros && states[i] == 0)
            {
                continue;
            }

            var name = TcpStateNames.Of((TcpState)i);
            l.Text.Append(CultureInfo.InvariantCulture, $"\t{states[i]} {(states[i] == 1 ? "connection" : "connections")} in {name} state\n");
        }

        return l.Text.ToString();
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
                130 => "multicast listener query",
                131 => "multicast listener report",
                132 => "multicast listener done",
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
