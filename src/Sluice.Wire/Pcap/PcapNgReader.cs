using System.Buffers.Binary;
using System.Text;

namespace Sluice.Wire;

/// <summary>One interface described by an Interface Description Block of the current section.</summary>
/// <param name="LinkType">The link type of its packets.</param>
/// <param name="SnapLength">Snap length (0: no limit).</param>
/// <param name="Name">if_name, when present.</param>
/// <param name="TsResolution">if_tsresol as written (6 when absent).</param>
public sealed record PcapNgInterface(LinkType LinkType, int SnapLength, string? Name, byte TsResolution);

/// <summary>
/// Reads pcapng files: Section Header, Interface Description, Enhanced, Simple and obsolete Packet Blocks, in either
/// byte order, over any number of sections. Other block types are skipped.
/// </summary>
/// <remarks>
/// Malformed input yields an error string naming the byte offset, never an exception (stream I/O errors excepted).
/// After an error every further call returns the same error. Each record's data is a fresh array the caller owns.
/// </remarks>
public sealed class PcapNgReader
{
    private readonly Stream _stream;
    private readonly List<InterfaceState> _interfaces = [];
    private readonly List<PcapNgInterface> _descriptions = [];
    private byte[] _block = new byte[256];
    private bool _bigEndian;
    private long _offset;
    private string? _error;
    private bool _expectSectionHeader;

    private PcapNgReader(Stream stream) => _stream = stream;

    /// <summary>Interfaces of the current section, indexed by <see cref="PcapRecord.InterfaceId"/>.</summary>
    public IReadOnlyList<PcapNgInterface> Interfaces => _descriptions;

    /// <summary>Number of Section Header Blocks read so far.</summary>
    public int Sections { get; private set; }

    /// <summary>True when the current section is big-endian.</summary>
    public bool IsBigEndian => _bigEndian;

    /// <summary>The epb_flags of the last record read (0 when absent or not an Enhanced Packet Block).</summary>
    public uint LastPacketFlags { get; private set; }

    /// <summary>The direction from the last record's epb_flags: true outbound, false inbound, null when not recorded.</summary>
    public bool? LastOutbound => (LastPacketFlags & PcapNg.DirectionMask) switch
    {
        PcapNg.FlagInbound => false,
        PcapNg.FlagOutbound => true,
        _ => null,
    };

    /// <summary>Reads the first Section Header Block.</summary>
    public static bool TryOpen(Stream stream, out PcapNgReader? reader, out string error)
    {
        ArgumentNullException.ThrowIfNull(stream);
        reader = null;
        var r = new PcapNgReader(stream) { _expectSectionHeader = true };
        switch (r.ReadBlock(out uint type, out int length))
        {
            case BlockStatus.End:
                error = "offset 0: empty file";
                return false;
            case BlockStatus.Error:
                error = r._error!;
                return false;
        }

        if (type != PcapNg.SectionHeaderBlock)
        {
            error = $"offset 0: not a pcapng file (first block type 0x{type:x8})";
            return false;
        }

        if (!r.ReadSectionHeader(length))
        {
            error = r._error!;
            return false;
        }

        reader = r;
        error = string.Empty;
        return true;
    }

    /// <summary>Reads the next packet record; false with a null error at a clean end of file.</summary>
    public bool TryReadNext(out PcapRecord record, out string? error)
    {
        record = default;
        LastPacketFlags = 0;
        while (_error is null)
        {
            long start = _offset;
            BlockStatus status = ReadBlock(out uint type, out int length);
            if (status == BlockStatus.End)
            {
                error = null;
                return false;
            }

            if (status == BlockStatus.Error)
            {
                break;
            }

            bool ok = type switch
            {
                PcapNg.SectionHeaderBlock => ReadSectionHeader(length),
                PcapNg.InterfaceDescriptionBlock => ReadInterface(start, length),
                PcapNg.EnhancedPacketBlock => ReadPacket(start, length, enhanced: true, out record),
                PcapNg.ObsoletePacketBlock => ReadPacket(start, length, enhanced: false, out record),
                PcapNg.SimplePacketBlock => ReadSimplePacket(start, length, out record),
                _ => true,
            };
            if (!ok)
            {
                break;
            }

            if (type is PcapNg.EnhancedPacketBlock or PcapNg.ObsoletePacketBlock or PcapNg.SimplePacketBlock)
            {
                error = null;
                return true;
            }
        }

        record = default;
        error = _error;
        return false;
    }

    private enum BlockStatus
    {
        Ok,
        End,
        Error,
    }

    /// <summary>Reads one whole block into <see cref="_block"/> and checks its framing; for an SHB, sets the byte order.</summary>
    private BlockStatus ReadBlock(out uint type, out int length)
    {
        type = 0;
        length = 0;
        long start = _offset;
        Span<byte> head = stackalloc byte[12];
        int n = PcapReader.ReadFully(_stream, head[..8]);
        if (n == 0)
        {
            return BlockStatus.End;
        }

        if (n != 8)
        {
            return Fail(start, "truncated block header");
        }

        uint rawType = BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (_expectSectionHeader && rawType != PcapNg.SectionHeaderBlock)
        {
            return Fail(start, $"not a pcapng file (first block type 0x{rawType:x8})");
        }

        _expectSectionHeader = false;
        bool bigEndian = _bigEndian;
        int headLength = 8;
        if (rawType == PcapNg.SectionHeaderBlock)
        {
            if (PcapReader.ReadFully(_stream, head[8..12]) != 4)
            {
                return Fail(start + 8, "truncated section header");
            }

            headLength = 12;
            uint bom = BinaryPrimitives.ReadUInt32LittleEndian(head[8..]);
            if (bom == PcapNg.ByteOrderMagic)
            {
                bigEndian = false;
            }
            else if (bom == BinaryPrimitives.ReverseEndianness(PcapNg.ByteOrderMagic))
            {
                bigEndian = true;
            }
            else
            {
                return Fail(start + 8, $"bad byte-order magic 0x{bom:x8}");
            }
        }

        type = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(head) : rawType;
        uint total = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(head[4..]) : BinaryPrimitives.ReadUInt32LittleEndian(head[4..]);
        if (total % 4 != 0)
        {
            return Fail(start + 4, $"block length {total} is not a multiple of 4");
        }

        if (total < (uint)(headLength + 4))
        {
            return Fail(start + 4, $"block length {total} is too short");
        }

        if (total > PcapNg.MaximumBlockLength)
        {
            return Fail(start + 4, $"block length {total} exceeds {PcapNg.MaximumBlockLength}");
        }

        length = (int)total;
        if (_stream.CanSeek && _stream.Length - _stream.Position < length - headLength)
        {
            return Fail(start, $"truncated block ({length} bytes expected)");
        }

        if (_block.Length < length)
        {
            _block = new byte[Math.Max(length, _block.Length * 2)];
        }

        head[..headLength].CopyTo(_block);
        if (PcapReader.ReadFully(_stream, _block.AsSpan(headLength, length - headLength)) != length - headLength)
        {
            return Fail(start, $"truncated block ({length} bytes expected)");
        }

        uint trailing = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(_block.AsSpan(length - 4)) : BinaryPrimitives.ReadUInt32LittleEndian(_block.AsSpan(length - 4));
        if (trailing != total)
        {
            return Fail(start + length - 4, $"trailing block length {trailing} does not match {total}");
        }

        _bigEndian = bigEndian;
        _offset = start + length;
        return BlockStatus.Ok;
    }

    private bool ReadSectionHeader(int length)
    {
        long start = _offset - length;
        if (length < 28)
        {
            return Fail(start + 4, $"section header length {length} is too short") == BlockStatus.Ok;
        }

        ushort major = U16(8 + 4);
        if (major != 1)
        {
            return Fail(start + 12, $"unsupported pcapng version {major}") == BlockStatus.Ok;
        }

        _interfaces.Clear();
        _descriptions.Clear();
        Sections++;
        int cursor = 24;
        while (NextOption(start, ref cursor, length - 4, out _, out _, out _))
        {
        }

        return _error is null;
    }

    private bool ReadInterface(long start, int length)
    {
        if (length < 20)
        {
            return Fail(start + 4, $"interface description length {length} is too short") == BlockStatus.Ok;
        }

        var link = (LinkType)U16(8);
        uint snap = U32(12);
        string? name = null;
        byte resolution = 6;
        long tsOffset = 0;
        int cursor = 16;
        while (NextOption(start, ref cursor, length - 4, out ushort code, out int at, out int len))
        {
            switch (code)
            {
                case PcapNg.OptIfName:
                    name = Encoding.UTF8.GetString(_block, at, len);
                    break;
                case PcapNg.OptIfTsResol when len >= 1:
                    resolution = _block[at];
                    break;
                case PcapNg.OptIfTsOffset when len >= 8:
                    tsOffset = (long)U64(at);
                    break;
            }
        }

        if (_error is not null)
        {
            return false;
        }

        _interfaces.Add(new InterfaceState((int)Math.Min(snap, int.MaxValue), resolution, tsOffset));
        _descriptions.Add(new PcapNgInterface(link, (int)Math.Min(snap, int.MaxValue), name, resolution));
        return true;
    }

    private bool ReadPacket(long start, int length, bool enhanced, out PcapRecord record)
    {
        record = default;
        const int Fixed = 28;
        if (length < Fixed + 4)
        {
            return Fail(start + 4, $"packet block length {length} is too short") == BlockStatus.Ok;
        }

        uint id = enhanced ? U32(8) : U16(8);
        if (id >= (uint)_interfaces.Count)
        {
            return Fail(start + 8, $"interface id {id} is not described") == BlockStatus.Ok;
        }

        ulong units = ((ulong)U32(12) << 32) | U32(16);
        uint captured = U32(20);
        uint original = U32(24);
        int room = length - 4 - Fixed;
        if (captured > (uint)room)
        {
            return Fail(start + 20, $"captured length {captured} exceeds the block") == BlockStatus.Ok;
        }

        int optionsStart = Fixed + PcapNg.Pad4((int)captured);
        uint flags = 0;
        while (NextOption(start, ref optionsStart, length - 4, out ushort code, out int at, out int len))
        {
            if (enhanced && code == PcapNg.OptEpbFlags && len >= 4)
            {
                flags = U32(at);
            }
        }

        if (_error is not null)
        {
            return false;
        }

        InterfaceState ifc = _interfaces[(int)id];
        byte[] data = _block.AsSpan(Fixed, (int)captured).ToArray();
        record = new PcapRecord(ifc.ToNanoseconds(units), (int)Math.Min(original, int.MaxValue), data, (int)id);
        LastPacketFlags = flags;
        return true;
    }

    private bool ReadSimplePacket(long start, int length, out PcapRecord record)
    {
        record = default;
        if (length < 16)
        {
            return Fail(start + 4, $"simple packet block length {length} is too short") == BlockStatus.Ok;
        }

        if (_interfaces.Count == 0)
        {
            return Fail(start, "simple packet block before any interface description") == BlockStatus.Ok;
        }

        uint original = U32(8);
        long captured = Math.Min(original, (uint)(length - 16));
        int snap = _interfaces[0].SnapLength;
        if (snap > 0)
        {
            captured = Math.Min(captured, snap);
        }

        byte[] data = _block.AsSpan(12, (int)captured).ToArray();
        record = new PcapRecord(0, (int)Math.Min(original, int.MaxValue), data, 0);
        return true;
    }

    /// <summary>
    /// Steps to the next option in <c>_block[cursor..end)</c>: true with its code and value range, false at
    /// opt_endofopt or the end (error null) or when an option overruns the block (error set).
    /// </summary>
    private bool NextOption(long blockStart, ref int cursor, int end, out ushort code, out int valueStart, out int valueLength)
    {
        code = 0;
        valueStart = 0;
        valueLength = 0;
        if (cursor + 4 > end)
        {
            return false;
        }

        code = U16(cursor);
        valueLength = U16(cursor + 2);
        if (code == PcapNg.OptEndOfOpt)
        {
            return false;
        }

        if (cursor + 4 + valueLength > end)
        {
            Fail(blockStart + cursor + 2, $"option {code} length {valueLength} overruns the block");
            return false;
        }

        valueStart = cursor + 4;
        cursor += 4 + PcapNg.Pad4(valueLength);
        return true;
    }

    private ushort U16(int at) => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(_block.AsSpan(at)) : BinaryPrimitives.ReadUInt16LittleEndian(_block.AsSpan(at));

    private ulong U64(int at) => _bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(_block.AsSpan(at)) : BinaryPrimitives.ReadUInt64LittleEndian(_block.AsSpan(at));

    private uint U32(int at) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(_block.AsSpan(at)) : BinaryPrimitives.ReadUInt32LittleEndian(_block.AsSpan(at));

    private BlockStatus Fail(long offset, string message)
    {
        _error = $"offset {offset}: {message}";
        return BlockStatus.Error;
    }

    private readonly record struct InterfaceState(int SnapLength, byte Resolution, long OffsetSeconds)
    {
        private static readonly UInt128 LongMax = (UInt128)long.MaxValue;

        /// <summary>Converts a timestamp in interface units to nanoseconds since the epoch, saturating.</summary>
        public long ToNanoseconds(ulong units)
        {
            int exponent = Resolution & 0x7F;
            UInt128 ns;
            if ((Resolution & 0x80) != 0)
            {
                ns = ((UInt128)units * 1_000_000_000UL) >> exponent;
            }
            else if (exponent <= 9)
            {
                ns = (UInt128)units * PcapNgWriter.Pow10((uint)(9 - exponent));
            }
            else
            {
                ns = exponent - 9 > 19 ? 0 : (UInt128)(units / PcapNgWriter.Pow10((uint)(exponent - 9)));
            }

            long result = ns > LongMax ? long.MaxValue : (long)ns;
            if (OffsetSeconds != 0)
            {
                long shift = OffsetSeconds > long.MaxValue / 1_000_000_000L || OffsetSeconds < long.MinValue / 1_000_000_000L
                    ? (OffsetSeconds > 0 ? long.MaxValue : long.MinValue)
                    : OffsetSeconds * 1_000_000_000L;
                long sum = unchecked(result + shift);
                result = shift > 0 && sum < result ? long.MaxValue : shift < 0 && sum > result ? long.MinValue : sum;
            }

            return result;
        }
    }
}
