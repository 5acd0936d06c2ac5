using Sluice.Stack.Buffers;
using Sluice.Stack.Time;

namespace Sluice.Stack.Links;

/// <summary>
/// The wire under an interface: carries Ethernet frames between an interface and something else (the other end of
/// an epair, a Linux TAP device, a pcap file).
/// </summary>
/// <remarks>
/// Received frames are delivered to the attached <see cref="IPacketSink"/> on the event loop's thread, one frame
/// per packet, starting at the Ethernet header. <see cref="Transmit"/> is called on the loop's thread and takes
/// ownership of the frame.
/// </remarks>
public interface ILink : IDisposable
{
    /// <summary>A short description (e.g. "epair", "tap sl0").</summary>
    string Kind { get; }

    /// <summary>Hardware address the interface should use, when the link dictates one (null: the stack chooses).</summary>
    Wire.MacAddress? HardwareAddress { get; }

    /// <summary>True when frames can pass (carrier present).</summary>
    bool IsUp { get; }

    /// <summary>
    /// Largest IP packet the link takes as one TCP super-segment that it (or the host behind it) cuts into MSS-sized
    /// segments (TSO/GSO, <see cref="Packet.GsoSize"/>); 0 when the link does no segmentation offload.
    /// </summary>
    int MaxSegmentOffload => 0;

    /// <summary>Sets who receives frames from the wire; null detaches (frames are then dropped and counted).</summary>
    void Attach(IPacketSink? receiver);

    /// <summary>Sends <paramref name="frame"/> onto the wire; takes ownership.</summary>
    void Transmit(Packet frame);
}
