using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Tcp;

/// <summary>
/// Urgent data (RFC 9293 §3.8.5, RFC 6093) as BSD does it, between two stacks on virtual time: send(MSG_OOB), the URG
/// flag and pointer, the out-of-band byte, the mark and SO_OOBINLINE; and getsockname after connect.
/// </summary>
public sealed class TcpUrgentTests
{
    private static readonly byte[] Before = "hello, "u8.ToArray();
    private static readonly byte[] After = "world"u8.ToArray();

    /// <summary>Sends "hello, " normally, then "X" with MSG_OOB, then "world"; returns the frames' URG pointers seen on the client's link.</summary>
    private static (TcpPair Net, TcpSocket Client, TcpSocket Server, List<(uint Seq, int Len, ushort Urp)> Urgent, int UrgentEvents) SendUrgent(string block, bool inline)
    {
        var net = new TcpPair(block);
        var listener = net.Listen();
        if (inline)
        {
            Assert.Equal(Errno.None, listener.SetOption(TcpSocketOption.SO_OOBINLINE, 1)); // accepted sockets inherit it
        }

        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        var urgent = new List<(uint, int, ushort)>();
        net.ClientLink.Drop = f =>
        {
            if (ImpairedLink.TryTcp(f, out var h, out var len) && (h.Flags & TcpFlags.Urg) != 0)
            {
                urgent.Add((h.SequenceNumber, len, h.UrgentPointer));
            }

            return false;
        };
        var events = 0;
        s.Urgent = _ => events++;
        Assert.Equal(Errno.None, c.Send(Before, out var n1));
        Assert.Equal(Before.Length, n1);
        Assert.Equal(Errno.None, c.Send("X"u8, TcpMessageFlags.OutOfBand, out var n2));
        Assert.Equal(1, n2);
        Assert.Equal(Errno.None, c.Send(After, out var n3));
        Assert.Equal(After.Length, n3);
        Assert.True(net.Loop.RunUntil(() => c.ControlBlock!.SndUna == c.ControlBlock.SndMax, 10 * Nanos.PerSecond));
        return (net, c, s, urgent, events);
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void UrgentByteLeavesTheStreamAndIsReadWithMsgOob(string block)
    {
        var (_, c, s, urgent, events) = SendUrgent(block, inline: false);

        // The urgent segment carries URG with BSD's pointer: one past the urgent byte, relative to SEG.SEQ.
        var iss = c.ControlBlock!.Iss;
        var (seq, len, urp) = Assert.Single(urgent);
        Assert.Equal(iss + 1 + (uint)Before.Length, seq);
        Assert.Equal(1, len);
        Assert.Equal(1, urp);
        Assert.Equal(1, events);

        // A read stops at the mark; then the socket is at the mark, and MSG_OOB returns the byte once.
        var buffer = new byte[64];
        Assert.Equal(Errno.None, s.Receive(buffer, TcpMessageFlags.Peek, out var ahead));
        Assert.Equal(Before, buffer[..ahead]); // even a peek stops at the mark
        Assert.Equal(Errno.None, s.Receive(buffer, out var first));
        Assert.Equal(Before, buffer[..first]);
        Assert.True(s.AtMark);
        Assert.Equal(Errno.None, s.Receive(buffer, TcpMessageFlags.OutOfBand | TcpMessageFlags.Peek, out var peeked));
        Assert.Equal(1, peeked);
        Assert.Equal((byte)'X', buffer[0]);
        Assert.Equal(Errno.None, s.Receive(buffer, TcpMessageFlags.OutOfBand, out var oob));
        Assert.Equal(1, oob);
        Assert.Equal((byte)'X', buffer[0]);
        Assert.Equal(Errno.EINVAL, s.Receive(buffer, TcpMessageFlags.OutOfBand, out _));
        Assert.Equal(Errno.None, s.Receive(buffer, out var rest));
        Assert.Equal(After, buffer[..rest]);
        Assert.False(s.AtMark);
        Assert.Equal(Errno.EAGAIN, s.Receive(buffer, out _));
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void ReadsStopAtTheMarkAndTheStreamKeepsItsOrder(string block)
    {
        var (_, _, s, _, _) = SendUrgent(block, inline: false);
        var buffer = new byte[64];
        Assert.False(s.AtMark);
        Assert.Equal(Errno.None, s.Receive(buffer, out var first));
        Assert.Equal(Before, buffer[..first]);
        Assert.True(s.AtMark);
        Assert.Equal(Errno.None, s.Receive(buffer, out var second));
        Assert.Equal(After, buffer[..second]); // the urgent byte is not in the stream
        Assert.False(s.AtMark);

        // tcp_usr_rcvoob: with no mark ahead and the socket past it, the byte is no longer offered.
        Assert.Equal(Errno.EINVAL, s.Receive(buffer, TcpMessageFlags.OutOfBand, out _));
    }

    [Theory]
    [InlineData("freebsd")]
    [InlineData("rack")]
    public void OobInlineKeepsTheUrgentByteInTheStreamAtTheMark(string block)
    {
        var (_, _, s, _, events) = SendUrgent(block, inline: true);
        Assert.Equal(1, events);
        Assert.Equal(1, s.GetOption(TcpSocketOption.SO_OOBINLINE, out var v) == Errno.None ? v : -1);
        var buffer = new byte[64];
        Assert.Equal(Errno.EINVAL, s.Receive(buffer, TcpMessageFlags.OutOfBand, out _));
        Assert.Equal(Errno.None, s.Receive(buffer, out var first));
        Assert.Equal(Before, buffer[..first]);
        Assert.True(s.AtMark); // the next byte is the urgent one
        Assert.Equal(Errno.None, s.Receive(buffer, out var second));
        Assert.Equal("Xworld"u8.ToArray(), buffer[..second]);
    }

    [Fact]
    public void MsgOobWithoutUrgentDataIsEinvalAndAfterTheConnectionIsGoneEconnreset()
    {
        var net = new TcpPair();
        var listener = net.Listen();
        var (c, s) = net.Establish(listener);
        var buffer = new byte[8];
        Assert.Equal(Errno.EINVAL, s.Receive(buffer, TcpMessageFlags.OutOfBand, out _));
        Assert.Equal(Errno.EINVAL, listener.Receive(buffer, TcpMessageFlags.OutOfBand, out _));
        c.Abort();
        Assert.True(net.Loop.RunUntil(() => s.State == TcpState.Closed, Nanos.PerSecond));
        Assert.Equal(Errno.ECONNRESET, s.Receive(buffer, TcpMessageFlags.OutOfBand, out _));
    }

    [Fact]
    public void UrgentPointerAheadOfTheDataMarksTheStreamBeforeTheByteArrives()
    {
        // The receiver's window is closed: the urgent data cannot be sent, the pointer still reaches the peer (on the
        // one-byte forced segment and a segment sent for the pointer alone), and the byte is read once it arrives.
        var net = new TcpPair();
        var listener = net.Listen();
        Assert.Equal(Errno.None, listener.SetOption(TcpSocketOption.SO_RCVBUF, 4096));
        var (c, s) = net.Establish(listener, x => x.SetOption(TcpSocketOption.TCP_NODELAY, 1));
        var fill = TcpPair.Pattern(s.ReceiveBufferSize, 5); // tcp_mss rounded the buffer up to whole segments
        Assert.Equal(Errno.None, c.Send(fill, out var filled));
        Assert.Equal(fill.Length, filled);
        Assert.True(net.Loop.RunUntil(() => c.ControlBlock!.SndUna == c.ControlBlock.SndMax && c.ControlBlock.SndWnd == 0, 10 * Nanos.PerSecond));
        var events = 0;
        s.Urgent = _ => events++;
        var urgOnlyBefore = net.Client.Tcp.Statistics.tcps_sndurg;
        Assert.Equal(Errno.None, c.Send("abcU"u8, TcpMessageFlags.OutOfBand, out _));
        Assert.True(net.Loop.RunUntil(() => events > 0, 30 * Nanos.PerSecond));
        var buffer = new byte[8];
        Assert.Equal(Errno.EAGAIN, s.Receive(buffer, TcpMessageFlags.OutOfBand, out _)); // mark known, byte not here yet

        var got = new MemoryStream();
        var big = new byte[8192];
        while (s.Receive(big, out var n) == Errno.None && n > 0)
        {
            got.Write(big, 0, n);
        }

        Assert.True(net.Loop.RunUntil(() =>
        {
            while (s.Receive(big, out var n) == Errno.None && n > 0)
            {
                got.Write(big, 0, n);
            }

            return got.Length >= fill.Length + 3;
        }, 120 * Nanos.PerSecond));
        Assert.Equal([.. fill, .. "abc"u8.ToArray()], got.ToArray());
        Assert.Equal(Errno.None, s.Receive(buffer, TcpMessageFlags.OutOfBand, out var oob));
        Assert.Equal((1, (byte)'U'), (oob, buffer[0]));
        Assert.True(net.Client.Tcp.Statistics.tcps_sndurg > urgOnlyBefore, "a segment went out for the urgent pointer alone");
        Assert.True(net.Loop.RunUntil(() => c.ControlBlock!.SndUna == c.ControlBlock.SndMax, 30 * Nanos.PerSecond));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LocalEndpointShowsTheChosenSourceAddressAfterConnect(bool ipv6)
    {
        var net = new TcpPair();
        var listener = net.Server.OpenTcp(ipv6);
        Assert.Equal(Errno.None, listener.Bind(ipv6 ? IPv6Address.Any : IPv4Address.Any, 80));
        Assert.Equal(Errno.None, listener.Listen(4));
        var c = net.Client.OpenTcp(ipv6);
        Assert.True(c.LocalEndpoint.Address.IsUnspecified);
        InetAddress server = ipv6 ? TcpPair.ServerAddress6 : TcpPair.ServerAddress;
        InetAddress client = ipv6 ? TcpPair.ClientAddress6 : TcpPair.ClientAddress;
        Assert.Equal(Errno.EINPROGRESS, c.Connect(new InetEndpoint(server, 80)));

        // getsockname(2) after connect: the source address the stack chose, and the ephemeral port.
        Assert.Equal(client, c.LocalEndpoint.Address);
        Assert.NotEqual(0, c.LocalEndpoint.Port);
        Assert.Equal(c.ControlBlock!.LocalEndpoint, c.LocalEndpoint);
        TcpSocket? s = null;
        Assert.True(net.Loop.RunUntil(() => c.State == TcpState.Established && listener.TryAccept(out s) == Errno.None, 10 * Nanos.PerSecond));
        Assert.Equal(c.LocalEndpoint, s!.RemoteEndpoint);
        Assert.Equal(new InetEndpoint(server, 80), s.LocalEndpoint);

        // The port stays bound to the connection: a second wildcard bind of it fails.
        var other = net.Client.OpenTcp(ipv6);
        Assert.Equal(Errno.EADDRINUSE, other.Bind(ipv6 ? IPv6Address.Any : IPv4Address.Any, c.LocalEndpoint.Port));
    }
}
