using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Sluice.Wire;

/// <summary>The TCP MD5 signature option (RFC 2385): where its digest sits and how it is computed.</summary>
/// <remarks>
/// Stateless: the caller supplies the <see cref="IncrementalHash"/> (MD5) and reuses it, so computing a digest
/// allocates nothing. The hash is left reset after every call, also when a call returns false.
/// </remarks>
public static class TcpMd5Signature
{
    /// <summary>Bytes in the digest.</summary>
    public const int DigestLength = 16;

    /// <summary>Bytes of the whole option (kind 19, length 18).</summary>
    public const int OptionLength = 18;

    /// <summary>
    /// Finds the digest of the first well-formed MD5 option in <paramref name="segment"/> (a whole TCP segment whose
    /// data offset was validated); <paramref name="offset"/> is where the 16 digest bytes start in the segment.
    /// </summary>
    /// <returns>False when the segment has no MD5 option or its option list is malformed before one.</returns>
    public static bool TryFindDigest(ReadOnlySpan<byte> segment, out int offset)
    {
        offset = 0;
        if (segment.Length < TcpPacket.MinimumHeaderLength)
        {
            return false;
        }

        var headerLength = (segment[12] >> 4) * 4;
        if (headerLength < TcpPacket.MinimumHeaderLength || headerLength > segment.Length)
        {
            return false;
        }

        var i = TcpPacket.MinimumHeaderLength;
        while (i < headerLength)
        {
            var kind = segment[i];
            if (kind == (byte)TcpOptionKind.EndOfList)
            {
                return false;
            }

            if (kind == (byte)TcpOptionKind.Nop)
            {
                i++;
                continue;
            }

            if (i + 1 >= headerLength)
            {
                return false;
            }

            int length = segment[i + 1];
            if (length < 2 || i + length > headerLength)
            {
                return false;
            }

            if (kind == (byte)TcpOptionKind.Md5 && length == OptionLength)
            {
                offset = i + 2;
                return true;
            }

            i += length;
        }

        return false;
    }

    /// <summary>
    /// RFC 2385 §2.0: MD5 over the IPv4 pseudo-header, the TCP header without options and with a zero checksum, the
    /// segment data, and the key, written to <paramref name="digest"/> (16 bytes).
    /// </summary>
    /// <returns>False when the segment is shorter than its data offset says or <paramref name="digest"/> is too small.</returns>
    public static bool TryComputeV4(IncrementalHash md5, ReadOnlySpan<byte> segment, IPv4Address source, IPv4Address destination, ReadOnlySpan<byte> key, Span<byte> digest)
    {
        ArgumentNullException.ThrowIfNull(md5);
        Span<byte> pseudo = stackalloc byte[12];
        source.WriteTo(pseudo);
        destination.WriteTo(pseudo[4..]);
        pseudo[8] = 0;
        pseudo[9] = (byte)IPProtocol.Tcp;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo[10..], (ushort)segment.Length);
        return TryCompute(md5, pseudo, segment, key, digest);
    }

    /// <summary>
    /// The IPv6 form FreeBSD uses (tcp_signature_compute): the RFC 8200 §8.1 pseudo-header (addresses, 32-bit
    /// length, 24 zero bits, next header), then as for IPv4.
    /// </summary>
    /// <returns>False when the segment is shorter than its data offset says or <paramref name="digest"/> is too small.</returns>
    public static bool TryComputeV6(IncrementalHash md5, ReadOnlySpan<byte> segment, IPv6Address source, IPv6Address destination, ReadOnlySpan<byte> key, Span<byte> digest)
    {
        ArgumentNullException.ThrowIfNull(md5);
        Span<byte> pseudo = stackalloc byte[40];
        source.WriteTo(pseudo);
        destination.WriteTo(pseudo[16..]);
        BinaryPrimitives.WriteUInt32BigEndian(pseudo[32..], (uint)segment.Length);
        pseudo[36] = pseudo[37] = pseudo[38] = 0;
        pseudo[39] = (byte)IPProtocol.Tcp;
        return TryCompute(md5, pseudo, segment, key, digest);
    }

    private static bool TryCompute(IncrementalHash md5, ReadOnlySpan<byte> pseudo, ReadOnlySpan<byte> segment, ReadOnlySpan<byte> key, Span<byte> digest)
    {
        if (segment.Length < TcpPacket.MinimumHeaderLength || digest.Length < DigestLength)
        {
            return false;
        }

        var headerLength = (segment[12] >> 4) * 4;
        if (headerLength < TcpPacket.MinimumHeaderLength || headerLength > segment.Length)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[TcpPacket.MinimumHeaderLength];
        segment[..TcpPacket.MinimumHeaderLength].CopyTo(header);
        header[16] = header[17] = 0; // RFC 2385 §2.0: "assuming a checksum of zero"
        md5.AppendData(pseudo);
        md5.AppendData(header);
        md5.AppendData(segment[headerLength..]);
        md5.AppendData(key);
        return md5.TryGetHashAndReset(digest, out var written) && written == DigestLength;
    }
}
