using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Wire;

namespace Sluice.Stack;

public sealed partial class NetStack
{
    /// <summary>Ethernet input (ether_input): demultiplexes by EtherType. Takes ownership.</summary>
    internal void EthernetInput(NetworkInterface ifp, Packet packet)
    {
        if (!EthernetFrame.TryCreate(packet.Data, out var frame))
        {
            ifp.Counters.InputErrors++;
            packet.Release();
            return;
        }

        var destination = frame.Destination;
        if (destination.IsMulticast)
        {
            packet.Flags |= destination.IsBroadcast ? PacketFlags.Broadcast : PacketFlags.Multicast;
            ifp.Counters.InputMulticast++;
        }
        else if (destination != ifp.HardwareAddress)
        {
            // Not for us (only seen in promiscuous mode): ether_input drops it silently.
            packet.Release();
            return;
        }

        if (frame.HasVlanTag)
        {
            // No vlan(4) interface is configured over this one.
            ifp.Counters.InputUnknownProtocol++;
            packet.Release();
            return;
        }

        var type = frame.EtherType;
        packet.TrimFront(frame.HeaderLength);
        switch (type)
        {
            case EtherType.IPv4:
                IPv4Input(ifp, packet);
                break;
            case EtherType.Arp:
                Arp.Input(ifp, packet);
                break;
            case EtherType.IPv6:
                IPv6Input(ifp, packet);
                break;
            default:
                ifp.Counters.InputUnknownProtocol++;
                packet.Release();
                break;
        }
    }

    /// <summary>Prepends an Ethernet header and sends the frame. Takes ownership.</summary>
    internal void EthernetOutput(NetworkInterface ifp, Packet packet, MacAddress destination, EtherType type)
    {
        var header = packet.Prepend(EthernetFrame.HeaderLengthUntagged);
        new EthernetHeader(destination, ifp.HardwareAddress, type).Emit(header);
        ifp.Transmit(packet);
    }
}
