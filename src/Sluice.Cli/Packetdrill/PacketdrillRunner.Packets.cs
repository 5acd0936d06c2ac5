using System.Buffers.Binary;
using System.Text;
using Sluice.Wire;

namespace Sluice.Cli.Packetdrill;

internal sealed partial class PacketdrillRunner
{
    private const int UdpHeaderLength = 8;

    // ---------------------------------------------------------------- building inbound packets

    private static ushort FlagBits(string flags)
    {
        ushort bits = 0;
        foreach (var f in flags)
        {
            bits |= f switch
            {
                'F' => 0x01,
                'S' => 0x02,
                'R' => 0x04,
                'P' => 0x08,
                '.' or 'A' => 0x10,
                'U' => 0x20,
                'E' => 0x40,
                'W' => 0x80,
                _ => 0,
            };
        }

        return bits;
    }

    private static string FlagText(int bits)
    {
        var sb = new StringBuilder();
        if ((bits & 0x02) != 0)
        {
            sb.Append('S');
        }

        if ((bits & 0x01) != 0)
        {
            sb.Append('F');
        }

        if ((bits & 0x04) != 0)
        {
            sb.Append('R');
        }

        if ((bits & 0x08) != 0)
        {
            sb.Append('P');
        }

        if ((bits & 0x20) != 0)
        {
            sb.Append('U');
        }

        if ((bits & 0x40) != 0)
        {
            sb.Append('E');
        }

        if ((bits & 0x80) != 0)
        {
            sb.Append('W');
        }

        if ((bits & 0x10) != 0)
        {
            sb.Append('.');
        }

        return sb.ToString();
    }

    private static string NormalizeFlags(string flags) => FlagText(FlagBits(flags));

    private byte[] BuildOptions(IReadOnlyList<TcpOptionSpec>? options, bool inbound, ReadOnlySpan<byte> liveOptions)
    {
        if (options is null)
        {
            return [];
        }

        var bytes = new List<byte>();
        foreach (var o in options)
        {
            switch (o.Kind)
            {
                case "nop":
                    bytes.Add(1);
                    break;
                case "eol":
                    bytes.Add(0);
                    break;
                case "mss":
                    bytes.AddRange([2, 4, (byte)(o.A >> 8), (byte)o.A]);
                    break;
                case "wscale":
                    bytes.AddRange([3, 3, (byte)o.A]);
                    break;
                case "sackOK":
                    bytes.AddRange([4, 2]);
                    break;
                case "TS":
                {
                    var val = (uint)o.A;
                    var ecr = (uint)o.B;
                    if (inbound)
                    {
                        ecr = MapEcr(ecr);
                    }
                    else if (FindOption(liveOptions, 8) is { Length: 8 } live)
                    {
                        val = BinaryPrimitives.ReadUInt32BigEndian(live);
                    }

                    bytes.AddRange([8, 10]);
                    Span<byte> b = stackalloc byte[8];
                    BinaryPrimitives.WriteUInt32BigEndian(b, val);
                    BinaryPrimitives.WriteUInt32BigEndian(b[4..], ecr);
                    bytes.AddRange(b.ToArray());
                    break;
                }

                case "sack":
                {
                    var blocks = o.Blocks ?? [];
                    bytes.AddRange([5, (byte)(2 + (8 * blocks.Count))]);
                    Span<byte> b = stackalloc byte[8];
                    foreach (var (l, r) in blocks)
                    {
                        var off = inbound ? _localIsnOffset : 0;
                        BinaryPrimitives.WriteUInt32BigEndian(b, unchecked(l + off));
                        BinaryPrimitives.WriteUInt32BigEndian(b[4..], unchecked(r + off));
                        bytes.AddRange(b.ToArray());
                    }

                    break;
                }

                case "md5":
                {
                    bytes.AddRange([19, 18]);
                    var digest = !inbound && FindOption(liveOptions, 19) is { Length: 16 } live ? live.ToArray() : new byte[16];
                    bytes.AddRange(digest);
                    break;
                }

                case "FO":
                    bytes.AddRange([34, (byte)(2 + o.Bytes!.Length)]);
                    bytes.AddRange(o.Bytes);
                    break;
            }
        }

        return [.. bytes];
    }

    private static ReadOnlySpan<byte> FindOption(ReadOnlySpan<byte> options, byte kind)
    {
        var i = 0;
        while (i < options.Length)
        {
            var k = options[i];
            if (k == 0)
            {
                break;
            }

            if (k == 1)
            {
                i++;
                continue;
            }

            if (i + 1 >= options.Length || options[i + 1] < 2 || i + options[i + 1] > options.Length)
            {
                break;
            }

            if (k == kind)
            {
                return options.Slice(i + 2, options[i + 1] - 2);
            }

            i += options[i + 1];
        }

        return default;
    }

    private uint MapEcr(uint scriptEcr)
    {
        if (_tsMap.TryGetValue(scriptEcr, out var live))
        {
            return live;
        }

        return _lastTsOffset is { } off ? unchecked(scriptEcr + off) : scriptEcr;
    }

    private void InjectTcp(TcpSegmentSpec s)
    {
        var encap = s.Udp is not null;
        var options = BuildOptions(s.Options, inbound: true, default);
        var optLen = (options.Length + 3) & ~3;
        var tcpLen = 20 + optLen + s.Length;
        if (tcpLen > 65000)
        {
            throw new ScriptException(_line, "inbound packet too large");
        }

        var tcp = new byte[tcpLen];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, _remotePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(2), _localPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), s.Start ?? 0);
        var flags = FlagBits(s.Flags);
        var ack = s.Ack is { } a ? unchecked(a + _localIsnOffset) : 0;
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), ack);
        tcp[12] = (byte)(((20 + optLen) / 4) << 4);
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(14), (ushort)(s.Window ?? 65535));
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(18), (ushort)(s.Urgent ?? 0));
        options.CopyTo(tcp, 20);
        if (s.Options?.FirstOrDefault(o => o.Kind == "md5") is { } md5 && TcpMd5Signature.TryFindDigest(tcp, out var digestAt))
        {
            // `md5 valid`: signed with --tcp_md5_secret over the segment as sent (checksum still zero); `md5 invalid`: that digest with its bits flipped.
            var digest = tcp.AsSpan(digestAt, TcpMd5Signature.DigestLength);
            Md5Digest(tcp, _remoteAddress, _localAddress, digest);
            if (md5.A == 0)
            {
                for (var i = 0; i < digest.Length; i++)
                {
                    digest[i] ^= 0xFF;
                }
            }
        }

        var sum = PseudoSum(_remoteAddress, _localAddress, IPProtocol.Tcp, tcpLen);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(16), Checksum.Fold(Checksum.Add(tcp, sum)));

        var payload = tcp;
        var proto = IPProtocol.Tcp;
        if (encap)
        {
            payload = WrapUdp(tcp, s.Udp!.Value.Source, s.Udp.Value.Destination, _remoteAddress, _localAddress);
            proto = IPProtocol.Udp;
        }

        _link.Inject(BuildIp(payload, proto, s.Ip, _remoteAddress, _localAddress), _ipv6);
    }

    private byte[] WrapUdp(byte[] inner, ushort src, ushort dst, Stack.Sockets.InetAddress from, Stack.Sockets.InetAddress to)
    {
        var udp = new byte[UdpHeaderLength + inner.Length];
        BinaryPrimitives.WriteUInt16BigEndian(udp, src);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), dst);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        inner.CopyTo(udp, UdpHeaderLength);
        var c = Checksum.Fold(Checksum.Add(udp, PseudoSum(from, to, IPProtocol.Udp, udp.Length)));
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(6), c == 0 ? (ushort)0xffff : c);
        return udp;
    }

    private uint PseudoSum(Stack.Sockets.InetAddress from, Stack.Sockets.InetAddress to, IPProtocol proto, int length) => _ipv6
        ? Checksum.PseudoHeaderV6(from.V6, to.V6, proto, length)
        : Checksum.PseudoHeaderV4(from.V4, to.V4, proto, length);

    private byte[] BuildIp(byte[] payload, IPProtocol proto, IpSpec ip, Stack.Sockets.InetAddress from, Stack.Sockets.InetAddress to)
    {
        var tos = ip.Tos ?? 0;
        if (ip.Ecn is { } ecn)
        {
            tos = (tos & 0xFC) | ecn switch
            {
                EcnSpec.Ect0 => 2,
                EcnSpec.Ect1 => 1,
                EcnSpec.Ce => 3,
                EcnSpec.Ect01 => 2,
                _ => 0,
            };
        }

        var ttl = ip.Ttl ?? 64;
        if (_ipv6)
        {
            var p = new byte[40 + payload.Length];
            p[0] = (byte)(0x60 | (tos >> 4));
            p[1] = (byte)((tos & 0x0F) << 4);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)payload.Length);
            p[6] = (byte)proto;
            p[7] = (byte)ttl;
            from.V6.WriteTo(p.AsSpan(8));
            to.V6.WriteTo(p.AsSpan(24));
            payload.CopyTo(p, 40);
            return p;
        }
        else
        {
            var p = new byte[20 + payload.Length];
            p[0] = 0x45;
            p[1] = (byte)tos;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
            p[8] = (byte)ttl;
            p[9] = (byte)proto;
            from.V4.WriteTo(p.AsSpan(12));
            to.V4.WriteTo(p.AsSpan(16));
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), Checksum.Compute(p.AsSpan(0, 20)));
            payload.CopyTo(p, 20);
            return p;
        }
    }

    // ---------------------------------------------------------------- ICMP

    private (byte Type, byte Code) IcmpTypeCode(IcmpSpec s)
    {
        byte? code = s.Code is { } c && c.StartsWith("code_", StringComparison.Ordinal) && byte.TryParse(c.AsSpan(5), out var n) ? n : null;
        if (_ipv6)
        {
            return s.Type switch
            {
                "unreachable" or "destination_unreachable" => (1, code ?? (s.Code switch
                {
                    "no_route" or "net_unreachable" => 0,
                    "admin_prohibited" or "net_prohibited" or "host_prohibited" or "packet_filtered" => 1,
                    "beyond_scope" => 2,
                    "address_unreachable" or "host_unreachable" => 3,
                    "port_unreachable" => 4,
                    _ => throw new ScriptException(_line, $"unknown ICMPv6 unreachable code '{s.Code}'"),
                })),
                "packet_too_big" => (2, code ?? 0),
                "time_exceeded" => (3, code ?? (s.Code switch
                {
                    "exceeded_hop_limit" or "ttl_exceeded_in_transit" or null => 0,
                    "frag_reass_exceeded" or "fragment_reassembly_time_exceeded" => 1,
                    _ => throw new ScriptException(_line, $"unknown ICMPv6 time_exceeded code '{s.Code}'"),
                })),
                "parameter_problem" => (4, code ?? 0),
                _ => throw new ScriptException(_line, $"unknown ICMPv6 type '{s.Type}'"),
            };
        }

        return s.Type switch
        {
            "unreachable" or "destination_unreachable" => (3, code ?? (s.Code switch
            {
                "net_unreachable" => 0,
                "host_unreachable" => 1,
                "protocol_unreachable" => 2,
                "port_unreachable" => 3,
                "frag_needed" => 4,
                "source_route_failed" => 5,
                "net_unknown" => 6,
                "host_unknown" => 7,
                "source_host_isolated" => 8,
                "net_prohibited" => 9,
                "host_prohibited" => 10,
                "net_unreachable_for_tos" => 11,
                "host_unreachable_for_tos" => 12,
                "packet_filtered" => 13,
                "precedence_violation" => 14,
                "precedence_cutoff" => 15,
                _ => throw new ScriptException(_line, $"unknown ICMP unreachable code '{s.Code}'"),
            })),
            "source_quench" => (4, code ?? 0),
            "redirect" => (5, code ?? 0),
            "time_exceeded" => (11, code ?? (s.Code switch
            {
                "ttl_exceeded_in_transit" or "exceeded_hop_limit" or null => 0,
                "frag_reass_exceeded" => 1,
                _ => throw new ScriptException(_line, $"unknown ICMP time_exceeded code '{s.Code}'"),
            })),
            "parameter_problem" => (12, code ?? 0),
            "packet_too_big" => (3, 4),
            _ => throw new ScriptException(_line, $"unknown ICMP type '{s.Type}'"),
        };
    }

    private void InjectIcmp(IcmpSpec s)
    {
        var (type, code) = IcmpTypeCode(s);

        // The quoted packet: what we sent to the remote host (local -> remote), with its TCP header.
        var tcp = new byte[20];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, _localPort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(2), _remotePort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), unchecked(s.Start + _localIsnOffset));
        tcp[12] = 0x50;
        tcp[13] = 0x10;
        var inner = tcp;
        var proto = IPProtocol.Tcp;
        if (s.Udp is { } u)
        {
            inner = new byte[UdpHeaderLength + tcp.Length];
            BinaryPrimitives.WriteUInt16BigEndian(inner, u.Source);
            BinaryPrimitives.WriteUInt16BigEndian(inner.AsSpan(2), u.Destination);
            BinaryPrimitives.WriteUInt16BigEndian(inner.AsSpan(4), (ushort)(UdpHeaderLength + 20 + s.Length));
            tcp.CopyTo(inner, UdpHeaderLength);
            proto = IPProtocol.Udp;
        }

        var quoted = BuildIp(inner, proto, new IpSpec(), _localAddress, _remoteAddress);

        // The quoted header claims the full original length.
        if (_ipv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(4), (ushort)(inner.Length + s.Length));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(2), (ushort)(20 + inner.Length + s.Length));
            quoted[10] = quoted[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(10), Checksum.Compute(quoted.AsSpan(0, 20)));
        }

        var icmp = new byte[8 + quoted.Length];
        icmp[0] = type;
        icmp[1] = code;
        if (s.Mtu is { } mtu)
        {
            if (_ipv6)
            {
                BinaryPrimitives.WriteUInt32BigEndian(icmp.AsSpan(4), (uint)mtu);
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(6), (ushort)mtu);
            }
        }

        quoted.CopyTo(icmp, 8);
        var sum = _ipv6 ? Checksum.PseudoHeaderV6(_remoteAddress.V6, _localAddress.V6, IPProtocol.IcmpV6, icmp.Length) : 0u;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), Checksum.Fold(Checksum.Add(icmp, sum)));
        _link.Inject(BuildIp(icmp, _ipv6 ? IPProtocol.IcmpV6 : IPProtocol.Icmp, s.Ip, _remoteAddress, _localAddress), _ipv6);
    }

    // ---------------------------------------------------------------- checking outbound packets

    /// <summary>The fields of a captured outbound packet.</summary>
    private sealed record LivePacket(int Tos, int Ttl, bool Udp, ushort UdpSource, ushort UdpDestination, ushort SourcePort, ushort DestinationPort,
        uint Seq, uint Ack, int Flags, ushort Window, byte[] Options, int PayloadLength)
    {
        /// <summary>UDP length field of an encapsulated packet, and the UDP length the IP header implies.</summary>
        public (int Field, int Expected) UdpLength { get; init; }

        /// <summary>The UDP checksum of an encapsulated packet verifies (IPv6: and is not zero, RFC 8200 §8.1).</summary>
        public bool UdpChecksumOk { get; init; } = true;

        /// <summary>The urgent pointer field.</summary>
        public ushort Urgent { get; init; }
    }

    private LivePacket? ParseLive(byte[] ip)
    {
        int tos, ttl, offset;
        byte proto;
        if (_ipv6)
        {
            if (ip.Length < 40 || ip[0] >> 4 != 6)
            {
                return null;
            }

            tos = ((ip[0] & 0x0F) << 4) | (ip[1] >> 4);
            ttl = ip[7];
            proto = ip[6];
            offset = 40;
        }
        else
        {
            if (ip.Length < 20 || ip[0] >> 4 != 4)
            {
                return null;
            }

            tos = ip[1];
            ttl = ip[8];
            proto = ip[9];
            offset = (ip[0] & 0x0F) * 4;
        }

        var udp = proto == 17;
        ushort us = 0, ud = 0;
        (int, int) udpLength = default;
        var udpChecksumOk = true;
        if (udp)
        {
            if (ip.Length < offset + UdpHeaderLength)
            {
                return null;
            }

            us = BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(offset));
            ud = BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(offset + 2));
            var datagram = ip.AsSpan(offset);
            udpLength = (BinaryPrimitives.ReadUInt16BigEndian(datagram[4..]), datagram.Length);
            var sum = BinaryPrimitives.ReadUInt16BigEndian(datagram[6..]);
            if (sum != 0 || _ipv6)
            {
                var pseudo = _ipv6
                    ? Checksum.PseudoHeaderV6(_localAddress.V6, _remoteAddress.V6, IPProtocol.Udp, datagram.Length)
                    : Checksum.PseudoHeaderV4(_localAddress.V4, _remoteAddress.V4, IPProtocol.Udp, datagram.Length);
                udpChecksumOk = sum != 0 && Checksum.Fold(Checksum.Add(datagram, pseudo)) == 0;
            }

            offset += UdpHeaderLength;
        }
        else if (proto != 6)
        {
            return null;
        }

        if (ip.Length < offset + 20)
        {
            return null;
        }

        var t = ip.AsSpan(offset);
        var hl = (t[12] >> 4) * 4;
        if (hl < 20 || hl > t.Length)
        {
            return null;
        }

        return new LivePacket(tos, ttl, udp, us, ud, BinaryPrimitives.ReadUInt16BigEndian(t), BinaryPrimitives.ReadUInt16BigEndian(t[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(t[4..]), BinaryPrimitives.ReadUInt32BigEndian(t[8..]), t[13], BinaryPrimitives.ReadUInt16BigEndian(t[14..]),
            t[20..hl].ToArray(), t.Length - hl)
        {
            UdpLength = udpLength,
            UdpChecksumOk = udpChecksumOk,
            Urgent = BinaryPrimitives.ReadUInt16BigEndian(t[18..]),
        };
    }

    private void VerifyOutbound(TcpPacketEvent ev, byte[] bytes, long actualMicros)
    {
        var s = ev.Segment;
        var live = ParseLive(bytes) ?? throw new ScriptException(ev.Line, "error handling packet: live packet is not a TCP segment");
        string Fail(string what) =>
            $"error handling packet: {what}\nscript packet: {Sec(Resolve(ev.Time.Start, _lastMicros))} {Describe(s)}\nactual packet: {Sec(actualMicros)} {DescribeLive(bytes)}";

        if (s.Udp is { } u)
        {
            if (!live.Udp)
            {
                throw new ScriptException(ev.Line, Fail("live packet is not UDP-encapsulated"));
            }

            if (live.UdpSource != u.Source || live.UdpDestination != u.Destination)
            {
                throw new ScriptException(ev.Line, Fail($"live packet field udp ports: expected: {u.Source} > {u.Destination} vs actual: {live.UdpSource} > {live.UdpDestination}"));
            }

            if (live.UdpLength.Field != live.UdpLength.Expected)
            {
                throw new ScriptException(ev.Line, Fail($"live packet field udp_len: expected: {live.UdpLength.Expected} vs actual: {live.UdpLength.Field}"));
            }

            if (!live.UdpChecksumOk)
            {
                throw new ScriptException(ev.Line, Fail("live packet field udp_sum: bad UDP checksum"));
            }
        }
        else if (live.Udp)
        {
            throw new ScriptException(ev.Line, Fail("live packet is UDP-encapsulated but the script's is not"));
        }

        var flags = FlagBits(s.Flags);
        var isSyn = (flags & 0x02) != 0;
        if (isSyn && (live.Flags & 0x02) != 0)
        {
            // A SYN from the stack names the connection: learn its ports and ISN (packetdrill's live/script ISN pair).
            _localPort = live.SourcePort;
            _remotePort = live.DestinationPort;
            if (s.Start is { } st && !s.AbsoluteSeq)
            {
                _localIsnOffset = unchecked(live.Seq - st);
            }
        }

        if (live.SourcePort != _localPort || live.DestinationPort != _remotePort)
        {
            throw new ScriptException(ev.Line, Fail($"live packet field tcp ports: expected: {_localPort} > {_remotePort} vs actual: {live.SourcePort} > {live.DestinationPort}"));
        }

        if (live.Flags != flags)
        {
            throw new ScriptException(ev.Line, Fail($"live packet field tcp_flags: expected: {FlagText(flags)} vs actual: {FlagText(live.Flags)}"));
        }

        if (s.Start is { } start)
        {
            var expected = s.AbsoluteSeq ? start : unchecked(start + _localIsnOffset);
            if (live.Seq != expected)
            {
                var got = s.AbsoluteSeq ? live.Seq : unchecked(live.Seq - _localIsnOffset);
                throw new ScriptException(ev.Line, Fail($"live packet field tcp_seq: expected: {start} (0x{start:x}) vs actual: {got} (0x{got:x})"));
            }
        }

        if (live.PayloadLength != s.Length)
        {
            throw new ScriptException(ev.Line, Fail($"live packet payload: expected {s.Length} bytes vs actual {live.PayloadLength} bytes"));
        }

        if (s.Ack is { } ack && live.Ack != ack)
        {
            throw new ScriptException(ev.Line, Fail($"live packet field tcp_ack_seq: expected: {ack} (0x{ack:x}) vs actual: {live.Ack} (0x{live.Ack:x})"));
        }

        if (s.Window is { } win && live.Window != win)
        {
            throw new ScriptException(ev.Line, Fail($"live packet field tcp_window: expected: {win} (0x{win:x}) vs actual: {live.Window} (0x{live.Window:x})"));
        }

        if (s.Urgent is { } urg && live.Urgent != urg)
        {
            throw new ScriptException(ev.Line, Fail($"live packet field tcp_urg_ptr: expected: {urg} (0x{urg:x}) vs actual: {live.Urgent} (0x{live.Urgent:x})"));
        }

        if (!s.AnyOptions)
        {
            var expected = BuildOptions(s.Options, inbound: false, live.Options);
            if (!expected.AsSpan().SequenceEqual(live.Options))
            {
                throw new ScriptException(ev.Line, Fail($"bad outbound TCP options: expected: <{FormatOptions(expected)}> vs actual: <{FormatOptions(live.Options)}>"));
            }
        }

        if (s.Options?.FirstOrDefault(o => o.Kind == "md5") is { } md5)
        {
            var segment = LiveSegment(bytes);
            if (!TcpMd5Signature.TryFindDigest(segment, out var digestAt))
            {
                throw new ScriptException(ev.Line, Fail("live packet has no TCP MD5 signature option"));
            }

            Span<byte> digest = stackalloc byte[TcpMd5Signature.DigestLength];
            Md5Digest(segment, _localAddress, _remoteAddress, digest);
            var valid = digest.SequenceEqual(segment.Slice(digestAt, TcpMd5Signature.DigestLength));
            if (valid != (md5.A != 0))
            {
                throw new ScriptException(ev.Line, Fail($"live packet field tcp_md5: expected: {(md5.A != 0 ? "valid" : "invalid")} vs actual: {(valid ? "valid" : "invalid")} signature (secret from --tcp_md5_secret)"));
            }
        }

        if (s.Options is not null)
        {
            var liveTs = FindOption(live.Options, 8);
            foreach (var o in s.Options)
            {
                if (o.Kind == "TS" && liveTs.Length == 8)
                {
                    var lv = BinaryPrimitives.ReadUInt32BigEndian(liveTs);
                    _tsMap[(uint)o.A] = lv;
                    _lastTsOffset = unchecked(lv - (uint)o.A);
                }
            }
        }

        if (s.Ip.Tos is { } tos && (live.Tos >> 2) != (tos >> 2))
        {
            throw new ScriptException(ev.Line, Fail($"live packet field {(_ipv6 ? "ipv6_traffic_class" : "ipv4_tos")}: expected: 0x{tos:x} vs actual: 0x{live.Tos:x}"));
        }

        if (s.Ip.Ttl is { } ttl && live.Ttl != ttl)
        {
            throw new ScriptException(ev.Line, Fail($"live packet field {(_ipv6 ? "ipv6_hop_limit" : "ipv4_ttl")}: expected: {ttl} vs actual: {live.Ttl}"));
        }

        if (s.Ip.Ecn is { } ecn)
        {
            var bits = live.Tos & 3;
            var ok = ecn switch
            {
                EcnSpec.NoEcn => bits == 0,
                EcnSpec.Ect0 => bits == 2,
                EcnSpec.Ect1 => bits == 1,
                EcnSpec.Ce => bits == 3,
                _ => bits is 1 or 2,
            };
            if (!ok)
            {
                throw new ScriptException(ev.Line, Fail($"live packet field ip_ecn: expected: {ecn.ToString().ToLowerInvariant()} vs actual: {bits switch { 0 => "noecn", 1 => "ect1", 2 => "ect0", _ => "ce" }}"));
            }
        }
    }

    /// <summary>RFC 2385 digest of <paramref name="segment"/> from <paramref name="from"/> to <paramref name="to"/> with --tcp_md5_secret.</summary>
    private void Md5Digest(ReadOnlySpan<byte> segment, Stack.Sockets.InetAddress from, Stack.Sockets.InetAddress to, Span<byte> digest)
    {
        if (!_script.Options.TryGetValue("tcp_md5_secret", out var secret) || secret.Length == 0)
        {
            throw new ScriptException(_line, "the md5 option needs --tcp_md5_secret");
        }

        var key = System.Text.Encoding.UTF8.GetBytes(secret);
#pragma warning disable CA5351 // RFC 2385 defines the signature as MD5.
        using var md5 = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.MD5);
#pragma warning restore CA5351
        var ok = _ipv6
            ? TcpMd5Signature.TryComputeV6(md5, segment, from.V6, to.V6, key, digest)
            : TcpMd5Signature.TryComputeV4(md5, segment, from.V4, to.V4, key, digest);
        if (!ok)
        {
            throw new ScriptException(_line, "cannot compute the TCP MD5 signature of a malformed segment");
        }
    }

    /// <summary>The TCP segment inside a captured IP packet (after the UDP header when encapsulated).</summary>
    private ReadOnlySpan<byte> LiveSegment(byte[] ip)
    {
        int offset;
        int end;
        if (_ipv6)
        {
            offset = 40;
            end = Math.Min(ip.Length, 40 + BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(4)));
            if (ip[6] == 17)
            {
                offset += UdpHeaderLength;
            }
        }
        else
        {
            offset = (ip[0] & 0x0F) * 4;
            end = Math.Min(ip.Length, BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(2)));
            if (ip[9] == 17)
            {
                offset += UdpHeaderLength;
            }
        }

        return offset <= end ? ip.AsSpan(offset, end - offset) : default;
    }

    // ---------------------------------------------------------------- printing

    internal static string FormatOptions(ReadOnlySpan<byte> o)
    {
        var parts = new List<string>();
        var i = 0;
        while (i < o.Length)
        {
            var k = o[i];
            if (k is 0 or 1)
            {
                parts.Add(k == 0 ? "eol" : "nop");
                i++;
                continue;
            }

            if (i + 1 >= o.Length || o[i + 1] < 2 || i + o[i + 1] > o.Length)
            {
                parts.Add($"malformed({k})");
                break;
            }

            var d = o.Slice(i + 2, o[i + 1] - 2);
            parts.Add(k switch
            {
                2 when d.Length == 2 => $"mss {BinaryPrimitives.ReadUInt16BigEndian(d)}",
                3 when d.Length == 1 => $"wscale {d[0]}",
                4 => "sackOK",
                8 when d.Length == 8 => $"TS val {BinaryPrimitives.ReadUInt32BigEndian(d)} ecr {BinaryPrimitives.ReadUInt32BigEndian(d[4..])}",
                5 => "sack " + FormatSack(d.ToArray()),
                19 => "md5",
                34 => d.Length == 0 ? "FO" : "FO " + Convert.ToHexString(d).ToLowerInvariant(),
                _ => $"kind {k} len {o[i + 1]}",
            });
            i += o[i + 1];
        }

        return string.Join(',', parts);
    }

    private static string FormatSack(byte[] d) =>
        string.Join(' ', Enumerable.Range(0, d.Length / 8).Select(j => $"{BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan(j * 8))}:{BinaryPrimitives.ReadUInt32BigEndian(d.AsSpan((j * 8) + 4))}"));

    private static string Describe(TcpSegmentSpec s)
    {
        var sb = new StringBuilder();
        sb.Append(s.Inbound ? "< " : "> ").Append(NormalizeFlags(s.Flags)).Append(' ');
        sb.Append(s.Start is { } st ? $"{st}:{s.End}({s.Length})" : $"...({s.Length})");
        if (s.Ack is { } a)
        {
            sb.Append(" ack ").Append(a);
        }

        if (s.Window is { } w)
        {
            sb.Append(" win ").Append(w);
        }

        if (s.AnyOptions)
        {
            sb.Append(" <...>");
        }
        else if (s.Options is { Count: > 0 } o)
        {
            sb.Append(" <").Append(string.Join(',', o.Select(x => x.Kind switch
            {
                "mss" or "wscale" => $"{x.Kind} {x.A}",
                "TS" => $"TS val {x.A} ecr {x.B}",
                "sack" => "sack " + string.Join(' ', x.Blocks!.Select(b => $"{b.Left}:{b.Right}")),
                "md5" => "md5",
                "FO" => x.Bytes!.Length == 0 ? "FO" : "FO " + Convert.ToHexString(x.Bytes).ToLowerInvariant(),
                _ => x.Kind,
            }))).Append('>');
        }

        if (s.Udp is { } u)
        {
            sb.Append($"/udp({u.Source} > {u.Destination})");
        }

        return sb.ToString();
    }

    private string DescribeLive(byte[] bytes)
    {
        var p = ParseLive(bytes);
        if (p is null)
        {
            return "(not TCP)";
        }

        var seq = unchecked(p.Seq - _localIsnOffset);
        var sb = new StringBuilder();
        sb.Append("> ").Append(FlagText(p.Flags)).Append($" {seq}:{unchecked(seq + (uint)p.PayloadLength)}({p.PayloadLength})");
        if ((p.Flags & 0x10) != 0)
        {
            sb.Append(" ack ").Append(p.Ack);
        }

        sb.Append(" win ").Append(p.Window);
        if (p.Options.Length > 0)
        {
            sb.Append(" <").Append(FormatOptions(p.Options)).Append('>');
        }

        if (p.Udp)
        {
            sb.Append($"/udp({p.UdpSource} > {p.UdpDestination})");
        }

        return sb.ToString();
    }
}
