using Sluice.Stack.Buffers;
using Sluice.Stack.Sockets;
using Sluice.Wire;

namespace Sluice.Stack.Tcp;

/// <summary>Everything needed to emit one segment.</summary>
internal struct OutSegment
{
    public TcpConnectionKey Key;
    public uint Seq;
    public uint Ack;
    public TcpFlags Flags;
    public uint Window; // value for the header field (already shifted)
    public ushort Mss;
    public int WindowScale; // -1 = absent
    public bool SackPermitted;
    public bool Timestamps;
    public uint TsVal;
    public uint TsEcr;
    public int DataOffset; // offset in the send buffer
    public int DataLength;
    public byte Ecn; // IP ECN codepoint (RFC 3168 §5): 0 Not-ECT, 2 ECT(0)
    public bool Signature; // TCP-MD5 option (RFC 2385) for a segment sent without a tcb (tcp_respond for a TF_SIGNATURE socket)
    public bool FastOpen; // a Fast Open option (RFC 7413) with FastOpenCookie[..FastOpenCookieLength]
    public byte[]? FastOpenCookie;
    public int FastOpenCookieLength;
    public ushort Urgent; // urgent pointer (with TcpFlags.Urg)
    public ushort UdpPort; // with UdpPortExplicit: the UDP port to encapsulate toward (0 = plain TCP)
    public bool UdpPortExplicit; // false: the control block's t_port decides (tcp_output); true: a reply to a segment (tcp_respond)
}

public sealed partial class TcpStack
{
    /// <summary>
    /// tcp_addoptions up to SACK, in its order: MSS, window scale, SACK permitted, timestamps, the TCP-MD5 signature
    /// (a zero digest, filled in last) and Fast Open. Returns the signature digest's offset in the TCP header, or -1.
    /// </summary>
    internal static int WriteLeadingOptions(ref TcpOptionWriter w, in OutSegment o, TcpControlBlock? tcb)
    {
        if (o.Mss != 0)
        {
            w.WriteMss(o.Mss);
        }

        if (o.WindowScale >= 0)
        {
            w.WriteWindowScale((byte)o.WindowScale);
        }

        if (o.SackPermitted)
        {
            w.WriteSackPermitted();
        }

        if (o.Timestamps)
        {
            w.WriteTimestamps(o.TsVal, o.TsEcr);
        }

        var digestAt = -1;
        if (o.Signature || (tcb is not null && tcb.Has(TcbFlags.Signature) && !tcb.Has(TcbFlags.NoOpt)))
        {
            Span<byte> zeros = stackalloc byte[TcpMd5Signature.DigestLength];
            zeros.Clear();
            if (w.WriteMd5(zeros))
            {
                digestAt = TcpPacket.MinimumHeaderLength + w.Length - TcpMd5Signature.DigestLength;
            }
        }

        if (o.FastOpen)
        {
            w.WriteFastOpen(o.FastOpenCookie.AsSpan(0, o.FastOpenCookieLength));
        }

        return digestAt;
    }

    /// <summary>Builds a segment (header, FreeBSD-aligned options, payload from the send ring), checksums and sends it.</summary>
    internal Errno Emit(in OutSegment o, TcpControlBlock? tcb)
    {
        Span<byte> opts = stackalloc byte[TcpPacket.MaximumOptionsLength];
        var w = new TcpOptionWriter(opts, alignLikeFreeBsd: true);
        var digestAt = WriteLeadingOptions(ref w, in o, tcb);
        if (tcb is not null && (o.Flags & TcpFlags.Syn) == 0 && (o.Flags & TcpFlags.Rst) == 0 && tcb.SackEnabled && (tcb.Reass.Count > 0 || tcb.DsackPending))
        {
            Span<(uint, uint)> blocks = stackalloc (uint, uint)[4];
            var n = 0;
            var r = tcb.Reass;
            if (tcb.DsackPending)
            {
                // RFC 2883 §4: the D-SACK block comes first and is sent once (tcp_clean_dsack_blocks).
                blocks[n++] = (tcb.DsackStart, tcb.DsackEnd);
                tcb.DsackPending = false;
            }

            if (r.Latest >= 0)
            {
                blocks[n++] = (r.Start(r.Latest), r.End(r.Latest));
            }

            for (var i = r.Count - 1; i >= 0 && n < 4; i--)
            {
                if (i != r.Latest)
                {
                    blocks[n++] = (r.Start(i), r.End(i));
                }
            }

            if (w.WriteSack(blocks[..n]))
            {
                Statistics.tcps_sack_send_blocks++;
            }
        }

        var optionLength = w.Finish(padWithEndOfList: true);
        var headerLength = TcpPacket.MinimumHeaderLength + optionLength;
        var udpPort = o.UdpPortExplicit ? o.UdpPort : tcb?.UdpPort ?? 0;
        var udpLength = udpPort != 0 ? UdpPacket.HeaderLength : 0;
        var packet = Net.Pool.Rent(udpLength + headerLength + o.DataLength);
        if (tcb is not null && tcb.TsoMax > 0 && udpPort == 0 && o.DataLength > tcb.Mss - optionLength)
        {
            // TSO (tcp_output's tso_segsz = t_maxseg - optlen): the link cuts the payload into segments of this size.
            // tcp_output never uses TSO for a UDP-encapsulated connection.
            packet.GsoSize = (ushort)Math.Max(tcb.Mss - optionLength, 1);
        }

        var datagram = packet.Data;
        var span = datagram[udpLength..];
        new TcpHeader(o.Key.LocalPort, o.Key.RemotePort, o.Seq, o.Ack, o.Flags, (ushort)Math.Min(o.Window, 65535), o.Urgent).Emit(span, optionLength);
        opts[..optionLength].CopyTo(span[TcpPacket.MinimumHeaderLength..]);
        if (o.DataLength > 0 && tcb is not null)
        {
            tcb.SendBuffer.CopyOut(o.DataOffset, span.Slice(headerLength, o.DataLength));
        }

        var local = o.Key.LocalAddress;
        var remote = o.Key.RemoteAddress;
        if (local.IsUnspecified)
        {
            local = remote.IsIPv6 ? Net.SourceFor(remote.V6) ?? IPv6Address.Any : Net.SourceFor(remote.V4) ?? IPv4Address.Any;
        }

        if (digestAt >= 0 && !Sign(span, digestAt, local, remote))
        {
            // tcp_output: a segment whose signature cannot be made (no SA) is not sent.
            packet.Release();
            return Errno.EACCES;
        }

        var tcp = TcpPacket.CreateUnchecked(span);
        Statistics.tcps_sndtotal++;
        // IP_TOS / IPV6_TCLASS supply the DSCP bits, TCP the ECN field (tcp_output: ip_tos |= IPTOS_ECN_ECT0).
        var tos = (byte)(((tcb?.IpTos ?? 0) & ~3) | (o.Ecn & 3));
        var ttl = tcb?.IpTtl ?? -1;
        if (udpPort != 0)
        {
            // TCP over UDP (tcp_output / tcp_respond with t_port): source port net.inet.tcp.udp_tunneling_port, the TCP
            // checksum left zero, the UDP checksum over the pseudo header, UDP header and the whole TCP segment.
            new UdpHeader((ushort)SysctlUdpTunnelingPort.Value, udpPort).Emit(datagram, span.Length);
            var udp = UdpPacket.CreateUnchecked(datagram);
            if (remote.IsIPv6)
            {
                udp.FillChecksumV6(local.V6, remote.V6);
                return Net.OutputIPv6(packet, local.V6, remote.V6, IPProtocol.Udp, ttl, tos, Net.ZoneInterface(remote));
            }

            udp.FillChecksumV4(local.V4, remote.V4);
            return Net.OutputIPv4(packet, local.V4, remote.V4, IPProtocol.Udp, ttl, tos);
        }

        if (remote.IsIPv6)
        {
            tcp.FillChecksumV6(local.V6, remote.V6);
            return Net.OutputIPv6(packet, local.V6, remote.V6, IPProtocol.Tcp, ttl, tos, Net.ZoneInterface(remote));
        }

        tcp.FillChecksumV4(local.V4, remote.V4);
        return Net.OutputIPv4(packet, local.V4, remote.V4, IPProtocol.Tcp, ttl, tos);
    }
}
