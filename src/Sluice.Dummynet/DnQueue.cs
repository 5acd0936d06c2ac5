using Sluice.Stack.Buffers;
using Sluice.Stack.Pfil;

namespace Sluice.Dummynet;

/// <summary>Receives packets leaving a pipe (ipfw, pf): it puts them back where they were taken from.</summary>
public interface IDummynetClient
{
    /// <summary>Continues processing <paramref name="packet"/> after its pipe. Takes ownership.</summary>
    void Reinject(Packet packet, in DnPacketInfo info);
}

/// <summary>Where a packet was taken from the stack, so that it can go back there (FreeBSD's dn_pkt_tag).</summary>
/// <param name="Direction">In or out.</param>
/// <param name="InterfaceIndex">The interface of the hook.</param>
/// <param name="IPv6">True for an inet6 hook.</param>
/// <param name="Cookie">The caller's cookie (ipfw: the rule to continue after).</param>
public readonly record struct DnPacketInfo(PfilDirection Direction, int InterfaceIndex, bool IPv6, uint Cookie);

/// <summary>A queued packet; recycled through the instance's free list so that the packet path does not allocate.</summary>
internal sealed class DnEntry
{
    public Packet? Packet;
    public DnPacketInfo Info;
    public IDummynetClient? Client;
    public long EnqueueTime;
    public long OutputTime;
    public int Length;
    public DnEntry? Next;
}

/// <summary>An intrusive FIFO of entries with FreeBSD's per-queue counters (<c>struct dn_flow</c>).</summary>
internal sealed class DnFlowQueue
{
    private DnEntry? _head;
    private DnEntry? _tail;

    public DnFlowQueue(DnFlowset? flowset, FlowId id)
    {
        Flowset = flowset;
        Id = id;
    }

    public DnFlowset? Flowset { get; }

    public FlowId Id { get; }

    public int Length { get; private set; }

    public long Bytes { get; private set; }

    public long TotalPackets;
    public long TotalBytes;
    public long Drops;

    // Scheduler state (WF2Q+ start/finish tags, DRR deficit, list membership).
    public long S;
    public long F;
    public long Deficit;
    public bool Active;
    public bool IsNew;

    // QFQ class state: next class in the bucket, weight, lmax, 2^30/weight and group (0 weight: not yet seen).
    public DnFlowQueue? QfqNext;
    public int QfqWeight;
    public int QfqLmax;
    public long QfqInvW;
    public int QfqGroup;

    // CoDel (RFC 8289) state.
    public long FirstAboveTime;
    public long DropNext;
    public int Count;
    public int LastCount;
    public bool Dropping;

    // PIE (RFC 8033) state, created with the first packet a PIE queue or FQ-PIE flow sees.
    public PieState? Pie;

    // RED average (scaled by 2^16) and idle start.
    public long RedAverage;
    public long RedCount;
    public long IdleSince;

    public DnEntry? Head => _head;

    public void Enqueue(DnEntry entry)
    {
        entry.Next = null;
        if (_tail is null)
        {
            _head = entry;
        }
        else
        {
            _tail.Next = entry;
        }

        _tail = entry;
        Length++;
        Bytes += entry.Length;
    }

    public DnEntry? Dequeue()
    {
        var e = _head;
        if (e is null)
        {
            return null;
        }

        _head = e.Next;
        if (_head is null)
        {
            _tail = null;
        }

        e.Next = null;
        Length--;
        Bytes -= e.Length;
        return e;
    }
}
