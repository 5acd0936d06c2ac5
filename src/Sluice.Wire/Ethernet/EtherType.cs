namespace Sluice.Wire;

/// <summary>Ethernet type field values (IEEE 802 numbers).</summary>
public enum EtherType : ushort
{
    /// <summary>IPv4.</summary>
    IPv4 = 0x0800,
    /// <summary>ARP.</summary>
    Arp = 0x0806,
    /// <summary>IEEE 802.1Q VLAN tag.</summary>
    Vlan = 0x8100,
    /// <summary>IPv6.</summary>
    IPv6 = 0x86DD,
    /// <summary>PPPoE discovery stage.</summary>
    PppoeDiscovery = 0x8863,
    /// <summary>PPPoE session stage.</summary>
    PppoeSession = 0x8864,
    /// <summary>IEEE 802.1ad service tag (QinQ).</summary>
    QinQ = 0x88A8,
}
