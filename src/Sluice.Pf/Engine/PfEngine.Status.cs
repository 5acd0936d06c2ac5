using System.Security.Cryptography;
using System.Text;
using Sluice.Pf.Config;

namespace Sluice.Pf.Engine;

/// <summary>pf's limit counters (pfvar.h LCNT_* / KLCNT_*), in <c>pfctl -si -v</c> order.</summary>
public enum PfLimitCounter : byte
{
    /// <summary>A rule's <c>max</c> states reached (pf_create_state).</summary>
    States = 0,

    /// <summary><c>max-src-states</c> reached (pf_insert_src_node).</summary>
    SrcStates = 1,

    /// <summary><c>max-src-nodes</c> reached (pf_insert_src_node).</summary>
    SrcNodes = 2,

    /// <summary><c>max-src-conn</c> exceeded (pf_src_connlimit).</summary>
    SrcConn = 3,

    /// <summary><c>max-src-conn-rate</c> exceeded (pf_src_connlimit).</summary>
    SrcConnRate = 4,

    /// <summary>A source put into an <c>overload</c> table.</summary>
    OverloadTable = 5,

    /// <summary>States killed by <c>overload ... flush</c>.</summary>
    OverloadFlush = 6,

    /// <summary>SYN floods detected (adaptive syncookies).</summary>
    Synfloods = 7,

    /// <summary>Syncookies sent.</summary>
    SyncookiesSent = 8,

    /// <summary>Syncookies validated.</summary>
    SyncookiesValid = 9,
}

public sealed partial class PfEngine
{
    /// <summary>pfvar.h KLCNT_NAMES: the limit counters as <c>pfctl -si -v</c> names them.</summary>
    public static readonly IReadOnlyList<string> LimitCounterNames =
    [
        "max states per rule", "max-src-states", "max-src-nodes", "max-src-conn", "max-src-conn-rate",
        "overload table insertion", "overload flush states", "synfloods detected", "syncookies sent", "syncookies validated",
    ];

    private readonly ulong[] _ifBytes = new ulong[4]; // [v6 * 2 + out]
    private readonly ulong[] _ifPackets = new ulong[8]; // [(v6 * 2 + out) * 2 + blocked]
    private readonly byte[] _checksum = new byte[16];
    private string? _logInterface;
    private uint? _hostIdSet;

    /// <summary>The limit counters (by <see cref="PfLimitCounter"/>).</summary>
    public ulong[] LimitCounters { get; } = new ulong[10];

    /// <summary>Source-tracking table searches (pf's scounters).</summary>
    public ulong SourceSearches { get; private set; }

    /// <summary>Source nodes inserted.</summary>
    public ulong SourceInserts { get; private set; }

    /// <summary>Source nodes removed.</summary>
    public ulong SourceRemovals { get; private set; }

    /// <summary>The interface named by <c>set loginterface</c>, or null.</summary>
    public string? LogInterface => _logInterface;

    /// <summary><c>set syncookies</c> mode: never, always or adaptive.</summary>
    public string SyncookiesMode => Syncookies switch
    {
        PfSyncookiesMode.Always => "always",
        PfSyncookiesMode.Adaptive => "adaptive",
        _ => "never",
    };

    /// <summary>
    /// The host id (pf_status.hostid, also the states' creatorid): <c>set hostid</c> when given, else one derived from
    /// the VNET's name (FreeBSD draws it from arc4random when pf attaches; a name hash keeps it stable per VNET and run
    /// without drawing from the stack's seeded random source).
    /// </summary>
    public uint HostId
    {
        get => _hostIdSet ?? DefaultHostId(_stack.Name);
        set => _hostIdSet = value;
    }

    /// <summary>The rule set checksum <c>pfctl -si -v</c> prints (pf_status.pf_chksum, 16 bytes).</summary>
    public ReadOnlySpan<byte> RulesetChecksum => _checksum;

    /// <summary>Bytes in (<paramref name="outbound"/> false) or out on the log interface, per family.</summary>
    public ulong InterfaceBytes(bool v6, bool outbound) => _ifBytes[(v6 ? 2 : 0) + (outbound ? 1 : 0)];

    /// <summary>Packets passed or blocked in or out on the log interface, per family.</summary>
    public ulong InterfacePackets(bool v6, bool outbound, bool blocked) =>
        _ifPackets[(((v6 ? 2 : 0) + (outbound ? 1 : 0)) * 2) + (blocked ? 1 : 0)];

    private static uint DefaultHostId(string name)
    {
        // FNV-1a over the VNET name; never 0 (pfctl refuses hostid 0).
        var h = 2166136261u;
        foreach (var c in name)
        {
            h = (h ^ c) * 16777619u;
        }

        return h == 0 ? 1u : h;
    }

    /// <summary>pfi_kkif counters of the status interface: every packet pf_test judged on it (pf_counters_inc).</summary>
    private void CountLogInterface(bool v6, bool inbound, bool blocked, int bytes)
    {
        var i = (v6 ? 2 : 0) + (inbound ? 0 : 1);
        _ifBytes[i] += (ulong)bytes;
        _ifPackets[(i * 2) + (blocked ? 1 : 0)]++;
    }

    /// <remarks>
    /// FreeBSD counts every interface all the time (pfik_packets/pfik_bytes) and shows the one named by loginterface;
    /// Sluice counts the named one only, from when it is set; a load that names another interface starts from zero.
    /// </remarks>
    private void LoadStatusOptions(PfRuleset rs)
    {
        var before = _logInterface;
        _logInterface = null;
        string[]? cookies = null;
        _hostIdSet = null;
        foreach (var o in rs.Statements)
        {
            if (o is not PfOptionStatement opt)
            {
                continue;
            }

            var p = opt.Text.Split(' ');
            switch (opt.Name)
            {
                case "loginterface" when p.Length >= 3:
                    _logInterface = p[2] == "none" ? null : p[2];
                    break;
                case "syncookies" when p.Length >= 3:
                    cookies = p;
                    break;
                case "hostid" when p.Length >= 3 && p[2].StartsWith("0x", StringComparison.Ordinal)
                    && uint.TryParse(p[2].AsSpan(2), System.Globalization.NumberStyles.HexNumber, null, out var id):
                    _hostIdSet = id;
                    break;
            }
        }

        if (cookies is null)
        {
            ConfigureSyncookies(PfSyncookiesMode.Never, 25, 12);
        }
        else
        {
            LoadSyncookies(cookies);
        }

        if (before != _logInterface)
        {
            Array.Clear(_ifBytes);
            Array.Clear(_ifPackets);
        }
    }

    /// <summary>
    /// The rule set checksum, computed at each commit as FreeBSD's pf_setup_pfsync_matching does at DIOCXCOMMIT: an MD5
    /// over every rule of the main ruleset except scrub rules, in load order. FreeBSD hashes the rules' binary fields
    /// (pf_hash_rule); Sluice hashes each rule's canonical <c>pfctl -nv</c> text (PfPrinter.Rule) followed by a newline,
    /// translation rules (nat, rdr, binat) first, then filter rules. Equal rule sets give equal checksums (what pfsync
    /// peers compare); any change to a rule changes it. Before the first commit it is all zeros.
    /// </summary>
    private void ComputeChecksum(PfRuleset rs)
    {
        var sb = new StringBuilder();
        foreach (var r in rs.Nat.Concat(rs.Rdr).Concat(rs.Binat).Concat(rs.Filter))
        {
            sb.Append(PfPrinter.Rule(r)).Append('\n');
        }

#pragma warning disable CA5351 // MD5 here is pf's rule set fingerprint, as in FreeBSD, not a security measure
        MD5.HashData(Encoding.UTF8.GetBytes(sb.ToString()), _checksum);
#pragma warning restore CA5351
    }
}
