using System.Buffers.Binary;
using Sluice.Stack.Buffers;

namespace Sluice.Pf.Engine;

/// <summary>
/// <c>reassemble tcp</c>: the stateful part of pf_norm.c (pf_normalize_tcp_init, pf_normalize_tcp_stateful). Each
/// peer of a state that asks for it keeps the highest TTL it has sent, which every later packet from it is raised to,
/// and, when its SYN carried a timestamp option, a random modulator added to its timestamps and taken off the echoes
/// the other side sends back, plus the PAWS bounds of RFC 1323 that drop a segment whose timestamps cannot be right
/// (counted as <c>bad-timestamp</c>). No segment reassembly: FreeBSD does none either ("I have a dream").
/// </summary>
public sealed partial class PfEngine
{
    private const byte PfssTimestamp = 0x01, PfssPaws = 0x10, PfssPawsIdled = 0x20, PfssDataTs = 0x40, PfssDataNoTs = 0x80;
    private const long TsMaxIdle = 24L * 24 * 60 * 60, TsMaxConn = 12L * 24 * 60 * 60; // seconds
    private const uint TsMaxFreq = 1100; // RFC 1323's fastest clock, 1 kHz, plus 10 %

    /// <summary>pf_normalize_tcp_init: starts scrubbing <paramref name="src"/> from the packet it sends now.</summary>
    private void NormalizeTcpInit(Packet packet, ref PfPacket pd, ref PfStatePeer src)
    {
        src.Scrub = true;
        src.ScrubFlags = 0;
        src.ScrubTtl = pd.V6 ? packet.Data[7] : packet.Data[8];
        if ((pd.TcpFlags & 0x02) == 0)
        {
            return; // timestamp modulation only starts with the connection
        }

        var t = packet.Data[(pd.Offset + 20)..(pd.Offset + pd.TcpHeaderLength)];
        var at = FindTimestamp(t, out _);
        if (at >= 0)
        {
            src.ScrubFlags |= PfssTimestamp;
            src.TsMod = (uint)_stack.Random.NextInt64(0, 1L << 32);
            src.TsVal0 = src.TsVal = BinaryPrimitives.ReadUInt32BigEndian(t[(at + 2)..]);
            src.TsEcr = BinaryPrimitives.ReadUInt32BigEndian(t[(at + 6)..]);
            src.TsLast = Now;
        }
    }

    /// <summary>
    /// The offset of the first timestamp option within <paramref name="opts"/>, or -1, walking as pf_norm.c does (a
    /// kind, then at least two bytes; only while a whole timestamp option could still follow).
    /// </summary>
    private static int FindTimestamp(ReadOnlySpan<byte> opts, out bool multiple)
    {
        multiple = false;
        var found = -1;
        var i = 0;
        while (opts.Length - i >= 10)
        {
            var kind = opts[i];
            if (kind is 0 or 1)
            {
                i++;
                continue;
            }

            if (kind == 8 && opts[i + 1] >= 10)
            {
                if (found >= 0)
                {
                    multiple = true;
                    return found;
                }

                found = i;
            }

            i += Math.Max((int)opts[i + 1], 2);
        }

        return found;
    }

    /// <summary>
    /// pf_normalize_tcp_stateful for a segment inside the window: TTL floor, timestamp (de)modulation, PAWS checks and
    /// the PAWS bookkeeping. False drops the segment as <c>bad-timestamp</c>.
    /// </summary>
    private bool NormalizeTcpStateful(Packet packet, ref PfPacket pd, PfState s, ref PfStatePeer src, ref PfStatePeer dst)
    {
        // Enforce the highest TTL seen on this connection: an evader cannot let segments expire between pf and the host.
        if (src.Scrub)
        {
            var ttlAt = pd.V6 ? 7 : 8;
            var ttl = packet.Data[ttlAt];
            if (ttl > src.ScrubTtl)
            {
                src.ScrubTtl = ttl;
            }
            else if (ttl < src.ScrubTtl)
            {
                packet.MakeWritable();
                var d = packet.Data;
                var old = BinaryPrimitives.ReadUInt16BigEndian(d[8..]);
                d[ttlAt] = src.ScrubTtl;
                if (!pd.V6)
                {
                    FixIPv4Sum(d, old, BinaryPrimitives.ReadUInt16BigEndian(d[8..]));
                }
            }
        }

        var gotTs = false;
        uint tsval = 0, tsecr = 0;
        if (pd.TcpHeaderLength > 20 && ((src.ScrubFlags & PfssTimestamp) != 0 || (dst.ScrubFlags & PfssTimestamp) != 0))
        {
            var at = FindTimestamp(packet.Data[(pd.Offset + 20)..(pd.Offset + pd.TcpHeaderLength)], out var multiple);
            if (multiple)
            {
                return false;
            }

            if (at >= 0)
            {
                gotTs = true;
                var optAt = pd.Offset + 20 + at;
                tsval = BinaryPrimitives.ReadUInt32BigEndian(packet.Data[(optAt + 2)..]);
                tsecr = BinaryPrimitives.ReadUInt32BigEndian(packet.Data[(optAt + 6)..]);
                if (tsval != 0 && (src.ScrubFlags & PfssTimestamp) != 0)
                {
                    PatchTcp32(packet, ref pd, 20 + at + 2, tsval + src.TsMod);
                }

                if (tsecr != 0 && (dst.ScrubFlags & PfssTimestamp) != 0)
                {
                    tsecr -= dst.TsMod; // the echo of a modulated value goes back to the peer's own clock
                    PatchTcp32(packet, ref pd, 20 + at + 6, tsecr);
                }
            }
        }

        // PAWS stops on connections idle too long for the timestamp clock not to have wrapped (24 days at 1 kHz), and
        // after 12 days because the echo's lower bound is only the first timestamp.
        var now = Now;
        var nowSec = now / Second;
        if (src.Scrub && (src.ScrubFlags & PfssPaws) != 0
            && (nowSec - (src.TsLast / Second) > TsMaxIdle || (now - s.Creation) / Second > TsMaxConn))
        {
            src.ScrubFlags = (byte)((src.ScrubFlags & ~PfssPaws) | PfssPawsIdled);
        }

        if (dst.Scrub && (dst.ScrubFlags & PfssPaws) != 0 && nowSec - (dst.TsLast / Second) > TsMaxIdle)
        {
            dst.ScrubFlags = (byte)((dst.ScrubFlags & ~PfssPaws) | PfssPawsIdled);
        }

        var bothPaws = src.Scrub && dst.Scrub && (src.ScrubFlags & PfssPaws) != 0 && (dst.ScrubFlags & PfssPaws) != 0;
        if (gotTs && bothPaws)
        {
            // RFC 1323 bounds, treating timestamps as sequence numbers: tsval no older than what the peer last echoed
            // and no further ahead than the fastest clock could have ticked since the last one (plus tcp.tsdiff
            // seconds of slack); the echo no newer than the newest the peer sent and no older than its first.
            var fudge = s.Rule?.Timeouts is { } rt && rt[21] != 0 ? rt[21] : _timeouts[21];
            var delta = now - src.TsLast;
            var deltaSec = delta / Second;
            var deltaUsec = delta % Second / 1000;
            var fromLast = (uint)(((deltaSec + fudge) * TsMaxFreq) + (deltaUsec / (1_000_000 / TsMaxFreq)));
            if (src.State >= PfTcpState.Established && dst.State >= PfTcpState.Established
                && (SeqLt(tsval, dst.TsEcr) || SeqGt(tsval, src.TsVal + fromLast)
                    || (tsecr != 0 && (SeqGt(tsecr, dst.TsVal) || SeqLt(tsecr, dst.TsVal0)))))
            {
                return false;
            }
        }
        else if (!gotTs && (pd.TcpFlags & 0x04) == 0
            && ((src.State == PfTcpState.Established && dst.State == PfTcpState.Established) || pd.PayloadLength > 0 || (pd.TcpFlags & 0x02) != 0)
            && bothPaws)
        {
            // A peer that timestamped its first data segment must timestamp all of them: a segment without one is
            // someone else's.
            if (pd.PayloadLength > 0 && (src.ScrubFlags & PfssDataTs) != 0)
            {
                return false;
            }
        }

        // Note whether this peer timestamps its data (decided by its first data segment).
        if (pd.PayloadLength > 0 && src.Scrub && (src.ScrubFlags & (PfssTimestamp | PfssDataTs | PfssDataNoTs)) == PfssTimestamp)
        {
            src.ScrubFlags |= gotTs ? PfssDataTs : PfssDataNoTs;
        }

        // PAWS bookkeeping: newest tsval and echo; PAWS starts once a timestamp has been echoed.
        if (gotTs && src.Scrub && (src.ScrubFlags & (PfssPawsIdled | PfssTimestamp)) == PfssTimestamp)
        {
            src.TsLast = now;
            var paws = (src.ScrubFlags & PfssPaws) != 0;
            if (SeqGeq(tsval, src.TsVal) || !paws)
            {
                src.TsVal = tsval;
            }

            if (tsecr != 0)
            {
                if (SeqGeq(tsecr, src.TsEcr) || !paws)
                {
                    src.TsEcr = tsecr;
                }

                if (!paws && (SeqLt(tsval, src.TsVal0) || src.TsVal0 == 0))
                {
                    src.TsVal0 = tsval; // tsval0 must be the lowest timestamp
                }

                src.ScrubFlags |= PfssPaws;
            }
        }

        return true;
    }

    /// <summary>
    /// Writes a 32-bit value at <paramref name="at"/> bytes into the TCP header and fixes the checksum for every
    /// 16-bit word it touches (the value may straddle words: pf_patch_32_unaligned).
    /// </summary>
    private static void PatchTcp32(Packet packet, ref PfPacket pd, int at, uint value)
    {
        packet.MakeWritable();
        var t = packet.Data[pd.Offset..(pd.Offset + pd.TcpHeaderLength)];
        var first = at & ~1;
        var words = ((at + 4 - first) + 1) / 2;
        Span<ushort> before = stackalloc ushort[3];
        for (var w = 0; w < words; w++)
        {
            before[w] = BinaryPrimitives.ReadUInt16BigEndian(t[(first + (2 * w))..]);
        }

        BinaryPrimitives.WriteUInt32BigEndian(t[at..], value);
        var sum = BinaryPrimitives.ReadUInt16BigEndian(t[16..]);
        for (var w = 0; w < words; w++)
        {
            sum = PfRewrite.Fixup(sum, before[w], BinaryPrimitives.ReadUInt16BigEndian(t[(first + (2 * w))..]));
        }

        BinaryPrimitives.WriteUInt16BigEndian(t[16..], sum);
    }
}
