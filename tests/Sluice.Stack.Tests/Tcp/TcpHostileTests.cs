using CsCheck;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Tcp;

public sealed class TcpHostileTests
{
    /// <summary>A forged segment aimed at the client's established connection.</summary>
    private sealed record Forged(int Kind, uint SeqOffset, uint Ack, ushort Flags, byte DataOffsetWords, byte[] Options, byte[] Payload, bool BadChecksum);

    private static readonly Gen<Forged> Segments =
        Gen.Select(Gen.Int[0, 3], Gen.UInt, Gen.UInt, Gen.UShort[0, 0x1ff], Gen.Byte[0, 15], Gen.Byte.Array[0, 40], Gen.Byte.Array[0, 120], Gen.Bool)
            .Select((k, so, ack, fl, doff, opt, pay, bad) => new Forged(k, so, ack, fl, doff, opt, pay, bad));

    private static void Inject(TcpPair net, TcpSocket victim, Forged f)
    {
        var tcb = victim.ControlBlock!;
        // Out of window by construction: above rcv_nxt + buffer, or at least a window below rcv_nxt (old duplicates).
        var window = (uint)tcb.RecvBuffer.Capacity;
        var seq = f.Kind switch
        {
            0 => tcb.RcvNxt + window + 1 + (f.SeqOffset % 0x3fff_0000u),
            1 => tcb.RcvNxt - window - 1 - (f.SeqOffset % 0x3fff_0000u),
            2 => tcb.RcvNxt + 1 + (f.SeqOffset % Math.Max(window - 1, 1)), // in window: only forged RSTs/SYNs (must be challenged)
            _ => tcb.RcvNxt + window + (f.SeqOffset % 1000),
        };
        var flags = (TcpFlags)f.Flags;
        if (f.Kind == 2)
        {
            flags = (f.Flags & 1) == 0 ? TcpFlags.Rst : TcpFlags.Syn; // forged in-window RST or SYN, wrong sequence
        }

        var optionLength = Math.Min(f.Options.Length / 4 * 4, 40);
        var tcpLength = 20 + optionLength + (f.Kind == 2 ? 0 : f.Payload.Length);
        var packet = net.Loop.Pool.Rent(20 + tcpLength);
        var span = packet.Data;
        new IPv4Header(TcpPair.ServerAddress, TcpPair.ClientAddress, IPProtocol.Tcp, tcpLength).Emit(span);
        var tcp = span[20..];
        new TcpHeader(tcb.RemoteEndpoint.Port, tcb.LocalEndpoint.Port, seq, f.Ack, flags, 65535).Emit(tcp, optionLength);
        f.Options.AsSpan(0, optionLength).CopyTo(tcp[20..]);
        if (f.Kind != 2)
        {
            f.Payload.CopyTo(tcp[(20 + optionLength)..]);
        }

        if (f.DataOffsetWords != 0 && f.Kind == 3)
        {
            tcp[12] = (byte)((f.DataOffsetWords << 4) | (tcp[12] & 0x0f)); // arbitrary (often bad) data offset
        }

        TcpPacket.CreateUnchecked(tcp).FillChecksumV4(TcpPair.ServerAddress, TcpPair.ClientAddress);
        if (f.BadChecksum)
        {
            tcp[16] ^= 0x5a;
        }

        var ifp = net.Client.FindInterface("epair0a")!;
        net.Client.Tcp.Input(ifp, packet, 20, ipv6: false);
    }

    [Fact]
    public void ForgedAndMutatedSegmentsNeverThrowNorCorruptTheStream()
    {
        var runs = 0;
        Gen.Select(Segments.List[1, 40], Gen.Int[0, 1]).Sample((noise, blockIndex) =>
        {
            var block = blockIndex == 0 ? "freebsd" : "rack";
            var net = new TcpPair(block, oneWayDelayNs: Nanos.FromMilliseconds(1));
            var listener = net.Listen();
            var (c, s) = net.Establish(listener);
            var first = TcpPair.Pattern(5000, 3);
            Assert.Equal(first, net.Transfer(s, c, first, close: false));
            foreach (var f in noise)
            {
                Inject(net, c, f);
            }

            net.Loop.RunFor(Nanos.FromMilliseconds(5));
            Assert.Equal(TcpState.Established, c.State);
            var data = TcpPair.Pattern(64 * 1024, noise.Count);
            Assert.True(data.AsSpan().SequenceEqual(net.Transfer(s, c, data)));
            var back = TcpPair.Pattern(10_000, 9);
            Assert.True(back.AsSpan().SequenceEqual(net.Transfer(c, s, back)));
            runs++;
        }, iter: 150, threads: 1, seed: "0N0XIzNsQ0O2");
        Assert.Equal(150, runs);
    }

    [Fact]
    public void ForgedResetWithWrongSequenceGetsAChallengeAckAndIsIgnored()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        var (c, _) = net.Establish(listener);
        var before = net.Client.Tcp.Statistics.tcps_challenge_ack;
        Inject(net, c, new Forged(2, 100, 0, 0, 0, [], [], false));
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(before + 1, net.Client.Tcp.Statistics.tcps_challenge_ack);
        Assert.Equal(1, net.Client.Tcp.Statistics.tcps_badrst);
    }

    [Fact]
    public void BadChecksumAndBadOffsetAreCounted()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        var (c, _) = net.Establish(listener);
        Inject(net, c, new Forged(0, 5, 0, 0x10, 0, [], [1, 2, 3], true));
        Assert.Equal(1, net.Client.Tcp.Statistics.tcps_rcvbadsum);
        Inject(net, c, new Forged(3, 5, 0, 0x10, 15, [], [1, 2, 3], false));
        Assert.Equal(1, net.Client.Tcp.Statistics.tcps_rcvbadoff);
    }
}
