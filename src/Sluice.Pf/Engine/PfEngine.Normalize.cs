using System.Buffers.Binary;
using Sluice.Pf.Config;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;

namespace Sluice.Pf.Engine;

/// <summary>What <see cref="PfEngine"/>'s IPv4 normalization did with a packet.</summary>
internal enum PfNormResult : byte
{
    /// <summary>Go on with this packet (possibly rewritten in place).</summary>
    Continue,

    /// <summary>Drop it (the reason is counted).</summary>
    Drop,

    /// <summary>A fragment pf now holds until the datagram is complete.</summary>
    Held,

    /// <summary>This fragment completed a datagram: pf goes on with the reassembled packet instead.</summary>
    Reassembled,
}

public sealed partial class PfEngine
{
    private readonly Dictionary<(UInt128 Src, UInt128 Dst, uint Id, byte Proto, bool V6), PfFragmentQueue> _fragments = [];
    private int _fragmentCount;
    private bool _reassemble, _reassembleNoDf;
    private uint _fragLimit = 5000;

    /// <summary>Fragments pf holds for reassembly (<c>pfctl -si</c>'s frag entries).</summary>
    public int FragmentCount => _fragmentCount;

    /// <summary>IPv6 datagrams pf reassembled from fragments (pf_reassemble6).</summary>
    public ulong Reassembled6 { get; private set; }

    /// <summary>
    /// pf_normalize_ip. With scrub rules, the first matching one (unless <c>no scrub</c>) normalizes the packet; without
    /// any, normalization is enforced and reassembly follows <c>set reassemble</c> (off by default in FreeBSD 14).
    /// Fragments with DF, misaligned or beyond 64 KB are dropped; a fragment to reassemble is held until its datagram is
    /// complete, and the reassembled packet is what rules and states see.
    /// </summary>
    private PfNormResult NormalizeIPv4(Packet packet, NetworkInterface ifp, bool inbound, ref PfPacket pd, PfRuleC? scrub, bool haveScrubRules, out Packet? whole)
    {
        whole = null;
        if (haveScrubRules && (scrub is null || scrub.Ast.Action == PfAction.NoScrub))
        {
            return PfNormResult.Continue;
        }

        var data = packet.Data;
        var noDf = haveScrubRules ? scrub!.Ast.Scrub.NoDf : _reassemble && _reassembleNoDf;
        var off = BinaryPrimitives.ReadUInt16BigEndian(data[6..]);
        if (noDf && (off & 0x4000) != 0)
        {
            packet.MakeWritable();
            data = packet.Data;
            var now = (ushort)(off & ~0x4000);
            BinaryPrimitives.WriteUInt16BigEndian(data[6..], now);
            BinaryPrimitives.WriteUInt16BigEndian(data[10..], PfRewrite.Fixup(BinaryPrimitives.ReadUInt16BigEndian(data[10..]), off, now));
            off = now;
        }

        if (!pd.Fragment)
        {
            return PfNormResult.Continue;
        }

        var length = pd.Length - pd.Offset;
        var more = (off & 0x2000) != 0;
        if ((off & 0x4000) != 0 || (more && (length & 7) != 0) || pd.FragmentOffset + length > 65535)
        {
            Counters[(int)PfReason.Fragment]++;
            return PfNormResult.Drop;
        }

        var checks = FragmentChecks(ref pd);
        if (checks != PfReason.Match)
        {
            Counters[(int)checks]++;
            return PfNormResult.Drop;
        }

        var reassemble = haveScrubRules ? !scrub!.Ast.Scrub.FragmentNoReassemble : _reassemble;
        if (!reassemble)
        {
            return PfNormResult.Continue;
        }

        whole = Reassemble(packet, ref pd, more);
        return whole is null ? PfNormResult.Held : PfNormResult.Reassembled;
    }

    /// <summary>
    /// pf_reassemble: queues the fragment (taking ownership) and returns the datagram once every byte arrived.
    /// Overlapping or inconsistent fragments discard the whole datagram, as the stack's own reassembler does.
    /// </summary>
    /// <summary>
    /// Queues a fragment of <paramref name="key"/>'s datagram, taking ownership. <paramref name="queue"/> is null when the
    /// fragment was dropped (memory limit, overlap, inconsistent end: the whole queue goes); the result is true once every
    /// fragment up to the last one is there.
    /// </summary>
    private bool QueueFragment((UInt128, UInt128, uint, byte, bool) key, Packet packet, int offset, int length, int headerLength, bool more, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PfFragmentQueue? queue)
    {
        if (!_fragments.TryGetValue(key, out queue))
        {
            if ((uint)_fragmentCount >= _fragLimit)
            {
                Counters[(int)PfReason.Memory]++;
                packet.Release();
                queue = null;
                return false;
            }

            queue = new PfFragmentQueue { Expire = Now };
            _fragments[key] = queue;
        }

        var q = queue;
        var end = offset + length;
        var bad = (!more && q.Total >= 0 && q.Total != end) || (q.Total >= 0 && end > q.Total) || q.Fragments.Count >= 64;
        var insertAt = q.Fragments.Count;
        for (var i = 0; i < q.Fragments.Count && !bad; i++)
        {
            var f = q.Fragments[i];
            bad = offset < f.Offset + f.Length && f.Offset < end;
            if (f.Offset > offset && insertAt == q.Fragments.Count)
            {
                insertAt = i;
            }
        }

        if (bad)
        {
            Counters[(int)PfReason.Fragment]++;
            DropQueue(key, q);
            packet.Release();
            queue = null;
            return false;
        }

        if (!more)
        {
            q.Total = end;
        }

        q.Fragments.Insert(insertAt, (offset, length, headerLength, packet));
        _fragmentCount++;
        if (q.Total < 0)
        {
            return false;
        }

        var expected = 0;
        foreach (var f in q.Fragments)
        {
            if (f.Offset != expected)
            {
                return false;
            }

            expected += f.Length;
        }

        return expected == q.Total;
    }

    private Packet? Reassemble(Packet packet, ref PfPacket pd, bool more)
    {
        var data = packet.Data;
        var key = (pd.Src, pd.Dst, (uint)BinaryPrimitives.ReadUInt16BigEndian(data[4..]), pd.Proto, false);
        var offset = pd.FragmentOffset;
        var length = pd.Length - pd.Offset;
        if (!QueueFragment(key, packet, offset, length, pd.Offset, more, out var q))
        {
            return null;
        }

        var first = q.Fragments[0];
        var hlen = first.HeaderLength;
        var whole = _stack.Pool.Rent(hlen + q.Total);
        whole.CopyMetadataFrom(first.Packet);
        var w = whole.Data;
        first.Packet.Data[..hlen].CopyTo(w);
        foreach (var f in q.Fragments)
        {
            f.Packet.Data.Slice(f.HeaderLength, f.Length).CopyTo(w[(hlen + f.Offset)..]);
        }

        BinaryPrimitives.WriteUInt16BigEndian(w[2..], (ushort)(hlen + q.Total));
        BinaryPrimitives.WriteUInt16BigEndian(w[6..], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(w[6..]) & 0x4000));
        PfRewrite.RecomputeIPv4Header(w);
        DropQueue(key, q);
        return whole;
    }

    private void DropQueue((UInt128, UInt128, uint, byte, bool) key, PfFragmentQueue q)
    {
        _fragments.Remove(key);
        foreach (var f in q.Fragments)
        {
            f.Packet.Release();
        }

        _fragmentCount -= q.Fragments.Count;
        q.Fragments.Clear();
    }

    /// <summary>Drops fragment queues older than <c>timeout frag</c> (from the purge timer).</summary>
    private void PurgeFragments(long now)
    {
        if (_fragments.Count == 0)
        {
            return;
        }

        var limit = (long)_timeouts[14] * Second;
        List<(UInt128, UInt128, uint, byte, bool)>? dead = null;
        foreach (var (k, q) in _fragments)
        {
            if (q.Expire + limit <= now)
            {
                (dead ??= []).Add(k);
            }
        }

        foreach (var k in dead ?? [])
        {
            DropQueue(k, _fragments[k]);
        }
    }

    /// <summary>
    /// pf_normalize_ip6: with scrub rules only a matching one (not <c>no scrub</c>) normalizes; without any, always.
    /// A fragment is always reassembled then (FreeBSD: "Fragment reassembly always performed for IPv6"): it is held
    /// until its datagram is complete, and the datagram, without its fragment header, is what rules and states see.
    /// </summary>
    private PfNormResult NormalizeIPv6(Packet packet, ref PfPacket pd, PfRuleC? scrub, bool haveScrubRules, out Packet? whole)
    {
        whole = null;
        if (haveScrubRules && (scrub is null || scrub.Ast.Action == PfAction.NoScrub))
        {
            return PfNormResult.Continue;
        }

        if (!pd.Fragment)
        {
            return PfNormResult.Continue;
        }

        var data = packet.Data[..pd.Length];
        if (!FindFragmentHeader6(data, out var fragOff, out var prevNext))
        {
            Counters[(int)PfReason.Short]++;
            return PfNormResult.Drop;
        }

        var fo = BinaryPrimitives.ReadUInt16BigEndian(data[(fragOff + 2)..]);
        var more = (fo & 1) != 0;
        var offset = fo & 0xfff8;
        var start = fragOff + 8;
        var length = pd.Length - start;
        if ((more && (length & 7) != 0) || offset + length > 65535 || (more && length == 0))
        {
            Counters[(int)PfReason.Fragment]++;
            return PfNormResult.Drop;
        }

        var key = (pd.Src, pd.Dst, BinaryPrimitives.ReadUInt32BigEndian(data[(fragOff + 4)..]), data[fragOff], true);
        whole = Reassemble6(packet, key, offset, length, start, more, fragOff, prevNext);
        return whole is null ? PfNormResult.Held : PfNormResult.Reassembled;
    }

    /// <summary>Finds the fragment header and the offset of the next-header field that names it.</summary>
    private static bool FindFragmentHeader6(ReadOnlySpan<byte> data, out int fragOff, out int prevNext)
    {
        prevNext = 6;
        var next = data[6];
        var off = 40;
        for (var hops = 0; hops < 8 && off + 8 <= data.Length; hops++)
        {
            if (next == 44)
            {
                fragOff = off;
                return true;
            }

            if (next is not (0 or 43 or 60 or 51))
            {
                break;
            }

            var len = next == 51 ? (data[off + 1] + 2) * 4 : (data[off + 1] + 1) * 8;
            prevNext = off;
            next = data[off];
            off += len;
        }

        fragOff = -1;
        return false;
    }

    /// <summary>pf_reassemble6: queues the fragment (taking ownership) and returns the datagram once complete.</summary>
    private Packet? Reassemble6(Packet packet, (UInt128, UInt128, uint, byte, bool) key, int offset, int length, int start, bool more, int fragOff, int prevNext)
    {
        var complete = QueueFragment(key, packet, offset, length, start, more, out var q);
        if (q is null)
        {
            return null;
        }

        if (offset == 0)
        {
            q.FragOff = fragOff;
            q.PrevNext = prevNext;
        }

        q.MaxLength = Math.Max(q.MaxLength, start + length);
        if (!complete)
        {
            return null;
        }

        var first = q.Fragments[0];
        var hlen = q.FragOff;
        if (hlen - 40 + q.Total > 65535)
        {
            Counters[(int)PfReason.Fragment]++;
            DropQueue(key, q);
            return null;
        }

        var whole = _stack.Pool.Rent(hlen + q.Total);
        whole.CopyMetadataFrom(first.Packet);
        var w = whole.Data;
        var fd = first.Packet.Data;
        fd[..hlen].CopyTo(w);
        w[q.PrevNext] = fd[hlen];
        foreach (var f in q.Fragments)
        {
            f.Packet.Data.Slice(f.HeaderLength, f.Length).CopyTo(w[(hlen + f.Offset)..]);
        }

        BinaryPrimitives.WriteUInt16BigEndian(w[4..], (ushort)(hlen - 40 + q.Total));
        _reassembled6Info = (hlen, q.MaxLength, key.Item3);
        Reassembled6++;
        DropQueue(key, q);
        return whole;
    }

    /// <summary>
    /// pf_refragment6: cuts a datagram pf reassembled back into fragments no larger than the largest one that arrived,
    /// with the original identification, the unfragmentable headers in each. Takes ownership.
    /// </summary>
    internal List<Packet> Refragment6(Packet whole, int hlen, int maxLength, uint id)
    {
        var list = new List<Packet>();
        var d = whole.Data;
        var nextField = FindNextHeaderField6(d, hlen);
        var upper = d[nextField];
        var chunk = (maxLength - hlen - 8) & ~7;
        var payload = d.Length - hlen;
        if (chunk < 8 || payload <= chunk)
        {
            list.Add(whole);
            return list;
        }

        for (var off = 0; off < payload; off += chunk)
        {
            var n = Math.Min(chunk, payload - off);
            var f = _stack.Pool.Rent(hlen + 8 + n);
            f.CopyMetadataFrom(whole);
            f.PfFragmentMaxLength = 0; // a fragment, not the reassembled datagram
            var fd = f.Data;
            d[..hlen].CopyTo(fd);
            fd[nextField] = 44;
            fd[hlen] = upper;
            fd[hlen + 1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(fd[(hlen + 2)..], (ushort)(off | (off + n < payload ? 1 : 0)));
            BinaryPrimitives.WriteUInt32BigEndian(fd[(hlen + 4)..], id);
            d.Slice(hlen + off, n).CopyTo(fd[(hlen + 8)..]);
            BinaryPrimitives.WriteUInt16BigEndian(fd[4..], (ushort)(hlen - 40 + 8 + n));
            list.Add(f);
        }

        whole.Release();
        return list;
    }

    /// <summary>The offset of the next-header field naming the header at <paramref name="hlen"/>.</summary>
    private static int FindNextHeaderField6(ReadOnlySpan<byte> d, int hlen)
    {
        var field = 6;
        var off = 40;
        while (off < hlen)
        {
            field = off;
            off += (d[off + 1] + 1) * 8;
        }

        return field;
    }

    /// <summary>The first matching scrub rule (pf_normalize_ip's loop is first-match), or null.</summary>
    private PfRuleC? MatchScrubRule(NetworkInterface ifp, bool inbound, ref PfPacket pd, Packet packet)
    {
        var ctx = new MatchContext();
        EvalRules(_rules.Scrub, ifp, inbound, ref pd, packet, ref ctx, firstMatch: true);
        return ctx.Rule;
    }

    /// <summary>
    /// pf_normalize_tcp: SYN with RST or FIN, a segment with neither ACK nor RST nor SYN, FIN/PSH/URG without ACK and
    /// a bad data offset are dropped; reserved bits and a stray urgent pointer are cleared.
    /// </summary>
    private static bool NormalizeTcp(Packet packet, ref PfPacket pd)
    {
        const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20;
        var flags = pd.TcpFlags;
        if ((flags & Syn) != 0 ? (flags & (Rst | Fin)) != 0 : (flags & (Ack | Rst)) == 0)
        {
            return false;
        }

        if ((flags & Ack) == 0 && (flags & (Fin | Psh | Urg)) != 0)
        {
            return false;
        }

        var t = packet.Data[pd.Offset..];
        var word = BinaryPrimitives.ReadUInt16BigEndian(t[12..]);
        var urp = BinaryPrimitives.ReadUInt16BigEndian(t[18..]);
        if ((word & 0x0FC0) == 0 && ((flags & Urg) != 0 || urp == 0))
        {
            return true;
        }

        packet.MakeWritable();
        t = packet.Data[pd.Offset..];
        var sum = BinaryPrimitives.ReadUInt16BigEndian(t[16..]);
        var now = (ushort)(word & 0xF03F);
        sum = PfRewrite.Fixup(sum, word, now);
        BinaryPrimitives.WriteUInt16BigEndian(t[12..], now);
        if ((flags & Urg) == 0 && urp != 0)
        {
            sum = PfRewrite.Fixup(sum, urp, 0);
            BinaryPrimitives.WriteUInt16BigEndian(t[18..], 0);
        }

        BinaryPrimitives.WriteUInt16BigEndian(t[16..], sum);
        return true;
    }

    /// <summary>
    /// pf_scrub and pf_normalize_mss on a passed packet, for a scrub rule's options or the <c>scrub (...)</c> actions of
    /// a state or of the rules that just matched: no-df clears DF, min-ttl raises the TTL/hop limit, set-tos replaces
    /// the DSCP bits and keeps ECN, random-id gives an unfragmented IPv4 packet a new id, max-mss clamps a SYN's MSS
    /// option. Checksums are fixed up incrementally; nothing is allocated.
    /// </summary>
    private void PfScrub(Packet packet, ref PfPacket pd, in PfRuleActions a)
    {
        var d = packet.Data;
        if (!pd.V6)
        {
            var off = BinaryPrimitives.ReadUInt16BigEndian(d[6..]);
            if ((a.Flags & PfRuleActions.NoDf) != 0 && (off & 0x4000) != 0)
            {
                packet.MakeWritable();
                d = packet.Data;
                var now = (ushort)(off & ~0x4000);
                BinaryPrimitives.WriteUInt16BigEndian(d[6..], now);
                FixIPv4Sum(d, off, now);
                off = now;
            }

            if (a.MinTtl != 0 && d[8] < a.MinTtl)
            {
                packet.MakeWritable();
                d = packet.Data;
                var old = BinaryPrimitives.ReadUInt16BigEndian(d[8..]);
                d[8] = a.MinTtl;
                FixIPv4Sum(d, old, BinaryPrimitives.ReadUInt16BigEndian(d[8..]));
            }

            if ((a.Flags & PfRuleActions.SetTos) != 0 && d[1] != (byte)(a.Tos | (d[1] & 0x03)))
            {
                packet.MakeWritable();
                d = packet.Data;
                var old = BinaryPrimitives.ReadUInt16BigEndian(d);
                d[1] = (byte)(a.Tos | (d[1] & 0x03)); // IPTOS_ECN_MASK stays
                FixIPv4Sum(d, old, BinaryPrimitives.ReadUInt16BigEndian(d));
            }

            if ((a.Flags & PfRuleActions.RandomId) != 0 && (off & 0x3FFF) == 0)
            {
                packet.MakeWritable();
                d = packet.Data;
                var old = BinaryPrimitives.ReadUInt16BigEndian(d[4..]);
                var now = (ushort)_stack.Random.Next(1, 65536);
                BinaryPrimitives.WriteUInt16BigEndian(d[4..], now);
                FixIPv4Sum(d, old, now);
            }
        }
        else
        {
            if (a.MinTtl != 0 && d[7] < a.MinTtl)
            {
                packet.MakeWritable();
                packet.Data[7] = a.MinTtl;
            }

            if ((a.Flags & PfRuleActions.SetTos) != 0)
            {
                // The traffic class straddles bytes 0 and 1: DSCP from the rule, ECN kept.
                d = packet.Data;
                var flow = BinaryPrimitives.ReadUInt32BigEndian(d);
                var tc = (uint)(a.Tos | ((flow >> 20) & 0x03));
                var now = (flow & 0xF00FFFFFu) | (tc << 20);
                if (now != flow)
                {
                    packet.MakeWritable();
                    BinaryPrimitives.WriteUInt32BigEndian(packet.Data, now);
                }
            }
        }

        if (a.MaxMss != 0 && pd.Proto == PfPacket.Tcp && !pd.Fragment && (pd.TcpFlags & 0x02) != 0)
        {
            ClampMss(packet, ref pd, a.MaxMss);
        }
    }

    private static void FixIPv4Sum(Span<byte> d, ushort old, ushort now) =>
        BinaryPrimitives.WriteUInt16BigEndian(d[10..], PfRewrite.Fixup(BinaryPrimitives.ReadUInt16BigEndian(d[10..]), old, now));

    /// <summary>pf_normalize_mss: lowers the MSS option of a SYN to <paramref name="max"/>, fixing the TCP checksum.</summary>
    private static void ClampMss(Packet packet, ref PfPacket pd, ushort max)
    {
        var opts = pd.TcpHeaderLength - 20;
        var i = 0;
        while (i < opts)
        {
            var t = packet.Data[(pd.Offset + 20)..(pd.Offset + pd.TcpHeaderLength)];
            var kind = t[i];
            if (kind == 0)
            {
                return;
            }

            if (kind == 1)
            {
                i++;
                continue;
            }

            if (i + 1 >= opts || t[i + 1] < 2 || i + t[i + 1] > opts)
            {
                return;
            }

            if (kind == 2 && t[i + 1] == 4)
            {
                var mss = BinaryPrimitives.ReadUInt16BigEndian(t[(i + 2)..]);
                if (mss > max)
                {
                    packet.MakeWritable();
                    var th = packet.Data[pd.Offset..];
                    BinaryPrimitives.WriteUInt16BigEndian(th[(20 + i + 2)..], max);
                    var sum = BinaryPrimitives.ReadUInt16BigEndian(th[16..]);
                    BinaryPrimitives.WriteUInt16BigEndian(th[16..], PfRewrite.Fixup(sum, mss, max));
                }

                return;
            }

            i += t[i + 1];
        }
    }
}

/// <summary>The fragments pf holds of one IPv4 datagram (pf's <c>pf_fragment</c>).</summary>
internal sealed class PfFragmentQueue
{
    public readonly List<(int Offset, int Length, int HeaderLength, Packet Packet)> Fragments = [];
    public int Total = -1;
    public int FragOff, PrevNext, MaxLength;
    public long Expire;
}
