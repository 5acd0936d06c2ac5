using System.Buffers.Binary;
using System.Numerics;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Wire;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Pf.Engine;

/// <summary><c>set syncookies</c> mode (pf's PF_SYNCOOKIES_*).</summary>
public enum PfSyncookiesMode
{
    /// <summary>pf never answers with a cookie (the default).</summary>
    Never = 0,

    /// <summary>pf answers every inbound SYN with a cookie.</summary>
    Always = 1,

    /// <summary>pf answers with cookies while half-open states are above the start watermark, until the end watermark.</summary>
    Adaptive = 2,
}

/// <summary>
/// pf syncookies (sys/netpfil/pf/pf_syncookies.c): while active, an inbound SYN is answered with a SYN-ACK whose
/// sequence number is a cookie and no state is made; the client's ACK that carries a valid cookie rebuilds the SYN, the
/// rules judge it and make the state, and pf opens the connection to the server as synproxy does.
/// </summary>
/// <remarks>
/// The cookie (an ISN) is 24 bits of MAC and 8 bits of flags: MSS index (3), window-scale index (3), SACK (1, always 0)
/// and which of two secrets made it (1). The MAC is SipHash-2-4 over source and destination address, the ports (network
/// order), the client's sequence number (host order, little-endian as on amd64) and the flag byte, keyed with the
/// current or previous 16-byte secret; the two 32-bit halves of the result are XORed. Secrets rotate every 15 seconds
/// while cookies are active or in flight. Nothing here allocates; the SYN-ACK is a pooled packet.
/// </remarks>
public sealed partial class PfEngine
{
    private const long SyncookieSecretLifetime = 15 * Second;
    private static readonly ushort[] SyncookieMssTable = [216, 536, 1200, 1360, 1400, 1440, 1452, 1460];
    private static readonly byte[] SyncookieWscaleTable = [0, 0, 1, 2, 4, 6, 7, 8];

    private readonly ulong[] _cookieKey = new ulong[4]; // secret n is _cookieKey[2n], _cookieKey[2n + 1]
    private readonly ulong[] _cookieInflight = new ulong[2];
    private int _cookieOddEven;
    private int _halfOpen;
    private bool _syncookieReplay;

    /// <summary>The <c>set syncookies</c> mode.</summary>
    public PfSyncookiesMode Syncookies { get; private set; }

    /// <summary>True while pf answers SYNs with cookies (always mode, or adaptive mode during a flood).</summary>
    public bool SyncookiesActive { get; private set; }

    /// <summary>Half-open TCP states: the initiator has sent its SYN but not yet completed the handshake (states_halfopen).</summary>
    public int HalfOpenStates => _halfOpen;

    /// <summary>Adaptive mode: half-open states above which cookies start, and below which (with those in flight) they stop.</summary>
    public (uint High, uint Low) SyncookieWatermarks { get; private set; }

    /// <summary>Cookies sent and not yet validated, per secret generation.</summary>
    internal ulong SyncookiesInflight => _cookieInflight[0] + _cookieInflight[1];

    /// <summary>pfctl_set_syncookies + pf_set_syncookies: mode and watermarks (percent of the state limit).</summary>
    private void ConfigureSyncookies(PfSyncookiesMode mode, int startPercent, int endPercent)
    {
        var limit = (ulong)_stateLimit;
        var hi = (uint)(limit * (ulong)startPercent / 100);
        var lo = (uint)(limit * (ulong)endPercent / 100);
        if (lo == hi)
        {
            hi++;
        }

        SyncookieWatermarks = (hi, lo);
        SyncookieSetMode(mode);
    }

    /// <summary>pf_syncookies_setmode: switching to always starts with a fresh secret.</summary>
    private void SyncookieSetMode(PfSyncookiesMode mode)
    {
        if (Syncookies == mode)
        {
            return;
        }

        Syncookies = mode;
        if (mode == PfSyncookiesMode.Always)
        {
            SyncookieNewKey();
            SyncookiesActive = true;
        }
    }

    /// <summary>
    /// pf_synflood_check: whether this SYN is answered with a cookie. In adaptive mode, more half-open states than the
    /// high watermark turn cookies on (a SYN flood, counted in <c>synfloods detected</c>).
    /// </summary>
    private bool SynfloodCheck()
    {
        if (_syncookieReplay)
        {
            return false; // PF_MTAG_FLAG_SYNCOOKIE_RECREATED
        }

        if (Syncookies != PfSyncookiesMode.Adaptive)
        {
            return Syncookies != PfSyncookiesMode.Never;
        }

        if (!SyncookiesActive && _halfOpen > SyncookieWatermarks.High)
        {
            // FreeBSD leaves this counter as XXXTODO; OpenBSD counts it here.
            SyncookieNewKey();
            SyncookiesActive = true;
            LimitCounters[(int)PfLimitCounter.Synfloods]++;
        }

        return SyncookiesActive;
    }

    /// <summary>pf_syncookie_send: a SYN-ACK with the cookie as ISN and the SYN's MSS (at least tcp.mssdflt), window 0.</summary>
    private void SyncookieSend(Packet packet, ref PfPacket pd)
    {
        var mss = Math.Max(DefaultMss, SynMss(packet, ref pd));
        var iss = SyncookieGenerate(packet, ref pd, mss);
        SendTcp(pd.V6, pd.Dst, pd.Src, pd.Dport, pd.Sport, iss, pd.Seq + 1, SynF | AckFlag, 0, mss, generated: true);
        LimitCounters[(int)PfLimitCounter.SyncookiesSent]++;
        _cookieInflight[_cookieOddEven]++;
    }

    /// <summary>pf_syncookie_generate: the ISN for a SYN (MSS and window-scale indexes, secret bit, MAC).</summary>
    private uint SyncookieGenerate(Packet packet, ref PfPacket pd, ushort mss)
    {
        var i = SyncookieMssTable.Length - 1;
        while (SyncookieMssTable[i] > mss && i > 0)
        {
            i--;
        }

        var mssIndex = i;

        // pf_get_wscale returns the shift with PF_WSCALE_FLAG (0x80) set, so any window-scale option maps to the last
        // index (as in FreeBSD); without one the search stops at index 1.
        var ws = WindowScale(packet, ref pd);
        var wscale = ws < 0 ? 0 : ws | 0x80;
        i = SyncookieWscaleTable.Length - 1;
        while (SyncookieWscaleTable[i] > wscale && i > 0)
        {
            i--;
        }

        var cookie = (byte)(_cookieOddEven | (i << 2) | (mssIndex << 5));
        var hash = SyncookieMac(pd.V6, pd.Src, pd.Dst, pd.Sport, pd.Dport, pd.Seq, cookie);
        return (hash & ~0xffu) | (byte)(cookie ^ (hash >> 24));
    }

    /// <summary>pf_syncookie_validate: the ACK's acknowledgement number is a cookie pf sent for this connection.</summary>
    private bool SyncookieValidate(ref PfPacket pd)
    {
        var seq = pd.Seq - 1;
        var ack = pd.Ack - 1;
        var cookie = (byte)((ack & 0xff) ^ (ack >> 24));
        var gen = cookie & 1;
        if (_cookieInflight[gen] == 0)
        {
            return false;
        }

        var hash = SyncookieMac(pd.V6, pd.Src, pd.Dst, pd.Sport, pd.Dport, seq, cookie);
        if ((ack & ~0xffu) != (hash & ~0xffu))
        {
            return false;
        }

        LimitCounters[(int)PfLimitCounter.SyncookiesValid]++;
        _cookieInflight[gen]--;
        return true;
    }

    /// <summary>
    /// pf_test after a valid cookie ACK (pf_syncookie_recreate_syn): the client's SYN is rebuilt from the cookie (its
    /// MSS, and the window-scale table value in the window field as FreeBSD does), judged by the rules as if it had just
    /// arrived, which makes the state; then pf completes the client's side and sends the server a SYN as synproxy does.
    /// The rebuilt SYN itself goes nowhere. The ACK is consumed (<c>synproxy</c>).
    /// </summary>
    private PfilVerdict SyncookieReplay(Packet packet, NetworkInterface ifp, ref PfPacket pd)
    {
        var seq = pd.Seq - 1;
        var ack = pd.Ack - 1;
        var cookie = (byte)((ack & 0xff) ^ (ack >> 24));
        var mss = SyncookieMssTable[cookie >> 5];
        var wscale = SyncookieWscaleTable[(cookie >> 2) & 7];
        var syn = BuildTcp(pd.V6, pd.Src, pd.Dst, pd.Sport, pd.Dport, seq, 0, SynF, wscale, mss, pd.Ttl);
        syn.ReceiveInterfaceIndex = packet.ReceiveInterfaceIndex;
        syn.PfTag = packet.PfTag;
        PfilVerdict verdict;
        if (PfPacket.Parse(syn.Data, pd.V6, out var spd) != PfReason.Match)
        {
            syn.Release();
            return PfilVerdict.Drop;
        }

        _syncookieReplay = true;
        try
        {
            var haveScrub = _rules.Scrub.Length > 0;
            var scrub = haveScrub ? MatchScrubRule(ifp, true, ref spd, syn) : null;
            verdict = TestNormalized(syn, ifp, true, ref spd, scrub, haveScrub);
        }
        finally
        {
            _syncookieReplay = false;
        }

        if (verdict != PfilVerdict.Consumed)
        {
            syn.Release();
        }

        if (verdict != PfilVerdict.Pass)
        {
            return PfilVerdict.Drop;
        }

        var key = PfStateKey.ForPacket(pd.V6, pd.Proto, pd.Src, pd.Sport, pd.Dst, pd.Dport, true);
        var s = FindState(key, true);
        if (s is null || !s.Inbound || s.Src.State != PfTcpState.SynSent)
        {
            return PfilVerdict.Drop;
        }

        // The client's side is done already: its ISN and pf's cookie, then synproxy's PROXY:DST on this ACK.
        s.Src.SeqLo = seq;
        s.Src.SeqHi = ack;
        s.Src.WScale = 0;
        s.Src.State = PfTcpState.ProxySrc;
        s.ProxyMss = mss;
        var reason = Synproxy(s, true, ref pd);
        SyncHalfOpen(s);
        Counters[(int)reason]++;
        return PfilVerdict.Drop;
    }

    /// <summary>pf_syncookie_newkey: the other secret is replaced and becomes current; rotation in 15 seconds.</summary>
    private void SyncookieNewKey()
    {
        _cookieOddEven ^= 1;
        _cookieInflight[_cookieOddEven] = 0;
        Span<byte> k = stackalloc byte[16];
        _stack.Random.NextBytes(k);
        _cookieKey[2 * _cookieOddEven] = BinaryPrimitives.ReadUInt64LittleEndian(k);
        _cookieKey[(2 * _cookieOddEven) + 1] = BinaryPrimitives.ReadUInt64LittleEndian(k[8..]);
        _stack.Loop.ScheduleAfter(_cookieTimer, SyncookieSecretLifetime);
    }

    /// <summary>
    /// pf_syncookie_rotate: adaptive mode turns cookies off once half-open states and cookies in flight are below the
    /// low watermark (never mode at once); with none in flight either, the secrets are erased and rotation stops.
    /// </summary>
    private void SyncookieRotate()
    {
        if (SyncookiesActive && ((Syncookies == PfSyncookiesMode.Adaptive
            && (ulong)_halfOpen + _cookieInflight[0] + _cookieInflight[1] < SyncookieWatermarks.Low)
            || Syncookies == PfSyncookiesMode.Never))
        {
            SyncookiesActive = false;
        }

        if (!SyncookiesActive && _cookieInflight[0] == 0 && _cookieInflight[1] == 0)
        {
            Array.Clear(_cookieKey);
            return;
        }

        SyncookieNewKey();
    }

    /// <summary>pf_syncookie_mac: SipHash-2-4 of the connection and the cookie flags, halves XORed.</summary>
    private uint SyncookieMac(bool v6, UInt128 src, UInt128 dst, ushort sport, ushort dport, uint seq, byte cookie)
    {
        Span<byte> m = stackalloc byte[41];
        var n = 0;
        if (v6)
        {
            BinaryPrimitives.WriteUInt128BigEndian(m, src);
            BinaryPrimitives.WriteUInt128BigEndian(m[16..], dst);
            n = 32;
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(m, (uint)src);
            BinaryPrimitives.WriteUInt32BigEndian(m[4..], (uint)dst);
            n = 8;
        }

        BinaryPrimitives.WriteUInt16BigEndian(m[n..], sport);
        BinaryPrimitives.WriteUInt16BigEndian(m[(n + 2)..], dport);
        BinaryPrimitives.WriteUInt32LittleEndian(m[(n + 4)..], seq);
        m[n + 8] = cookie;
        var g = cookie & 1;
        var h = SipHash.Hash24(_cookieKey[2 * g], _cookieKey[(2 * g) + 1], m[..(n + 9)]);
        return (uint)h ^ (uint)(h >> 32);
    }

    private static bool IsHalfOpen(PfState s) =>
        s.Wire.Proto == PfPacket.Tcp && s.Src.State > PfTcpState.Closed && s.Src.State < PfTcpState.Established;

    /// <summary>A new TCP state is half-open until its initiator reaches ESTABLISHED or CLOSED (pf_set_protostate).</summary>
    private void TrackHalfOpen(PfState s)
    {
        if (IsHalfOpen(s))
        {
            s.HalfOpen = true;
            _halfOpen++;
        }
    }

    private void SyncHalfOpen(PfState s)
    {
        if (s.HalfOpen && !IsHalfOpen(s))
        {
            s.HalfOpen = false;
            _halfOpen--;
        }
    }

    /// <summary>The <c>set syncookies</c> option text: mode and, for adaptive, start and end percentages.</summary>
    private void LoadSyncookies(string[] p)
    {
        var mode = p.Length >= 3 ? p[2] switch
        {
            "always" => PfSyncookiesMode.Always,
            "adaptive" => PfSyncookiesMode.Adaptive,
            _ => PfSyncookiesMode.Never,
        } : PfSyncookiesMode.Never;
        int start = 25, end = 12;
        for (var i = 3; i + 1 < p.Length; i++)
        {
            var v = p[i + 1].TrimEnd(')', ',', '%');
            if (p[i].TrimStart('(') == "start" && int.TryParse(v, out var s))
            {
                start = s;
            }
            else if (p[i].TrimStart('(') == "end" && int.TryParse(v, out var e))
            {
                end = e;
            }
        }

        ConfigureSyncookies(mode, start, end);
    }
}
