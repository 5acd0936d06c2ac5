using Sluice.Stack.Buffers;

namespace Sluice.Stack.Sockets;

/// <summary>
/// A kernel consumer of the datagrams of one UDP socket (FreeBSD's udp_set_kernel_tunneling): TCP over UDP
/// (net.inet.tcp.udp_tunneling_port) uses it. Datagrams and ICMP errors for the socket go to the tunnel instead of
/// the socket's queue.
/// </summary>
internal interface IUdpTunnel
{
    /// <summary>
    /// A datagram for the tunnel socket. Takes ownership of <paramref name="packet"/>, which starts at the IP header;
    /// the UDP header (length and checksum already verified) begins at <paramref name="udpOffset"/>.
    /// </summary>
    void TunnelInput(Packet packet, int udpOffset, bool ipv6);

    /// <summary>An ICMP or ICMPv6 error quoting a datagram sent from the tunnel socket's port; <paramref name="quoted"/> starts at the quoted IP header.</summary>
    void TunnelControlInput(byte icmpType, byte icmpCode, int mtu, ReadOnlySpan<byte> quoted, bool ipv6);
}
