using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>MLDv2 multicast address record types (RFC 3810 §5.2.12).</summary>
public enum MldRecordType : byte
{
    /// <summary>Current state: include mode.</summary>
    ModeIsInclude = 1,
    /// <summary>Current state: exclude mode.</summary>
    ModeIsExclude = 2,
    /// <summary>Filter mode change to include (a leave when the source list is empty).</summary>
    ChangeToIncludeMode = 3,
    /// <summary>Filter mode change to exclude (a join when the source list is empty).</summary>
    ChangeToExcludeMode = 4,
    /// <summary>Source list change: allow new sources.</summary>
    AllowNewSources = 5,
    /// <summary>Source list change: block old sources.</summary>
    BlockOldSources = 6,
}

/// <summary>
/// A view over an MLD message with the 24-byte common layout (RFC 2710 §3: MLDv1 query, report and done; RFC 3810
/// §5.1: the first 24 bytes of an MLDv2 query, whose source list follows).
/// </summary>
/// <remarks>After <see cref="TryCreate"/> succeeds no accessor can read out of range; source addresses are bounded by <see cref="SourceCount"/>.</remarks>
public readonly ref struct MldMessage
{
    //  0                   1                   2                   3
    //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |     Type      |     Code      |          Checksum             |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |    Maximum Response Code/Delay|           Reserved            |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // *                  Multicast Address (16 bytes)                 *
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // | Resv  |S| QRV |     QQIC      |     Number of Sources (N)     |   (MLDv2 query only)
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // *                  Source Address [1..N]                        *
    private static class Field
    {
        public const int Type = 0, Code = 1, Checksum = 2, MaximumResponse = 4, Reserved = 6, MulticastAddress = 8;
        public const int Flags = 24, Qqic = 25, SourceCount = 26, Sources = 28;
    }

    /// <summary>Length of an MLDv1 message (and of the fixed part of an MLDv2 query before its flags).</summary>
    public const int Length = 24;

    /// <summary>Length of an MLDv2 query without sources.</summary>
    public const int V2QueryLength = 28;

    private readonly Span<byte> _buffer;

    private MldMessage(Span<byte> buffer) => _buffer = buffer;

    /// <summary>
    /// Creates a view when the buffer holds at least 24 bytes; a query of 28 bytes or more is an MLDv2 query (RFC 3810
    /// §8.1) and must hold its whole source list.
    /// </summary>
    public static bool TryCreate(Span<byte> buffer, out MldMessage message)
    {
        message = default;
        if (buffer.Length < Length)
        {
            return false;
        }

        if (buffer[Field.Type] == (byte)IcmpV6Type.MulticastListenerQuery && buffer.Length >= V2QueryLength)
        {
            int sources = BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.SourceCount..]);
            if (V2QueryLength + (sources * 16) > buffer.Length)
            {
                return false;
            }
        }

        message = new MldMessage(buffer);
        return true;
    }

    /// <summary>Creates a view without validation; for emission.</summary>
    public static MldMessage CreateUnchecked(Span<byte> buffer) => new(buffer);

    /// <summary>ICMPv6 type (130, 131 or 132).</summary>
    public IcmpV6Type Type => (IcmpV6Type)_buffer[Field.Type];

    /// <summary>ICMPv6 code.</summary>
    public byte Code => _buffer[Field.Code];

    /// <summary>True for a query of MLDv2 length (RFC 3810 §8.1: 28 octets or more).</summary>
    public bool IsV2Query => Type == IcmpV6Type.MulticastListenerQuery && _buffer.Length >= V2QueryLength;

    /// <summary>Maximum Response Delay (MLDv1, ms) or Maximum Response Code (MLDv2, see <see cref="DecodeMaximumResponseCode"/>).</summary>
    public ushort MaximumResponse => BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.MaximumResponse..]);

    /// <summary>The multicast address (:: in a general query).</summary>
    public IPv6Address MulticastAddress => IPv6Address.Read(_buffer[Field.MulticastAddress..]);

    /// <summary>MLDv2 query: the S flag (suppress router-side processing).</summary>
    public bool SuppressRouterSide => IsV2Query && (_buffer[Field.Flags] & 0x08) != 0;

    /// <summary>MLDv2 query: the querier's robustness variable (0 when not a v2 query).</summary>
    public byte QuerierRobustness => IsV2Query ? (byte)(_buffer[Field.Flags] & 0x07) : (byte)0;

    /// <summary>MLDv2 query: the Querier's Query Interval Code (0 when not a v2 query).</summary>
    public byte QueryIntervalCode => IsV2Query ? _buffer[Field.Qqic] : (byte)0;

    /// <summary>MLDv2 query: the number of sources (0 when not a v2 query).</summary>
    public int SourceCount => IsV2Query ? BinaryPrimitives.ReadUInt16BigEndian(_buffer[Field.SourceCount..]) : 0;

    /// <summary>MLDv2 query: source <paramref name="index"/> (0 ≤ index &lt; <see cref="SourceCount"/>).</summary>
    public IPv6Address Source(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, SourceCount);
        return IPv6Address.Read(_buffer[(Field.Sources + (index * 16))..]);
    }

    /// <summary>RFC 3810 §5.1.3: the Maximum Response Delay in milliseconds for a Maximum Response Code.</summary>
    public static int DecodeMaximumResponseCode(ushort code) =>
        code < 32768 ? code : ((code & 0x0fff) | 0x1000) << (((code >> 12) & 7) + 3);

    /// <summary>RFC 3810 §5.1.9: the Querier's Query Interval in seconds for a QQIC.</summary>
    public static int DecodeQueryIntervalCode(byte code) =>
        code < 128 ? code : ((code & 0x0f) | 0x10) << (((code >> 4) & 7) + 3);
}

/// <summary>An MLDv1 query, report or done (RFC 2710 §3), to parse into and emit from.</summary>
public readonly record struct MldRepr(IcmpV6Type Type, ushort MaximumResponseDelay, IPv6Address MulticastAddress)
{
    /// <summary>Writes the 24 bytes with a zero checksum (the caller fills it over the pseudo header).</summary>
    public void Emit(Span<byte> buffer)
    {
        buffer[..MldMessage.Length].Clear();
        buffer[0] = (byte)Type;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[4..], MaximumResponseDelay);
        MulticastAddress.WriteTo(buffer[8..]);
    }
}

/// <summary>An MLDv2 query (RFC 3810 §5.1) without sources, to emit (queriers, tests).</summary>
public readonly record struct MldV2QueryRepr(ushort MaximumResponseCode, IPv6Address MulticastAddress, byte Robustness = 2, byte QueryIntervalCode = 125)
{
    /// <summary>Writes the 28 bytes with a zero checksum.</summary>
    public void Emit(Span<byte> buffer)
    {
        new MldRepr(IcmpV6Type.MulticastListenerQuery, MaximumResponseCode, MulticastAddress).Emit(buffer);
        buffer[24] = (byte)(Robustness & 7);
        buffer[25] = QueryIntervalCode;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[26..], 0);
    }
}

/// <summary>A view over an MLDv2 Multicast Listener Report (RFC 3810 §5.2).</summary>
/// <remarks><see cref="TryCreate"/> checks that every record, with its sources and auxiliary data, fits in the buffer.</remarks>
public readonly ref struct MldV2Report
{
    //  0                   1                   2                   3
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |  Type = 143   |    Reserved   |           Checksum            |
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // |           Reserved            |Nr of Mcast Address Records (M)|
    // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    // .                  Multicast Address Record [1..M]              .
    //
    // Record: | Record Type | Aux Data Len | Number of Sources (N) | Multicast Address (16) | Sources (16 N) | Aux (4 Aux) |

    /// <summary>Length of the report header.</summary>
    public const int HeaderLength = 8;

    /// <summary>Length of a record without sources or auxiliary data.</summary>
    public const int RecordHeaderLength = 20;

    private readonly Span<byte> _buffer;

    private MldV2Report(Span<byte> buffer) => _buffer = buffer;

    /// <summary>Creates a view when the header and all its records fit in <paramref name="buffer"/>.</summary>
    public static bool TryCreate(Span<byte> buffer, out MldV2Report report)
    {
        report = default;
        if (buffer.Length < HeaderLength)
        {
            return false;
        }

        int records = BinaryPrimitives.ReadUInt16BigEndian(buffer[6..]);
        var at = HeaderLength;
        for (var i = 0; i < records; i++)
        {
            if (buffer.Length - at < RecordHeaderLength)
            {
                return false;
            }

            var length = RecordHeaderLength + (BinaryPrimitives.ReadUInt16BigEndian(buffer[(at + 2)..]) * 16) + (buffer[at + 1] * 4);
            if (length > buffer.Length - at)
            {
                return false;
            }

            at += length;
        }

        report = new MldV2Report(buffer);
        return true;
    }

    /// <summary>Number of multicast address records.</summary>
    public int RecordCount => BinaryPrimitives.ReadUInt16BigEndian(_buffer[6..]);

    /// <summary>Record <paramref name="index"/> (0 ≤ index &lt; <see cref="RecordCount"/>).</summary>
    public MldAddressRecord Record(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, RecordCount);
        var at = HeaderLength;
        for (var i = 0; i < index; i++)
        {
            at += MldAddressRecord.LengthAt(_buffer[at..]);
        }

        return new MldAddressRecord(_buffer.Slice(at, MldAddressRecord.LengthAt(_buffer[at..])));
    }

    /// <summary>Bytes an MLDv2 report with <paramref name="records"/> source-less records takes.</summary>
    public static int LengthFor(int records) => HeaderLength + (records * RecordHeaderLength);

    /// <summary>Writes the report header (type 143, zero checksum) for <paramref name="records"/> records.</summary>
    public static void EmitHeader(Span<byte> buffer, int records)
    {
        buffer[..HeaderLength].Clear();
        buffer[0] = (byte)IcmpV6Type.MulticastListenerReportV2;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[6..], (ushort)records);
    }

    /// <summary>Writes source-less record <paramref name="index"/> (no auxiliary data).</summary>
    public static void EmitRecord(Span<byte> buffer, int index, MldRecordType type, IPv6Address group)
    {
        var record = buffer.Slice(HeaderLength + (index * RecordHeaderLength), RecordHeaderLength);
        record.Clear();
        record[0] = (byte)type;
        group.WriteTo(record[4..]);
    }
}

/// <summary>One multicast address record of an MLDv2 report, bounded by its own length.</summary>
public readonly ref struct MldAddressRecord
{
    private readonly Span<byte> _buffer;

    internal MldAddressRecord(Span<byte> buffer) => _buffer = buffer;

    internal static int LengthAt(ReadOnlySpan<byte> at) =>
        MldV2Report.RecordHeaderLength + (BinaryPrimitives.ReadUInt16BigEndian(at[2..]) * 16) + (at[1] * 4);

    /// <summary>Record type.</summary>
    public MldRecordType Type => (MldRecordType)_buffer[0];

    /// <summary>Auxiliary data length in 32-bit words.</summary>
    public byte AuxiliaryDataLength => _buffer[1];

    /// <summary>Number of sources.</summary>
    public int SourceCount => BinaryPrimitives.ReadUInt16BigEndian(_buffer[2..]);

    /// <summary>The multicast address.</summary>
    public IPv6Address MulticastAddress => IPv6Address.Read(_buffer[4..]);

    /// <summary>Source <paramref name="index"/>.</summary>
    public IPv6Address Source(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, SourceCount);
        return IPv6Address.Read(_buffer[(MldV2Report.RecordHeaderLength + (index * 16))..]);
    }
}

/// <summary>
/// The Hop-by-Hop Options header MLD messages carry (RFC 3810 §5, RFC 2711 Router Alert, value 0 = MLD), laid out as
/// FreeBSD's mld6.c builds it: a 2-byte PadN, then the 4-byte Router Alert option.
/// </summary>
public static class MldRouterAlert
{
    /// <summary>Length of the Hop-by-Hop header (8 bytes).</summary>
    public const int Length = 8;

    /// <summary>Writes the header with <paramref name="next"/> as its next header.</summary>
    public static void Emit(Span<byte> buffer, IPProtocol next)
    {
        buffer[0] = (byte)next;
        buffer[1] = 0; // (1 + 0) × 8 bytes
        buffer[2] = 1; // PadN, 0 bytes of padding
        buffer[3] = 0;
        buffer[4] = 5; // Router Alert (RFC 2711)
        buffer[5] = 2;
        buffer[6] = 0; // 0 = Multicast Listener Discovery message
        buffer[7] = 0;
    }

    /// <summary>True when the Hop-by-Hop header at the start of <paramref name="header"/> holds a Router Alert option for MLD.</summary>
    public static bool Contains(ReadOnlySpan<byte> header)
    {
        if (header.Length < 2)
        {
            return false;
        }

        var length = (header[1] + 1) * 8;
        if (length > header.Length)
        {
            return false;
        }

        var at = 2;
        while (at < length)
        {
            var type = header[at];
            if (type == 0)
            {
                at++; // Pad1
                continue;
            }

            if (at + 1 >= length || at + 2 + header[at + 1] > length)
            {
                return false;
            }

            if (type == 5 && header[at + 1] == 2 && header[at + 2] == 0 && header[at + 3] == 0)
            {
                return true;
            }

            at += 2 + header[at + 1];
        }

        return false;
    }
}
