using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Sluice.Wire;

/// <summary>The Internet checksum (RFC 1071): ones'-complement sums, pseudo headers and incremental updates (RFC 1624).</summary>
/// <remarks>
/// Partial sums returned by this class are always folded to 16 bits, so any number of them up to 65536 can be
/// added together as <see cref="uint"/> without overflow and then given to <see cref="Fold"/>.
/// </remarks>
public static class Checksum
{
    // Iterations per vector block before lanes are drained: each iteration adds at most 0x1FFFE per 32-bit lane.
    private const int BlockIterations = 16384;

    /// <summary>Adds the big-endian 16-bit words of <paramref name="data"/> (odd trailing byte padded with zero) to <paramref name="sum"/>.</summary>
    /// <returns>A partial sum folded to 16 bits.</returns>
    public static uint Add(ReadOnlySpan<byte> data, uint sum = 0)
    {
        // RFC 1071 §2(B): the sum is byte-order independent, so add little-endian words and swap once at the end.
        ulong total = SumLittleEndian(data);
        total = FoldTo16(total);
        uint bigEndian = (uint)(((total & 0xFF) << 8) | (total >> 8));
        return (uint)FoldTo16((ulong)sum + bigEndian);
    }

    /// <summary>Folds carries of a partial sum and returns its ones' complement: the value to store in a checksum field.</summary>
    public static ushort Fold(uint sum) => (ushort)~FoldTo16(sum);

    /// <summary>Computes the checksum of <paramref name="data"/>: <c>Fold(Add(data))</c>.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Fold(Add(data));

    /// <summary>The partial sum of the IPv4 pseudo header (RFC 768, RFC 9293 §3.1).</summary>
    public static uint PseudoHeaderV4(IPv4Address source, IPv4Address destination, IPProtocol protocol, int length)
    {
        ulong s = (source.Value >> 16) + (source.Value & 0xFFFF) + (destination.Value >> 16) + (destination.Value & 0xFFFF)
            + (uint)protocol + ((uint)length >> 16) + ((uint)length & 0xFFFF);
        return (uint)FoldTo16(s);
    }

    /// <summary>The partial sum of the IPv6 pseudo header (RFC 8200 §8.1).</summary>
    public static uint PseudoHeaderV6(IPv6Address source, IPv6Address destination, IPProtocol nextHeader, int length)
    {
        ulong s = SumWords(source.High) + SumWords(source.Low) + SumWords(destination.High) + SumWords(destination.Low)
            + (uint)nextHeader + ((uint)length >> 16) + ((uint)length & 0xFFFF);
        return (uint)FoldTo16(s);
    }

    /// <summary>Updates a stored checksum after one 16-bit word changed (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).</summary>
    public static ushort Update(ushort oldChecksum, ushort oldWord, ushort newWord)
    {
        uint s = (uint)(ushort)~oldChecksum + (ushort)~oldWord + newWord;
        return (ushort)~FoldTo16(s);
    }

    /// <summary>Updates a stored checksum after one 32-bit value (e.g. an IPv4 address) changed.</summary>
    public static ushort Update(ushort oldChecksum, uint oldValue, uint newValue)
    {
        uint s = (uint)(ushort)~oldChecksum + (ushort)~(oldValue >> 16) + (ushort)~oldValue + (newValue >> 16) + (newValue & 0xFFFF);
        return (ushort)~FoldTo16(s);
    }

    /// <summary>Updates a stored checksum after a 128-bit IPv6 address changed.</summary>
    public static ushort Update(ushort oldChecksum, IPv6Address oldValue, IPv6Address newValue)
    {
        ulong s = (ushort)~oldChecksum
            + (0xFFFFUL * 4 * 2) - SumWords(oldValue.High) - SumWords(oldValue.Low)
            + SumWords(newValue.High) + SumWords(newValue.Low);
        return (ushort)~FoldTo16(s);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SumWords(ulong v) => (v >> 48) + ((v >> 32) & 0xFFFF) + ((v >> 16) & 0xFFFF) + (v & 0xFFFF);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint FoldTo16(ulong s)
    {
        s = (s & 0xFFFF_FFFF) + (s >> 32);
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        return (uint)s;
    }

    private static ulong SumLittleEndian(ReadOnlySpan<byte> data)
    {
        ulong total = 0;
        int offset = 0;
        ref byte start = ref MemoryMarshal.GetReference(data);

        if (Vector256.IsHardwareAccelerated && data.Length >= Vector256<byte>.Count)
        {
            Vector256<uint> low16 = Vector256.Create(0xFFFFu);
            while (data.Length - offset >= Vector256<byte>.Count)
            {
                Vector256<uint> acc = Vector256<uint>.Zero;
                int iterations = Math.Min(BlockIterations, (data.Length - offset) / Vector256<byte>.Count);
                for (int i = 0; i < iterations; i++)
                {
                    Vector256<uint> v = Vector256.LoadUnsafe(ref start, (nuint)offset).AsUInt32();
                    acc += (v & low16) + Vector256.ShiftRightLogical(v, 16);
                    offset += Vector256<byte>.Count;
                }

                total += Vector256.Sum(Vector256.WidenLower(acc)) + Vector256.Sum(Vector256.WidenUpper(acc));
            }
        }

        if (Vector128.IsHardwareAccelerated && data.Length - offset >= Vector128<byte>.Count)
        {
            Vector128<uint> low16 = Vector128.Create(0xFFFFu);
            while (data.Length - offset >= Vector128<byte>.Count)
            {
                Vector128<uint> acc = Vector128<uint>.Zero;
                int iterations = Math.Min(BlockIterations, (data.Length - offset) / Vector128<byte>.Count);
                for (int i = 0; i < iterations; i++)
                {
                    Vector128<uint> v = Vector128.LoadUnsafe(ref start, (nuint)offset).AsUInt32();
                    acc += (v & low16) + Vector128.ShiftRightLogical(v, 16);
                    offset += Vector128<byte>.Count;
                }

                total += Vector128.Sum(Vector128.WidenLower(acc)) + Vector128.Sum(Vector128.WidenUpper(acc));
            }
        }

        ReadOnlySpan<byte> tail = data[offset..];
        while (tail.Length >= 8)
        {
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(tail);
            total += SumWords(v);
            tail = tail[8..];
        }

        while (tail.Length >= 2)
        {
            total += BinaryPrimitives.ReadUInt16LittleEndian(tail);
            tail = tail[2..];
        }

        if (tail.Length == 1)
        {
            // The odd byte is the high half of a big-endian word padded with zero, i.e. the low half in little-endian.
            total += tail[0];
        }

        return total;
    }
}
