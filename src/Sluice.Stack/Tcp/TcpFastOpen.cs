using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using Sluice.Stack.Sockets;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tcp;

/// <summary>Per-connection TCP Fast Open state (TF_FASTOPEN and the t_tfo_* fields of struct tcpcb).</summary>
[Flags]
internal enum FastOpenFlags : byte
{
    None = 0,
    /// <summary>TF_FASTOPEN: the socket asked for TFO (TCP_FASTOPEN).</summary>
    Enabled = 1 << 0,
    /// <summary>Client: the connection was opened by sendto(2) (tcp_usr_send's implied connect), so the cookie cache is consulted.</summary>
    ImpliedConnect = 1 << 1,
    /// <summary>Server: the SYN-ACK carries a cookie (a cookie request or a bad cookie was received).</summary>
    SendCookie = 1 << 2,
    /// <summary>Server: a valid cookie let the SYN's data in; the socket was queued for accept(2) at once.</summary>
    Accepted = 1 << 3,
}

/// <summary>
/// TCP Fast Open (RFC 7413) of one VNET, after FreeBSD's tcp_fastopen.c: the client cookie cache
/// (net.inet.tcp.fastopen.ccache_*), path disabling after failures (path_disable_time), and the server's cookie key.
/// </summary>
/// <remarks>
/// Runs on the stack's event loop. The cache allocates only when a connection opens or a SYN-ACK updates it,
/// never per data segment. Server cookies are 8 bytes of SipHash-2-4 over the client's address under a 16-byte key
/// drawn from the stack's random source on first use and dropped when net.inet.tcp.fastopen.server_enable is turned off
/// (no timed rotation: net.inet.tcp.fastopen.autokey is not implemented).
/// </remarks>
public sealed class TcpFastOpen
{
    /// <summary>TCP_FASTOPEN_COOKIE_LEN: the length of the cookies this server issues.</summary>
    public const int CookieLength = 8;

    /// <summary>TCP_FASTOPEN_MIN_COOKIE_LEN and TCP_FASTOPEN_MAX_COOKIE_LEN (RFC 7413 §4.1.1).</summary>
    public const int MinCookieLength = 4, MaxCookieLength = 16;

    private const int Buckets = 2048; // net.inet.tcp.fastopen.ccache_buckets (TCP_FASTOPEN_CCACHE_BUCKETS_DEFAULT)

    private readonly TcpStack _tcp;
    private readonly List<CacheEntry>?[] _cache = new List<CacheEntry>?[Buckets];
    private readonly byte[] _key = new byte[16];
    private bool _haveKey;
    private ulong _hashSecret;
    private bool _haveSecret;

    internal readonly SysctlInt ClientEnable, ServerEnable, PathDisableTime, BucketLimit, AcceptAny;

    private sealed class CacheEntry(InetAddress local, InetAddress server, ushort port)
    {
        public readonly InetAddress Local = local;
        public readonly InetAddress Server = server;
        public readonly ushort Port = port;
        public readonly byte[] Cookie = new byte[MaxCookieLength];
        public int CookieLength;
        public ushort ServerMss;
        public long DisableTime = -1; // ns on the loop clock; -1: enabled
    }

    internal TcpFastOpen(TcpStack tcp)
    {
        _tcp = tcp;
        var t = tcp.Net.Sysctl;
        ClientEnable = t.AddInt("net.inet.tcp.fastopen.client_enable", "Enable/disable TCP Fast Open client functionality", 1, 0, 1);
        ServerEnable = t.AddInt("net.inet.tcp.fastopen.server_enable", "Enable/disable TCP Fast Open server functionality", 0, 0, 1);
        PathDisableTime = t.AddInt("net.inet.tcp.fastopen.path_disable_time", "Seconds a TFO failure disables a {client-ip, server-ip, server-port} path", 900, 0, int.MaxValue);
        BucketLimit = t.AddInt("net.inet.tcp.fastopen.ccache_bucket_limit", "Max entries per bucket in client cookie cache", 16, 1, int.MaxValue);
        AcceptAny = t.AddInt("net.inet.tcp.fastopen.acceptany", "Accept any non-empty cookie", 0, 0, 1);
        t.AddInt("net.inet.tcp.fastopen.ccache_buckets", "Client cookie cache number of buckets", Buckets, Buckets, Buckets, readOnly: true);
        t.AddInt("net.inet.tcp.fastopen.keylen", "Key length in bytes", 16, 16, 16, readOnly: true);
        t.AddComputed("net.inet.tcp.fastopen.ccache_list", "Client cookie cache list", FormatCacheList);
        var clientWas = true;
        ClientEnable.Changed = v =>
        {
            // sysctl_net_inet_tcp_fastopen_client_enable: enabled -> disabled empties every bucket.
            if (clientWas && v == 0)
            {
                Array.Clear(_cache);
            }

            clientWas = v != 0;
        };
        ServerEnable.Changed = v =>
        {
            // sysctl_net_inet_tcp_fastopen_server_enable: enabled -> disabled forgets the keys; the next cookie draws a new one.
            if (v == 0)
            {
                _haveKey = false;
            }
        };
    }

    private bool ClientOn => ClientEnable.Value != 0;

    private long Now => _tcp.Net.Loop.Now;

    // ---------------------------------------------------------------- client

    /// <summary>
    /// tcp_fastopen_connect: before the SYN of an implied connect, takes the cached cookie and server MSS (data may
    /// then ride on the SYN, at most one MSS); a path disabled less than path_disable_time ago turns TFO off for the
    /// connection, an older one is re-enabled with a cookie request.
    /// </summary>
    internal void ClientConnect(TcpControlBlock tcb)
    {
        tcb.FastOpenCookieLength = 0;
        var e = Lookup(tcb.Key, out _);
        if (e is null)
        {
            return; // a cookie request; the entry appears with the SYN-ACK
        }

        if (e.DisableTime < 0)
        {
            if (e.CookieLength > 0)
            {
                tcb.FastOpenCookie ??= new byte[MaxCookieLength];
                e.Cookie.AsSpan(0, e.CookieLength).CopyTo(tcb.FastOpenCookie);
                tcb.FastOpenCookieLength = e.CookieLength;
            }

            if (e.ServerMss > 0)
            {
                tcb.Mss = Math.Max(Math.Min(tcb.Mss, e.ServerMss), 64);
            }

            tcb.SndWnd = (uint)tcb.Mss;
            return;
        }

        if (Now - e.DisableTime > PathDisableTime.Value * Nanos.PerSecond)
        {
            // Re-enable the path: forget cookie and MSS, force a cookie request.
            e.DisableTime = -1;
            e.ServerMss = 0;
            e.CookieLength = 0;
        }
        else
        {
            tcb.FastOpen &= ~FastOpenFlags.Enabled;
        }
    }

    /// <summary>tcp_fastopen_update_cache: a SYN-ACK's cookie (even length 4..16) is remembered with the server's MSS; any other length disables the path.</summary>
    internal void UpdateCache(TcpControlBlock tcb, ushort mss, ReadOnlySpan<byte> cookie)
    {
        if (!ClientOn)
        {
            return;
        }

        var e = Lookup(tcb.Key, out var bucket) ?? Create(tcb.Key, bucket);
        if (cookie.Length is >= MinCookieLength and <= MaxCookieLength && cookie.Length % 2 == 0)
        {
            e.ServerMss = mss;
            e.CookieLength = cookie.Length;
            cookie.CopyTo(e.Cookie);
            e.DisableTime = -1;
        }
        else
        {
            Disable(e);
        }
    }

    /// <summary>tcp_fastopen_disable_path: no cookie came back (or the SYN failed): TFO is off for this path for path_disable_time.</summary>
    internal void DisablePath(TcpControlBlock tcb)
    {
        if (ClientOn)
        {
            Disable(Lookup(tcb.Key, out var bucket) ?? Create(tcb.Key, bucket));
        }

        tcb.FastOpen &= ~FastOpenFlags.Enabled;
    }

    private void Disable(CacheEntry e)
    {
        e.ServerMss = 0;
        e.CookieLength = 0;
        if (e.DisableTime < 0)
        {
            e.DisableTime = Now; // an already disabled path keeps its time
        }
    }

    private CacheEntry? Lookup(in TcpConnectionKey key, out int bucket)
    {
        bucket = Bucket(key);
        if (!ClientOn || _cache[bucket] is not { } list)
        {
            return null;
        }

        foreach (var e in list)
        {
            if (e.Port == key.RemotePort && e.Local == key.LocalAddress && e.Server == key.RemoteAddress)
            {
                return e;
            }
        }

        return null;
    }

    private CacheEntry Create(in TcpConnectionKey key, int bucket)
    {
        // tcp_fastopen_ccache_create: new entries go first; a full bucket gives up its last one.
        var list = _cache[bucket] ??= [];
        if (list.Count >= BucketLimit.Value)
        {
            list.RemoveAt(list.Count - 1);
        }

        var e = new CacheEntry(key.LocalAddress, key.RemoteAddress, key.RemotePort);
        list.Insert(0, e);
        while (list.Count > BucketLimit.Value)
        {
            list.RemoveAt(list.Count - 1);
        }

        return e;
    }

    private int Bucket(in TcpConnectionKey key)
    {
        if (!_haveSecret)
        {
            _hashSecret = (ulong)_tcp.Net.Random.NextInt64();
            _haveSecret = true;
        }

        var h = _hashSecret ^ key.RemotePort;
        h = Mix(h ^ Fold(key.LocalAddress));
        h = Mix(h ^ Fold(key.RemoteAddress));
        return (int)(h & (Buckets - 1));
    }

    private static ulong Fold(InetAddress a) => a.IsIPv6 ? a.V6.High ^ BitOperations.RotateLeft(a.V6.Low, 29) : a.V4.Value;

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
        return z ^ (z >> 31);
    }

    /// <summary>net.inet.tcp.fastopen.ccache_list in sysctl_net_inet_tcp_fastopen_ccache_list's layout.</summary>
    private string FormatCacheList()
    {
        var sb = new StringBuilder();
        sb.Append("\nLocal IP address     Remote IP address     Port   MSS Disabled Cookie\n");
        var limit = PathDisableTime.Value * Nanos.PerSecond;
        foreach (var list in _cache)
        {
            if (list is null)
            {
                continue;
            }

            foreach (var e in list)
            {
                sb.Append(CultureInfo.InvariantCulture, $"{e.Local,-20} {e.Server,-20} {e.Port,5} {e.ServerMss,5} ");
                var left = e.DisableTime < 0 ? 0 : Math.Max(0, limit - (Now - e.DisableTime));
                sb.Append(left > 0 ? string.Create(CultureInfo.InvariantCulture, $"{left / Nanos.PerSecond,7}s ") : $"{"No",8} ");
                for (var i = 0; i < e.CookieLength; i++)
                {
                    sb.Append(e.Cookie[i].ToString("x2", CultureInfo.InvariantCulture));
                }

                sb.Append('\n');
            }
        }

        return sb.ToString();
    }

    // ---------------------------------------------------------------- server

    /// <summary>The server cookie for <paramref name="client"/> (tcp_fastopen_make_cookie): 8 bytes of SipHash-2-4 over its address.</summary>
    internal void MakeCookie(InetAddress client, Span<byte> cookie)
    {
        if (!_haveKey)
        {
            _tcp.Net.Random.NextBytes(_key);
            _haveKey = true;
        }

        Span<byte> addr = stackalloc byte[16];
        int n;
        if (client.IsIPv6)
        {
            client.V6.WriteTo(addr);
            n = 16;
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(addr, client.V4.Value);
            n = 4;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(cookie, SipHash.Hash24(_key, addr[..n]));
    }

    /// <summary>tcp_fastopen_check_cookie: a cookie of this server's length that matches, or any non-empty one with acceptany.</summary>
    internal bool CheckCookie(InetAddress client, ReadOnlySpan<byte> cookie)
    {
        if (cookie.Length == 0)
        {
            return false;
        }

        if (AcceptAny.Value != 0)
        {
            return true;
        }

        if (cookie.Length != CookieLength)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[CookieLength];
        MakeCookie(client, expected);
        return expected.SequenceEqual(cookie);
    }
}
