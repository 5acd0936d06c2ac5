using Sluice.Pf.Config;

namespace Sluice.Pf.Engine;

/// <summary>Counters of one table entry (<c>pfctl -t T -T show -v</c>).</summary>
public sealed class PfTableEntryCounters
{
    public ulong PacketsIn, BytesIn, PacketsOut, BytesOut;
}

/// <summary>
/// Longest-prefix-match index over one table's entries (pf_table.c's radix lookup, pfr_match_addr): one dictionary
/// per prefix length that is present, probed from the longest; a negated entry that matches best means "no match".
/// </summary>
internal sealed class PfTableIndex
{
    private sealed class Node(bool negated)
    {
        public readonly bool Negated = negated;
        public readonly PfTableEntryCounters Counters = new();
    }

    private readonly Dictionary<UInt128, Node>?[] _v4 = new Dictionary<UInt128, Node>?[33];
    private readonly Dictionary<UInt128, Node>?[] _v6 = new Dictionary<UInt128, Node>?[129];
    private int[] _v4Lengths = [];
    private int[] _v6Lengths = [];

    public PfTableIndex(IEnumerable<PfTableEntry> entries, PfTableIndex? previous)
    {
        var l4 = new SortedSet<int>(Comparer<int>.Create((a, b) => b.CompareTo(a)));
        var l6 = new SortedSet<int>(Comparer<int>.Create((a, b) => b.CompareTo(a)));
        foreach (var e in entries)
        {
            if (e.Address.Kind != PfAddrKind.AddrMask)
            {
                continue;
            }

            var v6 = e.Address.Address.Family == PfFamily.Inet6;
            var len = Math.Clamp(e.Address.Prefix, 0, v6 ? 128 : 32);
            var key = e.Address.Address.Mask(len).Bits;
            var arr = v6 ? _v6 : _v4;
            arr[len] ??= [];
            var node = new Node(e.Negated);
            if (previous?.Find(v6, len, key) is { } old)
            {
                CopyCounters(old, node.Counters);
            }

            arr[len]![key] = node;
            (v6 ? l6 : l4).Add(len);
        }

        _v4Lengths = [.. l4];
        _v6Lengths = [.. l6];
    }

    private static void CopyCounters(PfTableEntryCounters from, PfTableEntryCounters to)
    {
        to.PacketsIn = from.PacketsIn;
        to.BytesIn = from.BytesIn;
        to.PacketsOut = from.PacketsOut;
        to.BytesOut = from.BytesOut;
    }

    private PfTableEntryCounters? Find(bool v6, int len, UInt128 key) =>
        (v6 ? _v6 : _v4)[len] is { } d && d.TryGetValue(key, out var n) ? n.Counters : null;

    /// <summary>The counters of the entry <paramref name="addr"/>, or null.</summary>
    public PfTableEntryCounters? Counters(PfAddr addr) =>
        Find(addr.Address.Family == PfFamily.Inet6, addr.Prefix, addr.Address.Mask(addr.Prefix).Bits);

    /// <summary>Longest-prefix match of <paramref name="address"/>; counts the packet on the matching entry.</summary>
    public bool Match(bool v6, UInt128 address, bool inbound, int bytes)
    {
        var lengths = v6 ? _v6Lengths : _v4Lengths;
        var arr = v6 ? _v6 : _v4;
        var width = v6 ? 128 : 32;
        foreach (var len in lengths)
        {
            var key = len == 0 ? UInt128.Zero : len >= width ? address : address & (((v6 ? UInt128.MaxValue : uint.MaxValue) << (width - len)) & (v6 ? UInt128.MaxValue : uint.MaxValue));
            if (arr[len]!.TryGetValue(key, out var node))
            {
                if (node.Negated)
                {
                    return false;
                }

                if (bytes >= 0)
                {
                    if (inbound)
                    {
                        node.Counters.PacketsIn++;
                        node.Counters.BytesIn += (ulong)bytes;
                    }
                    else
                    {
                        node.Counters.PacketsOut++;
                        node.Counters.BytesOut += (ulong)bytes;
                    }
                }

                return true;
            }
        }

        return false;
    }
}

/// <summary>A rule's reference to a table by name, re-indexed when the instance's tables change.</summary>
internal sealed class PfTableRef(PfInstance pf, string name)
{
    private int _version = -1;
    private PfTableIndex? _index;

    public string Name { get; } = name;

    public PfTableIndex? Index
    {
        get
        {
            if (_version != pf.TablesVersion)
            {
                _version = pf.TablesVersion;
                _index = pf.Tables.TryGetValue(Name, out var t) ? new PfTableIndex(t.Entries, _index) : null;
            }

            return _index;
        }
    }

    public bool Match(bool v6, UInt128 address, bool inbound, int bytes) => Index?.Match(v6, address, inbound, bytes) ?? false;
}
