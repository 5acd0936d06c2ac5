using Sluice.Stack.Sockets;

namespace Sluice.Stack.Tcp;

/// <summary>One tcp-md5 security association: the key for segments from <see cref="Source"/> to <see cref="Destination"/>.</summary>
/// <param name="Source">Sender of the segments the key signs.</param>
/// <param name="Destination">Receiver of those segments.</param>
/// <param name="Spi">Security parameter index, the association's name within the pair.</param>
/// <param name="Key">The shared secret (RFC 2385 §2.0, "an independently-specified key or password").</param>
public sealed record TcpMd5Association(InetAddress Source, InetAddress Destination, uint Spi, byte[] Key);

/// <summary>
/// The tcp-md5 part of one VNET's IPsec security association database (FreeBSD's SAD as <c>setkey</c> fills it):
/// keys by source, destination and SPI, looked up by address pair as key_allocsa_tcpmd5 does.
/// </summary>
/// <remarks>Used on the event loop only. Lookups allocate nothing.</remarks>
public sealed class TcpMd5KeyDatabase
{
    private readonly List<TcpMd5Association> _entries = [];

    /// <summary>The associations in the order they were added.</summary>
    public IReadOnlyList<TcpMd5Association> Associations => _entries;

    /// <summary>SADB_ADD: EEXIST when the SPI is taken (key_add: SPIs are unique in the SAD); EINVAL for an empty key or mixed families.</summary>
    public Errno Add(InetAddress source, InetAddress destination, uint spi, ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty || source.IsIPv6 != destination.IsIPv6)
        {
            return Errno.EINVAL;
        }

        foreach (var e in _entries)
        {
            if (e.Spi == spi)
            {
                return Errno.EEXIST;
            }
        }

        _entries.Add(new TcpMd5Association(source, destination, spi, key.ToArray()));
        return Errno.None;
    }

    /// <summary>SADB_DELETE: ESRCH when no such association exists.</summary>
    public Errno Delete(InetAddress source, InetAddress destination, uint spi)
    {
        var i = IndexOf(source, destination, spi);
        if (i < 0)
        {
            return Errno.ESRCH;
        }

        _entries.RemoveAt(i);
        return Errno.None;
    }

    /// <summary>deleteall: every association of the pair; ESRCH when there was none.</summary>
    public Errno DeleteAll(InetAddress source, InetAddress destination)
    {
        var removed = _entries.RemoveAll(e => e.Source == source && e.Destination == destination);
        return removed == 0 ? Errno.ESRCH : Errno.None;
    }

    /// <summary>SADB_FLUSH.</summary>
    public void Flush() => _entries.Clear();

    /// <summary>
    /// The key for segments from <paramref name="source"/> to <paramref name="destination"/>: the oldest association
    /// of the pair (key_allocsa_tcpmd5 with net.key.preferred_oldsa=1, FreeBSD's default); ports play no part.
    /// </summary>
    public bool TryGetKey(InetAddress source, InetAddress destination, out byte[] key)
    {
        for (var i = 0; i < _entries.Count; i++)
        {
            var e = _entries[i];
            if (e.Source == source && e.Destination == destination)
            {
                key = e.Key;
                return true;
            }
        }

        key = [];
        return false;
    }

    private int IndexOf(InetAddress source, InetAddress destination, uint spi)
    {
        for (var i = 0; i < _entries.Count; i++)
        {
            var e = _entries[i];
            if (e.Spi == spi && e.Source == source && e.Destination == destination)
            {
                return i;
            }
        }

        return -1;
    }
}
