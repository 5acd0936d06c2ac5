using System.Buffers.Binary;
using System.Globalization;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Wire;

namespace Sluice.Ipfw;

public sealed partial class IpfwInstance
{
    /// <summary>The name of the interface <c>log</c> writes to (ip_fw_bpf.c).</summary>
    public const string LogInterfaceName = "ipfw0";

    private readonly SortedDictionary<int, IpfwNatInstance> _nat = [];
    private NetworkInterface? _logInterface;

    /// <summary>NAT instances by number (<c>ipfw nat N config</c>).</summary>
    public IReadOnlyDictionary<int, IpfwNatInstance> Nat => _nat;

    /// <summary>Creates or replaces NAT instance <c>config.Id</c>; a reconfigured instance starts without links.</summary>
    public void ConfigureNat(IpfwNatConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (_nat.TryGetValue(config.Id, out var n))
        {
            n.Config = config;
            n.ClearLinks();
        }
        else
        {
            _nat.Add(config.Id, new IpfwNatInstance(_stack, config));
        }
    }

    /// <summary>Deletes NAT instance <paramref name="id"/>; false when it does not exist.</summary>
    public bool DeleteNat(int id) => _nat.Remove(id);

    /// <summary>
    /// The <c>ipfw0</c> interface that <c>log</c> rules write to, created with the first such rule: each logged packet
    /// is tapped with a fake Ethernet header (destination "DDDDDD", source "SSSSSS", the packet's EtherType), as
    /// ip_fw_log.c does with net.inet.ip.fw.verbose=0, so <c>tcpdump -i ipfw0</c> sees them.
    /// </summary>
    public NetworkInterface LogInterface
    {
        get
        {
            if (_logInterface is null || _logInterface.Stack != _stack)
            {
                _logInterface = _stack.FindInterface(LogInterfaceName) ?? _stack.CreateInterface(LogInterfaceName, null, "ipfw", mtu: 65536);
                _logInterface.SetUp(true);
            }

            return _logInterface;
        }
    }

    /// <summary>Packets written to <see cref="LogInterface"/>.</summary>
    public long LoggedPackets { get; private set; }

    private bool RunNat(int id, Packet packet, ref PacketContext ctx)
    {
        // ipfw_nat: a missing instance or a non-IPv4 packet is denied.
        if (!_nat.TryGetValue(id, out var nat) || ctx.IPv6)
        {
            return false;
        }

        packet.MakeWritable();
        return nat.Translate(packet, ctx.Direction == PfilDirection.Out);
    }

    private void LogPacket(Packet packet, ref PacketContext ctx, IpfwRule rule)
    {
        if (_verbose.Value != 0)
        {
            LogVerbose(packet, ref ctx, rule);
            return;
        }

        rule.Logged++;
        LoggedPackets++;
        var ifp = LogInterface;
        // ip_fw_log.c (verbose=0): the packet goes to ipfw0's BPF taps only, behind a fake Ethernet header.
        var frame = _stack.Pool.Rent(14 + packet.Length);
        var d = frame.Data;
        "DDDDDDSSSSSS"u8.CopyTo(d);
        BinaryPrimitives.WriteUInt16BigEndian(d[12..], ctx.IPv6 ? (ushort)0x86dd : (ushort)0x0800);
        packet.Data.CopyTo(d[14..]);
        ifp.Capture(d, outbound: true);
        frame.Release();
    }

    /// <summary>
    /// ip_fw_log.c with net.inet.ip.fw.verbose=1: one line per logged packet in the VNET's message buffer at
    /// LOG_SECURITY|LOG_INFO (<c>dmesg -a</c>), e.g. <c>ipfw: 100 Deny TCP 192.0.2.1:1234 192.0.2.2:80 in via epair0b</c>;
    /// a rule logs at most its logamount packets (0: no limit), then says <c>ipfw: limit N reached on entry R</c> at
    /// LOG_NOTICE once, until <c>ipfw resetlog</c> or <c>ipfw zero</c>.
    /// </summary>
    /// <remarks>Formatting a line allocates: this is the slow, opt-in logging path, bounded by the log limits.</remarks>
    private void LogVerbose(Packet packet, ref PacketContext ctx, IpfwRule rule)
    {
        if (rule.LogAmount != 0 && rule.Logged >= rule.LogAmount)
        {
            return;
        }

        rule.Logged++;
        LoggedPackets++;
        var line = string.Create(CultureInfo.InvariantCulture, $"ipfw: {rule.Number} {LogAction(rule)} {LogProtocol(packet.Data, ref ctx, out var fragment)} {(ctx.Direction == PfilDirection.Out ? "out" : "in")} via {ctx.Interface.Name}{fragment}");
        _stack.Messages.Log(MessageBuffer.FacilitySecurity | MessageBuffer.Info, line);
        if (rule.LogAmount != 0 && rule.Logged == rule.LogAmount)
        {
            _stack.Messages.Log(MessageBuffer.FacilitySecurity | MessageBuffer.Notice, string.Create(CultureInfo.InvariantCulture, $"ipfw: limit {rule.LogAmount} reached on entry {rule.Number}"));
        }
    }

    /// <summary>The action word of a verbose log line (ipfw_log's switch on the rule's first action).</summary>
    private static string LogAction(IpfwRule rule) => rule.Action switch
    {
        IpfwAction.Allow => "Accept",
        IpfwAction.Deny => "Deny",
        IpfwAction.Reject => "Reject",
        IpfwAction.Reset => "Reset",
        IpfwAction.Unreach or IpfwAction.Unreach6 => string.Create(CultureInfo.InvariantCulture, $"Unreach {rule.Argument}"),
        IpfwAction.Count => "Count",
        IpfwAction.Skipto => string.Create(CultureInfo.InvariantCulture, $"SkipTo {rule.Argument}"),
        IpfwAction.Call => string.Create(CultureInfo.InvariantCulture, $"Call {rule.Argument}"),
        IpfwAction.Return => "Return",
        IpfwAction.Pipe => string.Create(CultureInfo.InvariantCulture, $"Pipe {rule.Argument}"),
        IpfwAction.Queue => string.Create(CultureInfo.InvariantCulture, $"Queue {rule.Argument}"),
        IpfwAction.SetFib => string.Create(CultureInfo.InvariantCulture, $"SetFib {rule.Argument}"),
        IpfwAction.Nat => "Nat",
        IpfwAction.Fwd => LogForward(rule.ForwardTo ?? string.Empty),
        _ => "UNKNOWN", // check-state has no case in ipfw_log either
    };

    /// <summary><c>Forward to ADDR[:PORT]</c>, IPv6 addresses in brackets.</summary>
    private static string LogForward(string target)
    {
        var comma = target.IndexOf(',', StringComparison.Ordinal);
        var host = comma < 0 ? target : target[..comma];
        var port = comma < 0 ? string.Empty : ":" + target[(comma + 1)..];
        return host.Contains(':', StringComparison.Ordinal) ? $"Forward to [{host}]{port}" : $"Forward to {host}{port}";
    }

    /// <summary>The protocol part (<c>TCP a:p b:q</c>, <c>ICMP:8.0 a b</c>, <c>P:47 a b</c>) and the fragment suffix.</summary>
    private static string LogProtocol(ReadOnlySpan<byte> data, ref PacketContext ctx, out string fragment)
    {
        fragment = string.Empty;
        string src, dst;
        int upper, offset;
        if (ctx.IPv6)
        {
            src = "[" + new IPv6Address((ulong)(ctx.Id.Source >> 64), (ulong)ctx.Id.Source).ToString() + "]";
            dst = "[" + new IPv6Address((ulong)(ctx.Id.Destination >> 64), (ulong)ctx.Id.Destination).ToString() + "]";
            upper = 40;
            offset = 0;
            if (data.Length >= 48 && data[6] == 44)
            {
                // A fragment header right after the fixed header: (frag ID:LEN@OFFSET[+]).
                upper = 48;
                var offlg = BinaryPrimitives.ReadUInt16BigEndian(data[42..]);
                offset = offlg & 0xfff8;
                var more = (offlg & 1) != 0;
                if (offset != 0 || more)
                {
                    var plen = BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
                    fragment = string.Create(CultureInfo.InvariantCulture, $" (frag {BinaryPrimitives.ReadUInt32BigEndian(data[44..]):x8}:{plen - 8}@{offset}{(more ? "+" : string.Empty)})");
                }
            }
        }
        else
        {
            src = new IPv4Address(ctx.Id.Source4).ToString();
            dst = new IPv4Address(ctx.Id.Destination4).ToString();
            upper = data.Length >= 20 ? (data[0] & 0x0f) * 4 : 20;
            var ipoff = data.Length >= 20 ? BinaryPrimitives.ReadUInt16BigEndian(data[6..]) : 0;
            offset = (ipoff & 0x1fff) * 8;
            if ((ipoff & 0x3fff) != 0)
            {
                var iplen = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
                fragment = string.Create(CultureInfo.InvariantCulture, $" (frag {BinaryPrimitives.ReadUInt16BigEndian(data[4..])}:{iplen - upper}@{offset}{((ipoff & 0x2000) != 0 ? "+" : string.Empty)})");
            }
        }

        var id = ctx.Id;
        return id.Protocol switch
        {
            6 or 17 when offset == 0 => string.Create(CultureInfo.InvariantCulture, $"{(id.Protocol == 6 ? "TCP" : "UDP")} {src}:{id.SourcePort} {dst}:{id.DestinationPort}"),
            6 or 17 => $"{(id.Protocol == 6 ? "TCP" : "UDP")} {src} {dst}",
            1 or 58 when offset == 0 && data.Length > upper + 1 => string.Create(CultureInfo.InvariantCulture, $"{(id.Protocol == 1 ? "ICMP" : "ICMPv6")}:{data[upper]}.{data[upper + 1]} {src} {dst}"),
            1 or 58 => $"{(id.Protocol == 1 ? "ICMP" : "ICMPv6")} {src} {dst}",
            _ => string.Create(CultureInfo.InvariantCulture, $"P:{id.Protocol} {src} {dst}"),
        };
    }

    /// <summary>send_reject with ICMP_REJECT_RST: a TCP RST to the sender of a TCP segment that is not itself a RST.</summary>
    private void SendReset(Packet packet, ref PacketContext ctx)
    {
        if (ctx.Id.Protocol != 6 || ctx.Fragment || (ctx.TcpFlags & 0x04) != 0)
        {
            return;
        }

        var data = packet.Data;
        var ipLength = ctx.IPv6 ? 40 : (data[0] & 0x0f) * 4;
        var total = ctx.IPv6 ? 40 + BinaryPrimitives.ReadUInt16BigEndian(data[4..]) : BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if (ctx.IPv6 && data[6] != 6 || data.Length < ipLength + 20)
        {
            return;
        }

        var tcp = data[ipLength..];
        var dataOffset = (tcp[12] >> 4) * 4;
        var seq = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        var ack = BinaryPrimitives.ReadUInt32BigEndian(tcp[8..]);
        var flags = tcp[13];
        var payload = Math.Max(0, Math.Min(total, data.Length) - ipLength - dataOffset);

        var reply = _stack.Pool.Rent(20);
        var r = reply.Data;
        r.Clear();
        r[0] = tcp[2];
        r[1] = tcp[3];
        r[2] = tcp[0];
        r[3] = tcp[1];
        r[12] = 5 << 4;
        if ((flags & 0x10) != 0)
        {
            // RFC 9293 §3.10.7.1: a segment with ACK gets <SEQ=SEG.ACK><CTL=RST>.
            BinaryPrimitives.WriteUInt32BigEndian(r[4..], ack);
            r[13] = 0x04;
        }
        else
        {
            var end = seq + (uint)payload + ((flags & 0x02) != 0 ? 1u : 0) + ((flags & 0x01) != 0 ? 1u : 0);
            BinaryPrimitives.WriteUInt32BigEndian(r[8..], end);
            r[13] = 0x14;
        }

        if (!ctx.IPv6)
        {
            var source = new IPv4Address(ctx.Id.Destination4);
            var destination = new IPv4Address(ctx.Id.Source4);
            BinaryPrimitives.WriteUInt16BigEndian(r[16..], Checksum.Fold(Checksum.Add(r, Checksum.PseudoHeaderV4(source, destination, IPProtocol.Tcp, 20))));
            _stack.OutputIPv4(reply, source, destination, IPProtocol.Tcp);
        }
        else
        {
            var source = V6(ctx.Id.Destination);
            var destination = V6(ctx.Id.Source);
            BinaryPrimitives.WriteUInt16BigEndian(r[16..], Checksum.Fold(Checksum.Add(r, Checksum.PseudoHeaderV6(source, destination, IPProtocol.Tcp, 20))));
            _stack.OutputIPv6(reply, source, destination, IPProtocol.Tcp);
        }
    }

    /// <summary>send_reject6: ICMPv6 destination unreachable with <paramref name="code"/> back to the sender.</summary>
    private void SendUnreachable6(Packet packet, ref PacketContext ctx, int code)
    {
        if (!ctx.IPv6)
        {
            return;
        }

        _stack.Icmp6Error(packet, IcmpV6Type.DestinationUnreachable, (byte)code);
    }

    /// <summary>
    /// fwd ADDR[,PORT] (ip_fw2.c O_FORWARD_IP, ip_fw_pfil.c): a next hop that is one of our addresses tags the packet
    /// (PACKET_TAG_IPFORWARD with M_FASTFWD_OURS) and passes it: the stack delivers it locally whatever its destination
    /// and TCP/UDP look the socket up by ADDR and PORT (the packet's own port without one), so a transparent proxy
    /// there sees the original destination as its local address. Any other next hop takes the packet there instead
    /// of its route (NetStack.SendVia; on input after a TTL decrement, time exceeded at TTL 1).
    /// </summary>
    private PfilVerdict Forward(Packet packet, ref PacketContext ctx, IpfwRule rule)
    {
        // An address of the other family (or tablearg, which has no table value here): the packet passes unchanged.
        if (rule.ForwardHop is not { } hop || hop.Address.IsIPv6 != ctx.IPv6)
        {
            return PfilVerdict.Pass;
        }

        // ipfw_check_packet: in_localip / in6_localip decide between local delivery and forwarding.
        if (ctx.IPv6 ? _stack.IsLocalAddress(hop.Address.V6) : _stack.IsLocalAddress(hop.Address.V4))
        {
            packet.SetNextHop(hop, local: true);
            return PfilVerdict.Pass;
        }

        if (ctx.Direction == PfilDirection.In && !DecrementTtl(packet, ref ctx))
        {
            return PfilVerdict.Drop;
        }

        if (ctx.IPv6)
        {
            _stack.SendVia(packet, hop.Address.V6);
        }
        else
        {
            _stack.SendVia(packet, hop.Address.V4);
        }

        return PfilVerdict.Consumed;
    }

    private bool DecrementTtl(Packet packet, ref PacketContext ctx)
    {
        if (ctx.Ttl <= 1)
        {
            if (ctx.IPv6)
            {
                _stack.Icmp6Error(packet, IcmpV6Type.TimeExceeded, 0);
            }
            else
            {
                _stack.IcmpError(packet, IcmpV4Type.TimeExceeded, 0);
            }

            return false;
        }

        packet.MakeWritable();
        var d = packet.Data;
        if (ctx.IPv6)
        {
            d[7]--;
            return true;
        }

        var old = (ushort)((d[8] << 8) | d[9]);
        d[8]--;
        BinaryPrimitives.WriteUInt16BigEndian(d[10..], Checksum.Update(BinaryPrimitives.ReadUInt16BigEndian(d[10..]), old, (ushort)((d[8] << 8) | d[9])));
        packet.Flags |= PacketFlags.Forwarded;
        return true;
    }

    private static IPv6Address V6(UInt128 a) => new((ulong)(a >> 64), (ulong)a);
}
