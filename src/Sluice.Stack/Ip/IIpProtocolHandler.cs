using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;

namespace Sluice.Stack.Ip;

/// <summary>
/// An upper-layer protocol registered with a stack (TCP, CARP, pfsync): receives locally delivered packets of its
/// IP protocol number and the ICMP errors that quote them.
/// </summary>
/// <remarks>Called on the event loop.</remarks>
public interface IIpProtocolHandler
{
    /// <summary>
    /// Takes ownership of <paramref name="packet"/>, which starts at the IPv4 or IPv6 header; the upper-layer header
    /// begins at <paramref name="transportOffset"/>. Link and IP checks (addresses, IP checksum, reassembly) are done;
    /// the transport checksum is the handler's to verify.
    /// </summary>
    void Input(NetworkInterface ifp, Packet packet, int transportOffset, bool ipv6);

    /// <summary>
    /// An ICMP or ICMPv6 error quoting a packet of this protocol. <paramref name="quoted"/> starts at the quoted IP
    /// header (as much as the error carried). <paramref name="mtu"/> is set for fragmentation-needed / packet-too-big.
    /// </summary>
    void ControlInput(byte icmpType, byte icmpCode, int mtu, ReadOnlySpan<byte> quoted, bool ipv6);
}
