using System.Security.Cryptography;
using Sluice.Stack.Sockets;
using Sluice.Wire;

namespace Sluice.Stack.Tcp;

public sealed partial class TcpStack
{
    private IncrementalHash? _md5;

    /// <summary>This VNET's tcp-md5 keys (the SAD entries <c>setkey</c> adds with <c>-A tcp-md5</c>).</summary>
    public TcpMd5KeyDatabase Md5Keys { get; } = new();

#pragma warning disable CA5351 // RFC 2385 defines the signature as MD5; it is the protocol, not our choice.
    private IncrementalHash Md5 => _md5 ??= IncrementalHash.CreateHash(HashAlgorithmName.MD5);
#pragma warning restore CA5351

    /// <summary>
    /// tcp_ipsec_input: checks the signature of a segment from <paramref name="source"/> to <paramref name="destination"/>
    /// for a socket with TCP_MD5SIG, counting the outcome in the tcps_sig_* counters.
    /// </summary>
    /// <returns>True when the segment carries a digest that matches the SA's key; false means drop it silently.</returns>
    internal bool VerifySignature(ReadOnlySpan<byte> segment, InetAddress source, InetAddress destination)
    {
        if (!TcpMd5Signature.TryFindDigest(segment, out var offset))
        {
            Statistics.tcps_sig_err_nosigopt++;
            return false;
        }

        if (!Md5Keys.TryGetKey(source, destination, out var key))
        {
            Statistics.tcps_sig_err_buildsig++; // no SA for the pair
            return false;
        }

        Span<byte> digest = stackalloc byte[TcpMd5Signature.DigestLength];
        var ok = source.IsIPv6
            ? TcpMd5Signature.TryComputeV6(Md5, segment, source.V6, destination.V6, key, digest)
            : TcpMd5Signature.TryComputeV4(Md5, segment, source.V4, destination.V4, key, digest);
        if (!ok || !CryptographicOperations.FixedTimeEquals(digest, segment.Slice(offset, TcpMd5Signature.DigestLength)))
        {
            Statistics.tcps_sig_rcvbadsig++;
            return false;
        }

        Statistics.tcps_sig_rcvgoodsig++;
        return true;
    }

    /// <summary>
    /// tcp_ipsec_output: writes the digest of <paramref name="segment"/> (checksum not yet filled) at
    /// <paramref name="digestOffset"/>; false (and tcps_sig_err_buildsig) when the SAD has no key for the pair.
    /// </summary>
    internal bool Sign(Span<byte> segment, int digestOffset, InetAddress local, InetAddress remote)
    {
        if (!Md5Keys.TryGetKey(local, remote, out var key))
        {
            Statistics.tcps_sig_err_buildsig++;
            return false;
        }

        var digest = segment.Slice(digestOffset, TcpMd5Signature.DigestLength);
        digest.Clear();
        return remote.IsIPv6
            ? TcpMd5Signature.TryComputeV6(Md5, segment, local.V6, remote.V6, key, digest)
            : TcpMd5Signature.TryComputeV4(Md5, segment, local.V4, remote.V4, key, digest);
    }
}
