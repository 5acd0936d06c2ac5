using System.Buffers.Binary;

namespace Sluice.Dummynet;

/// <summary>
/// The header fields dummynet and ipfw classify on (FreeBSD's <c>struct ipfw_flow_id</c> plus what ipfw matches),
/// read once from a packet that starts at its IP header.
/// </summary>
/// <remarks>IPv4 addresses sit in the low 32 bits of <see cref="Source"/>/<see cref="Destination"/>. Never throws.</remarks>
public struct FlowId : IEquatable<FlowId>
{
    /// <summary>Source address (IPv4 in the low 32 bits).</summary>
    public UInt128 Source;

    /// <summary>Destination address (IPv4 in the low 32 bits).</summary>
    public UInt128 Destination;

    /// <summary>Source port (TCP, UDP, SCTP; 0 otherwise).</summary>
    public ushort SourcePort;

    /// <summary>Destination port (TCP, UDP, SCTP; 0 otherwise).</summary>
    public ushort DestinationPort;

    /// <summary>IP protocol (the upper-layer protocol for IPv6).</summary>
    public byte Protocol;

    /// <summary>True for IPv6.</summary>
    public bool IsIPv6;

    /// <summary>IPv6 flow label (20 bits).</summary>
    public uint FlowLabel;

    /// <summary>The queue number when a mask includes <c>queue</c>.</summary>
    public uint Extra;

    /// <summary>The IPv4 source (valid when not <see cref="IsIPv6"/>).</summary>
    public readonly uint Source4 => (uint)Source;

    /// <summary>The IPv4 destination (valid when not <see cref="IsIPv6"/>).</summary>
    public readonly uint Destination4 => (uint)Destination;

    /// <inheritdoc/>
    public readonly bool Equals(FlowId other) =>
        Source == other.Source && Destination == other.Destination && SourcePort == other.SourcePort
        && DestinationPort == other.DestinationPort && Protocol == other.Protocol && IsIPv6 == other.IsIPv6
        && FlowLabel == other.FlowLabel && Extra == other.Extra;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is FlowId other && Equals(other);

    /// <inheritdoc/>
    public override readonly int GetHashCode() =>
        HashCode.Combine(Source, Destination, SourcePort, DestinationPort, Protocol, IsIPv6, FlowLabel, Extra);

    /// <summary>
    /// A hash that is the same in every process (unlike <see cref="GetHashCode"/>, which .NET seeds per process), so that
    /// FQ-CoDel puts a flow in the same bucket on every run; <paramref name="seed"/> plays the role of fq_codel's
    /// per-scheduler hash salt.
    /// </summary>
    public readonly uint StableHash(uint seed)
    {
        var h = seed ^ 0x9e3779b9u;
        h = Mix(h, (uint)Source);
        h = Mix(h, (uint)(Source >> 32));
        h = Mix(h, (uint)(Source >> 64));
        h = Mix(h, (uint)(Source >> 96));
        h = Mix(h, (uint)Destination);
        h = Mix(h, (uint)(Destination >> 32));
        h = Mix(h, (uint)(Destination >> 64));
        h = Mix(h, (uint)(Destination >> 96));
        h = Mix(h, ((uint)SourcePort << 16) | DestinationPort);
        h = Mix(h, Protocol | (IsIPv6 ? 0x100u : 0) | (FlowLabel << 12));
        h ^= h >> 16;
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        h *= 0xc2b2ae35u;
        return h ^ (h >> 16);
    }

    private static uint Mix(uint h, uint k)
    {
        k *= 0xcc9e2d51u;
        k = (k << 15) | (k >> 17);
        k *= 0x1b873593u;
        h ^= k;
        h = (h << 13) | (h >> 19);
        return (h * 5) + 0xe6546b64u;
    }

    /// <summary>Equality.</summary>
    public static bool operator ==(FlowId left, FlowId right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(FlowId left, FlowId right) => !left.Equals(right);

    /// <summary>Reads the flow fields of <paramref name="ip"/> (an IPv4 or IPv6 packet); false when the header is short.</summary>
    public static bool TryRead(ReadOnlySpan<byte> ip, bool ipv6, out FlowId id)
    {
        id = default;
        if (!ipv6)
        {
            if (ip.Length < 20 || (ip[0] >> 4) != 4)
            {
                return false;
            }

            var hlen = (ip[0] & 0x0f) * 4;
            if (hlen < 20 || hlen > ip.Length)
            {
                return false;
            }

            id.Source = BinaryPrimitives.ReadUInt32BigEndian(ip[12..]);
            id.Destination = BinaryPrimitives.ReadUInt32BigEndian(ip[16..]);
            id.Protocol = ip[9];
            var offset = BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x1fff;
            if (offset == 0)
            {
                ReadPorts(ip[hlen..], id.Protocol, ref id);
            }

            return true;
        }

        if (ip.Length < 40 || (ip[0] >> 4) != 6)
        {
            return false;
        }

        id.IsIPv6 = true;
        id.FlowLabel = BinaryPrimitives.ReadUInt32BigEndian(ip) & 0xfffff;
        id.Source = BinaryPrimitives.ReadUInt128BigEndian(ip[8..]);
        id.Destination = BinaryPrimitives.ReadUInt128BigEndian(ip[24..]);
        var next = ip[6];
        var pos = 40;
        // Walk hop-by-hop, routing, destination options and fragment headers to the upper layer.
        for (var i = 0; i < 8; i++)
        {
            if (next is 0 or 43 or 60 && pos + 8 <= ip.Length)
            {
                var len = (ip[pos + 1] + 1) * 8;
                next = ip[pos];
                pos += len;
                continue;
            }

            if (next == 44 && pos + 8 <= ip.Length)
            {
                var fragOffset = BinaryPrimitives.ReadUInt16BigEndian(ip[(pos + 2)..]) & 0xfff8;
                next = ip[pos];
                pos += 8;
                if (fragOffset != 0)
                {
                    id.Protocol = next;
                    return true;
                }

                continue;
            }

            break;
        }

        id.Protocol = next;
        if (pos <= ip.Length)
        {
            ReadPorts(ip[pos..], next, ref id);
        }

        return true;
    }

    private static void ReadPorts(ReadOnlySpan<byte> l4, byte protocol, ref FlowId id)
    {
        if (protocol is 6 or 17 or 132 or 136 && l4.Length >= 4)
        {
            id.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(l4);
            id.DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(l4[2..]);
        }
    }
}

/// <summary>A dummynet flow mask (<c>mask src-ip 0xffffff00 dst-port 0xffff ...</c>).</summary>
public sealed record FlowMask
{
    /// <summary>IPv4 source mask.</summary>
    public uint SourceIp { get; init; }

    /// <summary>IPv4 destination mask.</summary>
    public uint DestinationIp { get; init; }

    /// <summary>IPv6 source mask.</summary>
    public UInt128 SourceIp6 { get; init; }

    /// <summary>IPv6 destination mask.</summary>
    public UInt128 DestinationIp6 { get; init; }

    /// <summary>Source port mask.</summary>
    public ushort SourcePort { get; init; }

    /// <summary>Destination port mask.</summary>
    public ushort DestinationPort { get; init; }

    /// <summary>Protocol mask.</summary>
    public byte Protocol { get; init; }

    /// <summary>IPv6 flow label mask.</summary>
    public uint FlowLabel { get; init; }

    /// <summary>The <c>queue</c> bit (separates flows by queue number).</summary>
    public bool Queue { get; init; }

    /// <summary>True when the mask uses IPv6 fields (FreeBSD's addr_type 6).</summary>
    public bool IsIPv6 { get; init; }

    /// <summary>Applies the mask to <paramref name="id"/>.</summary>
    public FlowId Apply(in FlowId id, uint queueNumber)
    {
        var m = default(FlowId);
        m.IsIPv6 = id.IsIPv6;
        if (id.IsIPv6)
        {
            m.Source = id.Source & SourceIp6;
            m.Destination = id.Destination & DestinationIp6;
            m.FlowLabel = id.FlowLabel & FlowLabel;
        }
        else
        {
            m.Source = id.Source4 & SourceIp;
            m.Destination = id.Destination4 & DestinationIp;
        }

        m.SourcePort = (ushort)(id.SourcePort & SourcePort);
        m.DestinationPort = (ushort)(id.DestinationPort & DestinationPort);
        m.Protocol = (byte)(id.Protocol & Protocol);
        m.Extra = Queue ? queueNumber : 0;
        return m;
    }
}
