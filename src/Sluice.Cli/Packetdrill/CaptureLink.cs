using System.Buffers.Binary;
using Sluice.Stack.Buffers;
using Sluice.Stack.Links;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Cli.Packetdrill;

/// <summary>
/// The wire of packetdrill's tun device: frames the stack transmits are captured (IP payload and virtual send time)
/// instead of being sent; neighbour solicitations for the remote host are answered so IPv6 resolves.
/// </summary>
/// <remarks>Runs on the event loop's thread. <see cref="Transmit"/> takes ownership of the frame and releases it.</remarks>
internal sealed class CaptureLink(EventLoop loop, MacAddress remoteMac) : ILink
{
    private IPacketSink? _receiver;

    /// <summary>IP packets (starting at the IP header) the stack sent, oldest first, with their send time in ns.</summary>
    public Queue<(long Time, byte[] Ip)> Captured { get; } = new();

    /// <summary>The stack's interface MAC, learned from its frames (for answering neighbour solicitations).</summary>
    public MacAddress LocalMac { get; set; }

    public string Kind => "packetdrill";

    public MacAddress? HardwareAddress => null;

    public bool IsUp => true;

    public void Attach(IPacketSink? receiver) => _receiver = receiver;

    public void Transmit(Packet frame)
    {
        try
        {
            var data = frame.Data;
            if (data.Length < 14)
            {
                return;
            }

            var type = BinaryPrimitives.ReadUInt16BigEndian(data[12..]);
            var ip = data[14..];
            if (type == 0x0800 && ip.Length >= 20 && ip[9] is 6 or 17)
            {
                Captured.Enqueue((loop.Now, ip.ToArray()));
            }
            else if (type == 0x86DD && ip.Length >= 40)
            {
                var next = ip[6];
                if (next == 58 && ip.Length >= 48 && ip[40] == 135)
                {
                    AnswerSolicitation(ip);
                    return;
                }

                if (next is 6 or 17)
                {
                    Captured.Enqueue((loop.Now, ip.ToArray()));
                }
            }
        }
        finally
        {
            frame.Release();
        }
    }

    /// <summary>Delivers an IP packet from the remote host to the stack as an Ethernet frame.</summary>
    public void Inject(ReadOnlySpan<byte> ip, bool ipv6)
    {
        if (_receiver is null)
        {
            return;
        }

        var packet = loop.Pool.Rent(14 + ip.Length);
        var d = packet.Data;
        LocalMac.WriteTo(d);
        remoteMac.WriteTo(d[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(d[12..], ipv6 ? (ushort)0x86DD : (ushort)0x0800);
        ip.CopyTo(d[14..]);
        _receiver.Deliver(packet);
    }

    private void AnswerSolicitation(ReadOnlySpan<byte> ns)
    {
        // RFC 4861 §7.2.4: a solicited, override advertisement with our link-layer address.
        var target = ns.Slice(48, 16);
        var src = ns.Slice(8, 16);
        var na = new byte[40 + 32];
        na[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(na.AsSpan(4), 32);
        na[6] = 58;
        na[7] = 255;
        target.CopyTo(na.AsSpan(8));
        src.CopyTo(na.AsSpan(24));
        var icmp = na.AsSpan(40);
        icmp[0] = 136;
        icmp[4] = 0x60; // solicited + override
        target.CopyTo(icmp[8..]);
        icmp[24] = 2; // target link-layer address option
        icmp[25] = 1;
        remoteMac.WriteTo(icmp[26..]);
        var sum = Checksum.PseudoHeaderV6(IPv6AddressOf(na.AsSpan(8)), IPv6AddressOf(na.AsSpan(24)), Wire.IPProtocol.IcmpV6, 32);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum.Fold(Checksum.Add(icmp, sum)));
        loop.Post(_ => Inject(na, ipv6: true));
    }

    private static IPv6Address IPv6AddressOf(ReadOnlySpan<byte> b) => IPv6Address.Read(b);

    public void Dispose()
    {
    }
}
