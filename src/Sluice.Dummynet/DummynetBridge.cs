using System.Buffers.Binary;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Links;
using Sluice.Stack.Pfil;
using Sluice.Stack.Time;

namespace Sluice.Dummynet;

/// <summary>
/// A two-port Ethernet bridge through two dummynet pipes: frames from link A go through <c>pipe</c>
/// <see cref="PipeAToB"/> and out of link B, frames from B through <see cref="PipeBToA"/> and out of A — a WAN emulator
/// (what FreeBSD does with a bridge and <c>ipfw pipe</c> on layer 2).
/// </summary>
/// <remarks>
/// IPv4 and IPv6 frames enter the pipe from their IP header (bandwidth counts IP bytes, masks and FQ-CoDel see the
/// flow), other frames (ARP, ...) whole. Runs on the stack's loop, on virtual or real time; takes ownership of every
/// frame its links deliver.
/// </remarks>
public sealed class DummynetBridge : IDummynetClient
{
    private const int EthernetHeader = 14;
    private const uint FromB = 1, Trimmed = 2;
    private readonly ILink _a;
    private readonly ILink _b;

    /// <summary>Bridges <paramref name="a"/> and <paramref name="b"/> through pipes 1 (A→B) and 2 (B→A) of <paramref name="stack"/>'s dummynet.</summary>
    public DummynetBridge(NetStack stack, ILink a, ILink b, int pipeAToB = 1, int pipeBToA = 2)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        Dummynet = DummynetInstance.Of(stack);
        _a = a;
        _b = b;
        PipeAToB = pipeAToB;
        PipeBToA = pipeBToA;
        a.Attach(new Port(this, 0));
        b.Attach(new Port(this, FromB));
    }

    /// <summary>The dummynet the pipes live in.</summary>
    public DummynetInstance Dummynet { get; }

    /// <summary>The pipe for frames from A to B.</summary>
    public int PipeAToB { get; }

    /// <summary>The pipe for frames from B to A.</summary>
    public int PipeBToA { get; }

    /// <summary>Frames received from A.</summary>
    public long FromA { get; private set; }

    /// <summary>Frames received from B.</summary>
    public long FromBCount { get; private set; }

    /// <summary>Frames sent to B after their pipe.</summary>
    public long ToB { get; private set; }

    /// <summary>Frames sent to A after their pipe.</summary>
    public long ToA { get; private set; }

    /// <summary>Configures a pipe with dnctl words (<c>bw 10Mbit/s delay 20ms plr 0.001</c>); false with the error.</summary>
    public bool TryConfigure(int pipe, ReadOnlySpan<string> words, out DnError? error)
    {
        var args = new string[words.Length + 1];
        args[0] = pipe.ToString(System.Globalization.CultureInfo.InvariantCulture);
        words.CopyTo(args.AsSpan(1));
        return Dummynet.TryConfigure(DnObjectKind.Pipe, args, out error);
    }

    private void Input(Packet frame, uint side)
    {
        if (side == FromB)
        {
            FromBCount++;
        }
        else
        {
            FromA++;
        }

        var cookie = side;
        var ipv6 = false;
        if (frame.Length >= EthernetHeader + 20)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(frame.Data[12..]);
            if (type is 0x0800 or 0x86dd)
            {
                ipv6 = type == 0x86dd;
                frame.TrimFront(EthernetHeader);
                cookie |= Trimmed;
            }
        }

        Dummynet.Enqueue(side == FromB ? PipeBToA : PipeAToB, false, frame, new DnPacketInfo(PfilDirection.In, 0, ipv6, cookie), this);
    }

    /// <inheritdoc/>
    public void Reinject(Packet packet, in DnPacketInfo info)
    {
        if ((info.Cookie & Trimmed) != 0)
        {
            // The Ethernet header is still in the headroom in front of the IP header.
            packet.Prepend(EthernetHeader);
        }

        if ((info.Cookie & FromB) != 0)
        {
            ToA++;
            _a.Transmit(packet);
        }
        else
        {
            ToB++;
            _b.Transmit(packet);
        }
    }

    private sealed class Port(DummynetBridge bridge, uint side) : IPacketSink
    {
        public void Deliver(Packet packet) => bridge.Input(packet, side);
    }
}
