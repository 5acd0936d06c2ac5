namespace Sluice.Wire.Tests;

/// <summary>
/// Frames used across the codec tests. Each was built byte by byte with python3 struct packing after the
/// layout of the named real-world packet, written to a pcap, and cross-checked with tshark 4.x
/// (<c>-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE</c>), which decoded
/// every field as asserted in the tests and reported each checksum as "Good".
/// </summary>
internal static class Captures
{
    /// <summary>Linux ARP request "Who has 192.0.2.2? Tell 192.0.2.1", padded to 60 bytes.</summary>
    public const string ArpRequest =
        "ffffffffffff52540012345608060001080006040001525400123456c0000201000000000000c0000202000000000000000000000000000000000000";

    /// <summary>Linux iputils ping echo request, id 0x1c2d seq 1, 16-byte timeval then the 0x10..0x37 pattern (56 data bytes); IPv4 id 0x4c3b DF TTL 64.</summary>
    public const string IcmpEcho =
        "525400abcdef5254001234560800450000544c3b400040016a6ac0000201c00002020800f7c21c2d0001b2a166650000000000350c0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

    /// <summary>DNS query "A example.com" id 0xabcd from 192.0.2.1:53124 to 198.51.100.53:53; UDP checksum 0xc844.</summary>
    public const string DnsQuery =
        "525400abcdef5254001234560800450000399a1f00004011f42ac0000201c6336435cf8400350025c844abcd01000001000000000000076578616d706c6503636f6d0000010001";

    /// <summary>Linux TCP SYN 45678 → 80, win 64240, options &lt;mss 1460,sackOK,TS val 2318089293 ecr 0,nop,wscale 7&gt;.</summary>
    public const string TcpSyn =
        "525400abcdef52540012345608004500003c3e1a40004006fe4fc0000201cb007150b26e00501e2d3c4b00000000a002faf07b0d0000020405b40402080a8a2b3c4d0000000001030307";

    /// <summary>IPv6 neighbor solicitation for 2001:db8::2 from fe80::5054:ff:fe12:3456 with a source link-layer option.</summary>
    public const string NeighborSolicitation =
        "3333ff00000252540012345686dd6000000000203afffe80000000000000505400fffe123456ff0200000000000000000001ff000002870042e80000000020010db80000000000000000000000020101525400123456";

    public static byte[] Bytes(string hex) => Convert.FromHexString(hex);
}
