using System.Buffers.Binary;
using System.Text;

namespace Sluice.Wire;

/// <summary>Block types, option codes and limits of the pcapng format (draft-ietf-opsawg-pcapng).</summary>
internal static class PcapNg
{
    public const uint SectionHeaderBlock = 0x0A0D0D0A;
    public const uint InterfaceDescriptionBlock = 1;
    public const uint ObsoletePacketBlock = 2;
    public const uint SimplePacketBlock = 3;
    public const uint EnhancedPacketBlock = 6;
    public const uint ByteOrderMagic = 0x1A2B3C4D;

    public const ushort OptEndOfOpt = 0;
    public const ushort OptIfName = 2;
    public const ushort OptIfTsResol = 9;
    public const ushort OptIfTsOffset = 14;
    public const ushort OptEpbFlags = 2;
    public const ushort OptShbUserAppl = 4;

    /// <summary>epb_flags bits 0-1: 01 inbound, 10 outbound.</summary>
    public const uint FlagInbound = 1, FlagOutbound = 2, DirectionMask = 3;

    /// <summary>Largest block accepted by the reader.</summary>
    public const int MaximumBlockLength = 16 * 1024 * 1024;

    public static int Pad4(int length) => (length + 3) & ~3;
}

/// <summary>Writes a pcapng file (little-endian, one section) with any number of interfaces.</summary>
/// <remarks>
/// The caller owns the stream: <see cref="Dispose"/> flushes but does not close it. <see cref="Write"/> does not
/// allocate. Not thread-safe.
/// </remarks>
public sealed class PcapNgWriter : IDisposable
{
    private const int EpbFixedLength = 28; // type, length, interface, ts high, ts low, captured, original
    private readonly Stream _stream;
    private readonly byte[] _header = new byte[EpbFixedLength];
    private readonly byte[] _trailer = new byte[3 + 12 + 4 + 4]; // padding, epb_flags, opt_endofopt, total length
    private readonly List<InterfaceEntry> _interfaces = [];

    /// <summary>Writes the Section Header Block.</summary>
    public PcapNgWriter(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        ReadOnlySpan<byte> appl = "Sluice"u8;
        int optionsLength = 4 + PcapNg.Pad4(appl.Length) + 4;
        int total = 28 + optionsLength;
        Span<byte> b = stackalloc byte[total];
        b.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(b, PcapNg.SectionHeaderBlock);
        BinaryPrimitives.WriteInt32LittleEndian(b[4..], total);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], PcapNg.ByteOrderMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(b[12..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(b[14..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(b[16..], -1); // section length not specified
        BinaryPrimitives.WriteUInt16LittleEndian(b[24..], PcapNg.OptShbUserAppl);
        BinaryPrimitives.WriteUInt16LittleEndian(b[26..], (ushort)appl.Length);
        appl.CopyTo(b[28..]);
        BinaryPrimitives.WriteInt32LittleEndian(b[^4..], total);
        _stream.Write(b);
    }

    /// <summary>Number of interfaces described so far.</summary>
    public int InterfaceCount => _interfaces.Count;

    /// <summary>Writes an Interface Description Block and returns the new interface's id.</summary>
    /// <param name="linkType">The interface's link type.</param>
    /// <param name="name">if_name; written when not empty.</param>
    /// <param name="snapLength">Longer frames are truncated; 0 means no limit.</param>
    /// <param name="tsResolution">if_tsresol: 10^-n seconds, or 2^-n with the high bit set (6 = µs, 9 = ns).</param>
    public int AddInterface(LinkType linkType, string name, int snapLength = 262144, byte tsResolution = 6)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfNegative(snapLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)linkType, ushort.MaxValue, nameof(linkType));
        int exponent = tsResolution & 0x7F;
        bool powerOfTwo = (tsResolution & 0x80) != 0;
        if (powerOfTwo ? exponent > 63 : exponent > 19)
        {
            throw new ArgumentOutOfRangeException(nameof(tsResolution), tsResolution, "resolution finer than the writer can convert to");
        }

        int nameLength = Encoding.UTF8.GetByteCount(name);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nameLength, ushort.MaxValue, nameof(name));
        int optionsLength = (nameLength > 0 ? 4 + PcapNg.Pad4(nameLength) : 0) + (tsResolution != 6 ? 8 : 0);
        if (optionsLength > 0)
        {
            optionsLength += 4;
        }

        int total = 20 + optionsLength;
        byte[] b = new byte[total];
        BinaryPrimitives.WriteUInt32LittleEndian(b, PcapNg.InterfaceDescriptionBlock);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4), total);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8), (ushort)linkType);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(12), snapLength);
        int o = 16;
        if (nameLength > 0)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), PcapNg.OptIfName);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o + 2), (ushort)nameLength);
            Encoding.UTF8.GetBytes(name, b.AsSpan(o + 4));
            o += 4 + PcapNg.Pad4(nameLength);
        }

        if (tsResolution != 6)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), PcapNg.OptIfTsResol);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o + 2), 1);
            b[o + 4] = tsResolution;
            o += 8;
        }

        // opt_endofopt is already zero.
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(total - 4), total);
        _stream.Write(b);
        _interfaces.Add(new InterfaceEntry(snapLength, powerOfTwo, exponent));
        return _interfaces.Count - 1;
    }

    /// <summary>Writes an Enhanced Packet Block.</summary>
    /// <param name="interfaceId">An id returned by <see cref="AddInterface"/>.</param>
    /// <param name="timestampNanoseconds">Capture time in nanoseconds since the Unix epoch; not negative.</param>
    /// <param name="frame">The frame; truncated to the interface's snap length.</param>
    /// <param name="originalLength">Length on the wire; defaults to the frame length.</param>
    /// <param name="outbound">When given, written as the epb_flags direction (true: outbound, false: inbound).</param>
    public void Write(int interfaceId, long timestampNanoseconds, ReadOnlySpan<byte> frame, int originalLength = -1, bool? outbound = null)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)interfaceId, (uint)_interfaces.Count, nameof(interfaceId));
        ArgumentOutOfRangeException.ThrowIfNegative(timestampNanoseconds);
        InterfaceEntry ifc = _interfaces[interfaceId];
        ReadOnlySpan<byte> captured = ifc.SnapLength > 0 && frame.Length > ifc.SnapLength ? frame[..ifc.SnapLength] : frame;
        int padding = PcapNg.Pad4(captured.Length) - captured.Length;
        int optionsLength = outbound is null ? 0 : 12;
        int total = EpbFixedLength + captured.Length + padding + optionsLength + 4;
        ulong units = ifc.ToUnits(timestampNanoseconds);

        Span<byte> h = _header;
        BinaryPrimitives.WriteUInt32LittleEndian(h, PcapNg.EnhancedPacketBlock);
        BinaryPrimitives.WriteInt32LittleEndian(h[4..], total);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], interfaceId);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], (uint)(units >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], (uint)units);
        BinaryPrimitives.WriteInt32LittleEndian(h[20..], captured.Length);
        BinaryPrimitives.WriteInt32LittleEndian(h[24..], originalLength < 0 ? frame.Length : originalLength);
        _stream.Write(h);
        _stream.Write(captured);

        Span<byte> t = _trailer.AsSpan(0, padding + optionsLength + 4);
        t.Clear();
        if (outbound is bool o)
        {
            Span<byte> opt = t[padding..];
            BinaryPrimitives.WriteUInt16LittleEndian(opt, PcapNg.OptEpbFlags);
            BinaryPrimitives.WriteUInt16LittleEndian(opt[2..], 4);
            BinaryPrimitives.WriteUInt32LittleEndian(opt[4..], o ? PcapNg.FlagOutbound : PcapNg.FlagInbound);
            // opt[8..12] is opt_endofopt.
        }

        BinaryPrimitives.WriteInt32LittleEndian(t[^4..], total);
        _stream.Write(t);
    }

    /// <summary>Flushes the stream.</summary>
    public void Dispose() => _stream.Flush();

    private readonly record struct InterfaceEntry(int SnapLength, bool PowerOfTwo, int Exponent)
    {
        public ulong ToUnits(long ns)
        {
            if (!PowerOfTwo)
            {
                if (Exponent == 9)
                {
                    return (ulong)ns;
                }

                if (Exponent < 9)
                {
                    return (ulong)ns / Pow10((uint)(9 - Exponent));
                }

                return (ulong)(((UInt128)(ulong)ns * Pow10((uint)(Exponent - 9))) & ulong.MaxValue);
            }

            return (ulong)((((UInt128)(ulong)ns << Exponent) / 1_000_000_000UL) & ulong.MaxValue);
        }
    }

    internal static ulong Pow10(uint n)
    {
        ulong r = 1;
        for (uint i = 0; i < n; i++)
        {
            r *= 10;
        }

        return r;
    }
}
