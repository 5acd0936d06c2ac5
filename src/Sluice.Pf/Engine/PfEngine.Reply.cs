using System.Buffers.Binary;
using Sluice.Pf.Config;
using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Wire;

namespace Sluice.Pf.Engine;

/// <summary>Receives pflog records: a 72-byte FreeBSD pfloghdr followed by the packet from its IP header.</summary>
public interface IPflogSink
{
    /// <summary>Called on the event loop for each logged packet; <paramref name="record"/> is only valid during the call.</summary>
    void Write(long timestampNs, ReadOnlySpan<byte> record);
}

/// <summary>Writes pflog records to a DLT_PFLOG (117) pcap stream, as <c>tcpdump -i pflog0 -w FILE</c>.</summary>
public sealed class PflogPcapWriter(Stream stream) : IPflogSink, IDisposable
{
    private readonly PcapWriter _writer = new(stream, LinkType.Pflog, nanosecond: true);

    /// <summary>Flush the stream after every record (tcpdump -U), so that a file nobody closes is still complete.</summary>
    public bool AutoFlush { get; init; }

    /// <inheritdoc/>
    public void Write(long timestampNs, ReadOnlySpan<byte> record)
    {
        _writer.Write(timestampNs, record);
        if (AutoFlush)
        {
            stream.Flush();
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _writer.Dispose();
}

public sealed partial class PfEngine
{
    /// <summary>FreeBSD's PFLOG_HDRLEN (ALIGN4 of PFLOG_REAL_HDRLEN 69).</summary>
    public const int PflogHeaderLength = 72;

    private byte[] _logBuffer = new byte[2048];

    /// <summary>pflog_packet: the FreeBSD pfloghdr (wire-facts §3) plus the packet, to every sink.</summary>
    private void LogPacket(Packet packet, NetworkInterface ifp, bool inbound, PfRuleC rule, PfAction action, PfReason reason, PfRuleC? anchor)
    {
        if (LogSinks.Count == 0)
        {
            return;
        }

        var data = packet.Data;
        var need = PflogHeaderLength + data.Length;
        if (_logBuffer.Length < need)
        {
            _logBuffer = new byte[need];
        }

        var h = _logBuffer.AsSpan(0, need);
        h[..PflogHeaderLength].Clear();
        h[0] = 69;
        h[1] = (byte)((data[0] >> 4) == 6 ? 28 : 2);
        h[2] = action switch { PfAction.Pass => 0, PfAction.Match => 12, _ => 1 }; // PF_PASS, PF_MATCH, PF_DROP
        h[3] = (byte)reason;
        System.Text.Encoding.ASCII.GetBytes(ifp.Name.AsSpan(0, Math.Min(15, ifp.Name.Length)), h[4..20]);
        if (anchor is not null)
        {
            var path = anchor.AnchorPath;
            System.Text.Encoding.ASCII.GetBytes(path.AsSpan(0, Math.Min(15, path.Length)), h[20..36]);
            BinaryPrimitives.WriteUInt32BigEndian(h[36..], (uint)anchor.Number);
            BinaryPrimitives.WriteUInt32BigEndian(h[40..], (uint)rule.Number);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(h[36..], (uint)rule.Number);
            BinaryPrimitives.WriteUInt32BigEndian(h[40..], uint.MaxValue);
        }

        BinaryPrimitives.WriteUInt32BigEndian(h[44..], uint.MaxValue); // uid: no socket lookup
        BinaryPrimitives.WriteUInt32BigEndian(h[48..], 100000); // NO_PID
        BinaryPrimitives.WriteUInt32BigEndian(h[52..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(h[56..], 0);
        h[60] = inbound ? (byte)1 : (byte)2;
        BinaryPrimitives.WriteUInt32BigEndian(h[64..], rule.Ast.Ridentifier);
        data.CopyTo(h[PflogHeaderLength..]);
        foreach (var sink in LogSinks)
        {
            sink.Write(Now, h);
        }
    }

    /// <summary>pf_return: a TCP RST or an ICMP unreachable for a blocked packet, per the rule and <c>set block-policy</c>.</summary>
    private void SendReturn(Packet packet, NetworkInterface ifp, bool inbound, ref PfPacket pd, PfRuleC r)
    {
        var a = r.Ast;
        var policy = a.BlockPolicy;
        if (policy == PfBlockPolicy.Default)
        {
            policy = _blockReturn ? PfBlockPolicy.Return : PfBlockPolicy.Drop;
        }

        if (policy == PfBlockPolicy.Drop || pd.NonFirstFragment)
        {
            return;
        }

        if (pd.Proto == PfPacket.Tcp && policy is PfBlockPolicy.Return or PfBlockPolicy.ReturnRst)
        {
            if ((pd.TcpFlags & 0x04) == 0)
            {
                SendRst(ref pd, a.ReturnTtl);
            }

            return;
        }

        if (policy == PfBlockPolicy.ReturnRst)
        {
            return;
        }

        if (pd.Proto is PfPacket.Icmp or PfPacket.Icmp6 && pd.IcmpError)
        {
            return;
        }

        if (!pd.V6)
        {
            var code = a.ReturnIcmp != 0 ? a.ReturnIcmp : (3 << 8) | 3;
            SendIcmp4(packet, (byte)(code >> 8), (byte)code);
        }
        else
        {
            var code = a.ReturnIcmp6 != 0 ? a.ReturnIcmp6 : (1 << 8) | 4;
            SendIcmp6(packet, (byte)(code >> 8), (byte)code);
        }
    }

    private void SendRst(ref PfPacket pd, int ttl)
    {
        var hl = pd.V6 ? 40 : 20;
        var p = _stack.Pool.Rent(hl + 20);
        var d = p.Data;
        d.Clear();
        uint seq, ack;
        byte flags;
        if ((pd.TcpFlags & 0x10) != 0)
        {
            seq = pd.Ack;
            ack = 0;
            flags = 0x04;
        }
        else
        {
            seq = 0;
            ack = pd.Seq + (uint)pd.PayloadLength + ((pd.TcpFlags & 0x02) != 0 ? 1u : 0) + ((pd.TcpFlags & 0x01) != 0 ? 1u : 0);
            flags = 0x14;
        }

        WriteIpHeader(d, pd.V6, pd.Dst, pd.Src, PfPacket.Tcp, 20, ttl);
        var t = d[hl..];
        BinaryPrimitives.WriteUInt16BigEndian(t, pd.Dport);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], pd.Sport);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], ack);
        t[12] = 5 << 4;
        t[13] = flags;
        var sum = PseudoSum(d, pd.V6, PfPacket.Tcp, 20);
        BinaryPrimitives.WriteUInt16BigEndian(t[16..], Checksum.Fold(Checksum.Add(t[..20], sum)));
        Emit(p, pd.V6);
    }

    private void SendIcmp4(Packet original, byte type, byte code)
    {
        var o = original.Data;
        var ohl = (o[0] & 0xf) * 4;
        var quote = Math.Min(o.Length, ohl + 8);
        var src = BinaryPrimitives.ReadUInt32BigEndian(o[16..]);
        var dst = BinaryPrimitives.ReadUInt32BigEndian(o[12..]);
        if (!_stack.IsLocalAddress(new IPv4Address(src)))
        {
            src = _stack.SourceFor(new IPv4Address(dst))?.Value ?? src;
        }

        var p = _stack.Pool.Rent(20 + 8 + quote);
        var d = p.Data;
        d.Clear();
        WriteIpHeader(d, false, src, dst, PfPacket.Icmp, 8 + quote, 0);
        var m = d[20..];
        m[0] = type;
        m[1] = code;
        o[..quote].CopyTo(m[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(m[2..], Checksum.Compute(m));
        Emit(p, false);
    }

    private void SendIcmp6(Packet original, byte type, byte code)
    {
        var o = original.Data;
        var quote = Math.Min(o.Length, 1280 - 48);
        var src = BinaryPrimitives.ReadUInt128BigEndian(o[24..]);
        var dst = BinaryPrimitives.ReadUInt128BigEndian(o[8..]);
        if (!_stack.IsLocalAddress(ToV6(src)))
        {
            src = _stack.SourceFor(ToV6(dst)) is { } s ? FromV6(s) : src;
        }

        var p = _stack.Pool.Rent(40 + 8 + quote);
        var d = p.Data;
        d.Clear();
        WriteIpHeader(d, true, src, dst, PfPacket.Icmp6, 8 + quote, 0);
        var m = d[40..];
        m[0] = type;
        m[1] = code;
        o[..quote].CopyTo(m[8..]);
        var sum = PseudoSum(d, true, PfPacket.Icmp6, m.Length);
        BinaryPrimitives.WriteUInt16BigEndian(m[2..], Checksum.Fold(Checksum.Add(m, sum)));
        Emit(p, true);
    }

    private static uint PseudoSum(ReadOnlySpan<byte> ip, bool v6, byte proto, int length) =>
        v6 ? Checksum.Add(ip.Slice(8, 32)) + (uint)length + proto : Checksum.Add(ip.Slice(12, 8)) + (uint)length + proto;

    private static void WriteIpHeader(Span<byte> d, bool v6, UInt128 src, UInt128 dst, byte proto, int payload, int ttl)
    {
        if (!v6)
        {
            d[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)(20 + payload));
            d[8] = (byte)(ttl > 0 ? ttl : 64);
            d[9] = proto;
            BinaryPrimitives.WriteUInt32BigEndian(d[12..], (uint)src);
            BinaryPrimitives.WriteUInt32BigEndian(d[16..], (uint)dst);
            PfRewrite.RecomputeIPv4Header(d);
        }
        else
        {
            d[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(d[4..], (ushort)payload);
            d[6] = proto;
            d[7] = (byte)(ttl > 0 ? ttl : 64);
            BinaryPrimitives.WriteUInt128BigEndian(d[8..], src);
            BinaryPrimitives.WriteUInt128BigEndian(d[24..], dst);
        }
    }

    private void Emit(Packet p, bool v6)
    {
        p.PfTag = GeneratedTag;
        if (v6)
        {
            _stack.OutputIPv6Raw(p);
        }
        else
        {
            _stack.OutputIPv4Raw(p);
        }
    }
}
