using System.Buffers.Binary;

namespace Sluice.Wire;

/// <summary>TCP option kinds (IANA "TCP Option Kind Numbers").</summary>
public enum TcpOptionKind : byte
{
    /// <summary>End of option list.</summary>
    EndOfList = 0,
    /// <summary>No operation.</summary>
    Nop = 1,
    /// <summary>Maximum segment size (RFC 9293).</summary>
    Mss = 2,
    /// <summary>Window scale (RFC 7323).</summary>
    WindowScale = 3,
    /// <summary>SACK permitted (RFC 2018).</summary>
    SackPermitted = 4,
    /// <summary>SACK blocks (RFC 2018).</summary>
    Sack = 5,
    /// <summary>Timestamps (RFC 7323).</summary>
    Timestamps = 8,
    /// <summary>TCP MD5 signature (RFC 2385).</summary>
    Md5 = 19,
    /// <summary>TCP Fast Open cookie (RFC 7413).</summary>
    FastOpen = 34,
    /// <summary>Experimental option (RFC 6994), used with magic 0xF989 for pre-RFC Fast Open.</summary>
    Experimental = 254,
}

/// <summary>One decoded TCP option; which fields are meaningful depends on <see cref="Kind"/>.</summary>
public readonly ref struct TcpOption
{
    internal TcpOption(TcpOptionKind kind, ReadOnlySpan<byte> data)
    {
        Kind = kind;
        Data = data;
    }

    /// <summary>The option kind (unknown kinds pass through as their number).</summary>
    public TcpOptionKind Kind { get; }

    /// <summary>The option bytes after kind and length (for Experimental 0xF989 Fast Open, after the magic too).</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>MSS value.</summary>
    public ushort Mss => Data.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Data) : (ushort)0;

    /// <summary>Window scale shift count.</summary>
    public byte WindowScale => Data.Length >= 1 ? Data[0] : (byte)0;

    /// <summary>Timestamp value.</summary>
    public uint TimestampValue => Data.Length >= 8 ? BinaryPrimitives.ReadUInt32BigEndian(Data) : 0;

    /// <summary>Timestamp echo reply.</summary>
    public uint TimestampEchoReply => Data.Length >= 8 ? BinaryPrimitives.ReadUInt32BigEndian(Data[4..]) : 0;

    /// <summary>Number of SACK blocks.</summary>
    public int SackBlockCount => Kind == TcpOptionKind.Sack ? Data.Length / 8 : 0;

    /// <summary>SACK block <paramref name="index"/> as (left edge, right edge).</summary>
    public (uint Left, uint Right) GetSackBlock(int index) =>
        (BinaryPrimitives.ReadUInt32BigEndian(Data[(index * 8)..]), BinaryPrimitives.ReadUInt32BigEndian(Data[((index * 8) + 4)..]));

    /// <summary>The Fast Open cookie (empty for a cookie request).</summary>
    public ReadOnlySpan<byte> FastOpenCookie => Kind is TcpOptionKind.FastOpen or TcpOptionKind.Experimental ? Data : default;

    /// <summary>The 16-byte MD5 digest.</summary>
    public ReadOnlySpan<byte> Md5Digest => Kind == TcpOptionKind.Md5 ? Data : default;
}

/// <summary>Enumerates TCP options with strict bounds: EOL stops, NOP is skipped, a bad length marks the list malformed.</summary>
public ref struct TcpOptionReader
{
    private const ushort FastOpenExperimentMagic = 0xF989;
    private ReadOnlySpan<byte> _remaining;

    /// <summary>Creates a reader over an options area.</summary>
    public TcpOptionReader(ReadOnlySpan<byte> options)
    {
        _remaining = options;
        IsMalformed = false;
    }

    /// <summary>True once an option with length &lt; 2, running past the header, or of the wrong fixed size was met.</summary>
    public bool IsMalformed { get; private set; }

    /// <summary>Reads the next option other than NOP.</summary>
    /// <returns>False at EOL, at the end, or when malformed (see <see cref="IsMalformed"/>).</returns>
    public bool TryReadNext(out TcpOption option)
    {
        option = default;
        while (!IsMalformed && _remaining.Length > 0)
        {
            var kind = (TcpOptionKind)_remaining[0];
            if (kind == TcpOptionKind.EndOfList)
            {
                _remaining = default;
                return false;
            }

            if (kind == TcpOptionKind.Nop)
            {
                _remaining = _remaining[1..];
                continue;
            }

            if (_remaining.Length < 2 || _remaining[1] < 2 || _remaining[1] > _remaining.Length)
            {
                IsMalformed = true;
                return false;
            }

            int length = _remaining[1];
            ReadOnlySpan<byte> data = _remaining[2..length];
            _remaining = _remaining[length..];
            bool ok = kind switch
            {
                TcpOptionKind.Mss => length == 4,
                TcpOptionKind.WindowScale => length == 3,
                TcpOptionKind.SackPermitted => length == 2,
                TcpOptionKind.Sack => data.Length >= 8 && data.Length <= 32 && data.Length % 8 == 0,
                TcpOptionKind.Timestamps => length == 10,
                TcpOptionKind.Md5 => length == 18,
                TcpOptionKind.FastOpen => data.Length <= 16,
                _ => true,
            };
            if (!ok)
            {
                IsMalformed = true;
                return false;
            }

            if (kind == TcpOptionKind.Experimental && data.Length >= 2 && BinaryPrimitives.ReadUInt16BigEndian(data) == FastOpenExperimentMagic)
            {
                data = data[2..];
            }

            option = new TcpOption(kind, data);
            return true;
        }

        return false;
    }
}

/// <summary>Writes TCP options in the order given, with optional FreeBSD <c>tcp_addoptions</c> alignment and padding to a multiple of 4.</summary>
/// <remarks>Methods return false (writing nothing) when the option would not fit the 40-byte limit or the buffer.</remarks>
public ref struct TcpOptionWriter
{
    private readonly Span<byte> _buffer;
    private readonly bool _alignLikeFreeBsd;

    /// <summary>Creates a writer over <paramref name="buffer"/> (at most 40 bytes are used).</summary>
    /// <param name="buffer">Where the options go (the header from byte 20).</param>
    /// <param name="alignLikeFreeBsd">Insert NOPs before each option as FreeBSD's tcp_addoptions does (sys/netinet/tcp_output.c).</param>
    public TcpOptionWriter(Span<byte> buffer, bool alignLikeFreeBsd = false)
    {
        _buffer = buffer.Length > TcpPacket.MaximumOptionsLength ? buffer[..TcpPacket.MaximumOptionsLength] : buffer;
        _alignLikeFreeBsd = alignLikeFreeBsd;
        Length = 0;
    }

    /// <summary>Bytes written so far.</summary>
    public int Length { get; private set; }

    /// <summary>Writes a NOP.</summary>
    public bool WriteNop()
    {
        if (Length >= _buffer.Length)
        {
            return false;
        }

        _buffer[Length++] = (byte)TcpOptionKind.Nop;
        return true;
    }

    /// <summary>Writes MSS (FreeBSD aligns it to 4).</summary>
    public bool WriteMss(ushort mss)
    {
        Span<byte> o = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(o, mss);
        return Write(TcpOptionKind.Mss, o, len => len % 4 == 0);
    }

    /// <summary>Writes window scale (FreeBSD pads to an odd offset).</summary>
    public bool WriteWindowScale(byte shift) => Write(TcpOptionKind.WindowScale, [shift], len => len != 0 && len % 2 == 1);

    /// <summary>Writes SACK-permitted (FreeBSD pads to an even offset).</summary>
    public bool WriteSackPermitted() => Write(TcpOptionKind.SackPermitted, default, len => len % 2 == 0);

    /// <summary>Writes timestamps (FreeBSD pads to offset 2 mod 4).</summary>
    public bool WriteTimestamps(uint value, uint echoReply)
    {
        Span<byte> o = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(o, value);
        BinaryPrimitives.WriteUInt32BigEndian(o[4..], echoReply);
        return Write(TcpOptionKind.Timestamps, o, len => len != 0 && len % 4 == 2);
    }

    /// <summary>Writes up to four SACK blocks; fewer are written when space is short, as FreeBSD does.</summary>
    public bool WriteSack(scoped ReadOnlySpan<(uint Left, uint Right)> blocks)
    {
        Span<byte> o = stackalloc byte[32];
        int pad = PaddingFor(len => len != 0 && len % 4 == 2);
        int room = (_buffer.Length - Length - pad - 2) / 8;
        int count = Math.Min(Math.Min(blocks.Length, 4), room);
        if (count <= 0)
        {
            return false;
        }

        for (int i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(o[(i * 8)..], blocks[i].Left);
            BinaryPrimitives.WriteUInt32BigEndian(o[((i * 8) + 4)..], blocks[i].Right);
        }

        return Write(TcpOptionKind.Sack, o[..(count * 8)], len => len != 0 && len % 4 == 2);
    }

    /// <summary>Writes a 16-byte MD5 signature option.</summary>
    public bool WriteMd5(scoped ReadOnlySpan<byte> digest) =>
        digest.Length == 16 && Write(TcpOptionKind.Md5, digest, len => len != 0 && len % 4 == 2);

    /// <summary>Writes a Fast Open option (kind 34) with a cookie of 0 or 4..16 bytes.</summary>
    public bool WriteFastOpen(scoped ReadOnlySpan<byte> cookie) => cookie.Length <= 16 && Write(TcpOptionKind.FastOpen, cookie, len => len % 2 == 0);

    /// <summary>Writes any option as kind, length and data, without alignment.</summary>
    public bool WriteRaw(TcpOptionKind kind, scoped ReadOnlySpan<byte> data) => data.Length <= 38 && Write(kind, data, static _ => true);

    /// <summary>Pads to a multiple of 4 (with NOPs, or with EOL then zeros as FreeBSD does) and returns the total length.</summary>
    public int Finish(bool padWithEndOfList = false)
    {
        if (padWithEndOfList)
        {
            while (Length % 4 != 0 && Length < _buffer.Length)
            {
                _buffer[Length++] = (byte)TcpOptionKind.EndOfList;
            }
        }
        else
        {
            while (Length % 4 != 0 && WriteNop())
            {
            }
        }

        return Length;
    }

    private int PaddingFor(Func<int, bool> aligned)
    {
        if (!_alignLikeFreeBsd)
        {
            return 0;
        }

        int pad = 0;
        while (!aligned(Length + pad) && pad < 4)
        {
            pad++;
        }

        return pad;
    }

    private bool Write(TcpOptionKind kind, scoped ReadOnlySpan<byte> data, Func<int, bool> aligned)
    {
        int pad = PaddingFor(aligned);
        int total = pad + 2 + data.Length;
        if (Length + total > _buffer.Length)
        {
            return false;
        }

        for (int i = 0; i < pad; i++)
        {
            _buffer[Length++] = (byte)TcpOptionKind.Nop;
        }

        _buffer[Length++] = (byte)kind;
        _buffer[Length++] = (byte)(2 + data.Length);
        data.CopyTo(_buffer[Length..]);
        Length += data.Length;
        return true;
    }
}
