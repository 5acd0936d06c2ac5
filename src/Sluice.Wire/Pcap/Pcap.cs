using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>Link-layer header types (tcpdump.org LINKTYPE_ values).</summary>
public enum LinkType : uint
{
    /// <summary>BSD loopback (host-order address family).</summary>
    Null = 0,
    /// <summary>Ethernet.</summary>
    Ethernet = 1,
    /// <summary>Raw IP.</summary>
    Raw = 101,
    /// <summary>OpenBSD loopback (network-order address family).</summary>
    Loop = 108,
    /// <summary>Linux cooked capture v1.</summary>
    LinuxSll = 113,
    /// <summary>OpenBSD/FreeBSD pflog.</summary>
    Pflog = 117,
    /// <summary>Raw IPv4.</summary>
    IPv4 = 228,
    /// <summary>Raw IPv6.</summary>
    IPv6 = 229,
}

/// <summary>Writes a classic pcap file (little-endian, version 2.4).</summary>
/// <remarks>The writer does not own the stream's lifetime beyond <see cref="Dispose"/>, which flushes but does not close it.</remarks>
public sealed class PcapWriter : IDisposable
{
    private const uint MagicMicroseconds = 0xA1B2C3D4;
    private const uint MagicNanoseconds = 0xA1B23C4D;
    private readonly Stream _stream;
    private readonly bool _nanosecond;
    private readonly byte[] _recordHeader = new byte[16];

    /// <summary>Writes the global header.</summary>
    public PcapWriter(Stream stream, LinkType linkType, int snapLength = 262144, bool nanosecond = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _nanosecond = nanosecond;
        SnapLength = snapLength;
        Span<byte> h = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(h, nanosecond ? MagicNanoseconds : MagicMicroseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(h[16..], snapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], (uint)linkType);
        _stream.Write(h);
    }

    /// <summary>The snap length from the global header; longer frames are truncated.</summary>
    public int SnapLength { get; }

    /// <summary>Writes one record; <paramref name="originalLength"/> defaults to the frame length.</summary>
    public void Write(long timestampNanoseconds, ReadOnlySpan<byte> frame, int originalLength = -1)
    {
        long seconds = Math.DivRem(timestampNanoseconds, 1_000_000_000L, out long fraction);
        if (fraction < 0)
        {
            seconds--;
            fraction += 1_000_000_000L;
        }

        ReadOnlySpan<byte> captured = frame.Length > SnapLength ? frame[..SnapLength] : frame;
        Span<byte> h = _recordHeader;
        BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)(_nanosecond ? fraction : fraction / 1000));
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], captured.Length);
        BinaryPrimitives.WriteInt32LittleEndian(h[12..], originalLength < 0 ? frame.Length : originalLength);
        _stream.Write(h);
        _stream.Write(captured);
    }

    /// <summary>Flushes the stream.</summary>
    public void Dispose() => _stream.Flush();
}

/// <summary>One packet record read from a capture file.</summary>
/// <param name="TimestampNanoseconds">Capture time in nanoseconds since the Unix epoch.</param>
/// <param name="OriginalLength">Length of the packet on the wire.</param>
/// <param name="Data">The captured bytes.</param>
/// <param name="InterfaceId">The pcapng interface index (0 for classic pcap).</param>
public readonly record struct PcapRecord(long TimestampNanoseconds, int OriginalLength, ReadOnlyMemory<byte> Data, int InterfaceId = 0);

/// <summary>Reads a classic pcap file in either byte order, with micro- or nanosecond timestamps.</summary>
/// <remarks>Malformed input yields an error string naming the byte offset, never an exception (stream I/O errors excepted).</remarks>
public sealed class PcapReader
{
    /// <summary>Largest record accepted regardless of the snap length.</summary>
    public const int MaximumRecordLength = 256 * 1024;

    private readonly Stream _stream;
    private readonly bool _bigEndian;
    private readonly bool _nanosecond;
    private long _offset;

    private PcapReader(Stream stream, bool bigEndian, bool nanosecond, LinkType linkType, int snapLength)
    {
        _stream = stream;
        _bigEndian = bigEndian;
        _nanosecond = nanosecond;
        LinkType = linkType;
        SnapLength = snapLength;
        _offset = 24;
    }

    /// <summary>The link type of every record.</summary>
    public LinkType LinkType { get; }

    /// <summary>The snap length from the global header.</summary>
    public int SnapLength { get; }

    /// <summary>Reads the global header.</summary>
    public static bool TryOpen(Stream stream, out PcapReader? reader, out string error)
    {
        ArgumentNullException.ThrowIfNull(stream);
        reader = null;
        Span<byte> h = stackalloc byte[24];
        if (ReadFully(stream, h) != h.Length)
        {
            error = "offset 0: truncated global header";
            return false;
        }

        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(h);
        bool bigEndian;
        bool nano;
        switch (magic)
        {
            case 0xA1B2C3D4: bigEndian = false; nano = false; break;
            case 0xA1B23C4D: bigEndian = false; nano = true; break;
            case 0xD4C3B2A1: bigEndian = true; nano = false; break;
            case 0x4D3CB2A1: bigEndian = true; nano = true; break;
            default:
                error = $"offset 0: bad magic 0x{magic:x8}";
                return false;
        }

        ushort major = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(h[4..]) : BinaryPrimitives.ReadUInt16LittleEndian(h[4..]);
        if (major != 2)
        {
            error = $"offset 4: unsupported version {major}";
            return false;
        }

        uint snap = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(h[16..]) : BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
        uint link = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(h[20..]) : BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
        reader = new PcapReader(stream, bigEndian, nano, (LinkType)(link & 0x0FFF_FFFF), (int)Math.Min(snap, int.MaxValue));
        error = string.Empty;
        return true;
    }

    /// <summary>Reads the next record; false with a null error at a clean end of file.</summary>
    public bool TryReadNext(out PcapRecord record, out string? error)
    {
        record = default;
        Span<byte> h = stackalloc byte[16];
        int n = ReadFully(_stream, h);
        if (n == 0)
        {
            error = null;
            return false;
        }

        if (n != h.Length)
        {
            error = $"offset {_offset}: truncated record header";
            return false;
        }

        uint seconds = Read32(h);
        uint fraction = Read32(h[4..]);
        uint included = Read32(h[8..]);
        uint original = Read32(h[12..]);
        int limit = SnapLength > 0 ? Math.Min(SnapLength, MaximumRecordLength) : MaximumRecordLength;
        if (included > (uint)limit)
        {
            error = $"offset {_offset + 8}: captured length {included} exceeds limit {limit}";
            return false;
        }

        byte[] data = new byte[included];
        if (ReadFully(_stream, data) != data.Length)
        {
            error = $"offset {_offset + 16}: truncated packet data ({included} bytes expected)";
            return false;
        }

        _offset += 16 + included;
        long ns = ((long)seconds * 1_000_000_000L) + (_nanosecond ? fraction : fraction * 1000L);
        record = new PcapRecord(ns, (int)Math.Min(original, int.MaxValue), data);
        error = null;
        return true;
    }

    private uint Read32(ReadOnlySpan<byte> b) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);

    internal static int ReadFully(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer[total..]);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }
}
