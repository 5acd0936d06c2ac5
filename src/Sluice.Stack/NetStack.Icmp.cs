using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Sockets;
using Sluice.Wire;

namespace Sluice.Stack;

public sealed partial class NetStack
{
    private readonly IcmpRateLimiter _icmpLimiter;

    /// <summary>ICMP input (icmp_input). The packet starts at the IP header. Takes ownership.</summary>
    private void IcmpInput(NetworkInterface ifp, Packet packet)
    {
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var hlen = ip.HeaderLength;
        if (!IcmpV4Packet.TryCreate(ip.Payload, out var icmp))
        {
            Icmp.TooShort++;
            packet.Release();
            return;
        }

        if ((packet.Flags & PacketFlags.ChecksumVerified) == 0 && !icmp.VerifyChecksum())
        {
            Icmp.Checksum++;
            packet.Release();
            return;
        }

        var type = icmp.Type;
        Icmp.InHistogram[(byte)type]++;
        switch (type)
        {
            case IcmpV4Type.Echo:
                if ((packet.Flags & (PacketFlags.Broadcast | PacketFlags.Multicast)) != 0 || ip.Destination.IsBroadcast || ip.Destination.IsMulticast)
                {
                    if (SysctlIcmpBmcastEcho.Value == 0)
                    {
                        Icmp.BroadcastEchoDropped++;
                        packet.Release();
                        return;
                    }
                }

                if (!_icmpLimiter.Allow())
                {
                    Icmp.RateLimited++;
                    packet.Release();
                    return;
                }

                IcmpReflect(ifp, packet, hlen, IcmpV4Type.EchoReply);
                return;

            case IcmpV4Type.Timestamp when SysctlIcmpTimestampReply.Value != 0 && icmp.Body.Length >= 12:
                {
                    packet.MakeWritable();
                    var body = IcmpV4Packet.CreateUnchecked(IPv4Packet.CreateUnchecked(packet.Data).Payload).Body;
                    var ms = (uint)(Loop.Now / Time.Nanos.PerMillisecond % 86_400_000);
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(body[4..], ms);
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(body[8..], ms);
                    IcmpReflect(ifp, packet, hlen, IcmpV4Type.TimestampReply);
                    return;
                }

            case IcmpV4Type.DestinationUnreachable:
            case IcmpV4Type.TimeExceeded:
            case IcmpV4Type.ParameterProblem:
            case IcmpV4Type.SourceQuench:
                if (icmp.Body.Length < IPv4Packet.MinimumHeaderLength + 8)
                {
                    Icmp.BadLength++;
                }
                else
                {
                    IcmpControlInput(type, icmp.Code, icmp.NextHopMtu, icmp.Body);
                }

                packet.Release();
                return;

            default:
                packet.Release();
                return;
        }
    }

    /// <summary>icmp_reflect: turns a request into its reply in place and sends it back. Takes ownership.</summary>
    private void IcmpReflect(NetworkInterface ifp, Packet packet, int hlen, IcmpV4Type replyType)
    {
        packet.MakeWritable();
        var ip = IPv4Packet.CreateUnchecked(packet.Data);
        var originalDestination = ip.Destination;
        var source = _localV4.ContainsKey(originalDestination.Value) ? originalDestination
            : ifp.PrimaryIPv4?.Address ?? SelectSourceV4(ip.Source) ?? IPv4Address.Any;
        var destination = ip.Source;

        // Strip IP options: the reply carries a plain 20-byte header (FreeBSD reflects only record-route-like options).
        var tos = ip.Tos;
        if (hlen > IPv4Packet.MinimumHeaderLength)
        {
            packet.TrimFront(hlen);
            packet.Prepend(IPv4Packet.MinimumHeaderLength);
        }

        var icmpSpan = packet.Data[IPv4Packet.MinimumHeaderLength..];
        var icmp = IcmpV4Packet.CreateUnchecked(icmpSpan);
        icmp.Type = replyType;
        icmp.Code = 0;
        icmp.FillChecksum();
        Icmp.Reflect++;
        Icmp.OutHistogram[(byte)replyType]++;
        var header = packet.Data[..IPv4Packet.MinimumHeaderLength];
        new IPv4Header(source, destination, IPProtocol.Icmp, icmpSpan.Length, (byte)SysctlIpTtl.Value, tos, NextIpId()).Emit(header);
        packet.Flags &= ~(PacketFlags.Broadcast | PacketFlags.Multicast | PacketFlags.ChecksumVerified | PacketFlags.Loopback);
        Ip.LocalOut++;
        OutputIPv4Raw(packet);
    }

    /// <summary>
    /// icmp_error: sends an ICMP error about <paramref name="original"/> (which starts at its IP header) to its
    /// source. Does not take ownership of <paramref name="original"/>.
    /// </summary>
    public void IcmpError(Packet original, IcmpV4Type type, byte code, int mtu = 0)
    {
        Icmp.Error++;
        var data = original.Data;
        if (!IPv4Packet.TryCreate(data, out var ip))
        {
            return;
        }

        // RFC 1122 3.2.2 / FreeBSD icmp_error: never about an ICMP error, a non-first fragment, a link-layer
        // broadcast or multicast, or an invalid source.
        if (ip.FragmentOffset != 0)
        {
            return;
        }

        if (ip.Protocol == IPProtocol.Icmp && ip.Payload.Length >= 1)
        {
            var t = (IcmpV4Type)ip.Payload[0];
            if (t is not (IcmpV4Type.Echo or IcmpV4Type.EchoReply or IcmpV4Type.Timestamp or IcmpV4Type.TimestampReply
                or IcmpV4Type.RouterAdvertisement or IcmpV4Type.RouterSolicitation))
            {
                Icmp.OldIcmp++;
                return;
            }
        }

        if ((original.Flags & (PacketFlags.Broadcast | PacketFlags.Multicast)) != 0
            || ip.Source.IsUnspecified || ip.Source.IsBroadcast || ip.Source.IsMulticast
            || ip.Destination.IsMulticast || ip.Destination.IsBroadcast)
        {
            return;
        }

        if (!_icmpLimiter.Allow())
        {
            Icmp.RateLimited++;
            return;
        }

        var quote = Math.Min(ip.TotalLength, ip.HeaderLength + (int)SysctlIcmpQuoteLength.Value);
        quote = Math.Min(quote, data.Length);
        var packet = Pool.Rent(IcmpV4Packet.HeaderLength + quote, PacketPool.DefaultHeadroom);
        var span = packet.Data;
        span[..IcmpV4Packet.HeaderLength].Clear();
        data[..quote].CopyTo(span[IcmpV4Packet.HeaderLength..]);
        var icmp = IcmpV4Packet.CreateUnchecked(span);
        icmp.Type = type;
        icmp.Code = code;
        if (type == IcmpV4Type.DestinationUnreachable && code == (byte)IcmpV4Unreachable.FragmentationNeeded)
        {
            icmp.NextHopMtu = (ushort)mtu;
        }

        icmp.FillChecksum();
        Icmp.OutHistogram[(byte)type]++;

        var recvIf = InterfaceByIndex(original.ReceiveInterfaceIndex);
        var source = _localV4.ContainsKey(ip.Destination.Value) ? ip.Destination
            : recvIf?.PrimaryIPv4?.Address ?? SelectSourceV4(ip.Source) ?? IPv4Address.Any;
        OutputIPv4(packet, source, ip.Source, IPProtocol.Icmp);
    }

    /// <summary>Feeds an ICMP error to the transport that sent the quoted packet (UDP sockets, later TCP).</summary>
    private void IcmpControlInput(IcmpV4Type type, byte code, ushort mtu, ReadOnlySpan<byte> quoted)
    {
        var hlen = (quoted[0] & 0x0f) * 4;
        if ((quoted[0] >> 4) != 4 || hlen < IPv4Packet.MinimumHeaderLength || quoted.Length < hlen + 8)
        {
            Icmp.BadLength++;
            return;
        }

        var protocol = (IPProtocol)quoted[9];
        var src = IPv4Address.Read(quoted[12..]);
        var dst = IPv4Address.Read(quoted[16..]);
        var sport = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(quoted[hlen..]);
        var dport = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(quoted[(hlen + 2)..]);
        if (_protocols[(byte)protocol] is { } handler)
        {
            handler.ControlInput((byte)type, code, mtu, quoted, ipv6: false);
            return;
        }

        if (protocol == IPProtocol.Udp && UdpTunnelControlInput(src, sport, (byte)type, code, mtu, quoted, ipv6: false))
        {
            return;
        }

        if (protocol == IPProtocol.Udp)
        {
            var error = type switch
            {
                IcmpV4Type.DestinationUnreachable when code == (byte)IcmpV4Unreachable.Port => Errno.ECONNREFUSED,
                IcmpV4Type.DestinationUnreachable when code == (byte)IcmpV4Unreachable.FragmentationNeeded => Errno.EMSGSIZE,
                IcmpV4Type.DestinationUnreachable when code is (byte)IcmpV4Unreachable.Net or (byte)IcmpV4Unreachable.NetUnknown => Errno.ENETUNREACH,
                IcmpV4Type.DestinationUnreachable => Errno.EHOSTUNREACH,
                IcmpV4Type.TimeExceeded => Errno.EHOSTUNREACH,
                _ => Errno.None,
            };
            if (error != Errno.None)
            {
                UdpControlInput(src, sport, dst, dport, error);
            }
        }
    }

    /// <summary>Called when link-layer resolution of a held packet failed. Takes ownership.</summary>
    internal void OnResolutionFailed(Packet packet, bool ipv6)
    {
        // FreeBSD's arptimer / nd6 timers answer held packets with host unreachable.
        if (ipv6)
        {
            Icmp6Error(packet, IcmpV6Type.DestinationUnreachable, 3 /* address unreachable */);
        }
        else
        {
            IcmpError(packet, IcmpV4Type.DestinationUnreachable, (byte)IcmpV4Unreachable.Host);
        }

        packet.Release();
    }
}

/// <summary>net.inet.icmp.icmplim: at most N ICMP responses per second (a token bucket refilled each second).</summary>
internal sealed class IcmpRateLimiter(NetStack stack)
{
    private long _second = -1;
    private int _count;

    public bool Allow()
    {
        var limit = stack.SysctlIcmpLimit.Value;
        if (limit <= 0)
        {
            return true;
        }

        var second = stack.Loop.Now / Time.Nanos.PerSecond;
        if (second != _second)
        {
            _second = second;
            _count = 0;
        }

        return ++_count <= limit;
    }
}
