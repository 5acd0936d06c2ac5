using Sluice.Stack.Interfaces;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack.Links;

/// <summary>File format written by <see cref="PcapCapture"/>.</summary>
public enum CaptureFormat
{
    /// <summary>Classic pcap with nanosecond timestamps.</summary>
    Pcap,
    /// <summary>pcapng: one IDB per attached interface (if_name, if_tsresol 9) and epb_flags direction bits.</summary>
    PcapNg,
}

/// <summary>Which frames a capture keeps, as tcpdump's <c>-Q</c>.</summary>
public enum CaptureDirection
{
    /// <summary>Both directions (<c>inout</c>).</summary>
    InOut,
    /// <summary>Received frames only (<c>in</c>).</summary>
    In,
    /// <summary>Sent frames only (<c>out</c>).</summary>
    Out,
}

/// <summary>A BPF-style tap that writes every Ethernet frame an interface sends or receives to a pcap or pcapng stream (<c>tcpdump -w</c>).</summary>
/// <remarks>
/// Timestamps are the clock's <see cref="IClock.Now"/> plus <see cref="TimestampOffsetNanoseconds"/>: on a virtual
/// clock a lab's capture is the same file on every run. Frames are written synchronously on the event loop thread
/// and are not allocated per frame. The caller owns the stream; <see cref="Dispose"/> detaches and flushes but does
/// not close it.
/// </remarks>
public sealed class PcapCapture : IFrameTap, IDisposable
{
    private readonly IClock _clock;
    private readonly PcapWriter? _pcap;
    private readonly PcapNgWriter? _pcapng;
    private readonly Dictionary<string, int> _interfaceIds = new(StringComparer.Ordinal);
    private NetworkInterface? _attached;
    private int _interfaceId;

    /// <summary>Writes the file header; records follow once the capture is attached.</summary>
    public PcapCapture(Stream output, IClock clock, CaptureFormat format = CaptureFormat.Pcap, int snapLength = 262144)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(snapLength);
        _clock = clock;
        Format = format;
        SnapLength = snapLength;
        if (format == CaptureFormat.PcapNg)
        {
            _pcapng = new PcapNgWriter(output);
        }
        else
        {
            _pcap = new PcapWriter(output, LinkType.Ethernet, snapLength, nanosecond: true);
        }
    }

    /// <summary>The file format.</summary>
    public CaptureFormat Format { get; }

    /// <summary>Longest frame prefix kept; the record still carries the original length.</summary>
    public int SnapLength { get; }

    /// <summary>Which directions are written (tcpdump <c>-Q</c>); frames of the other direction are not counted.</summary>
    public CaptureDirection Direction { get; set; } = CaptureDirection.InOut;

    /// <summary>Added to the clock's time (e.g. the Unix time at which a real-time clock started).</summary>
    public long TimestampOffsetNanoseconds { get; set; }

    /// <summary>Frames written.</summary>
    public long Packets { get; private set; }

    /// <summary>The interface the capture is attached to, if any.</summary>
    public NetworkInterface? Interface => _attached;

    /// <summary>Parses tcpdump's <c>-Q</c> argument: <c>in</c>, <c>out</c> or <c>inout</c>.</summary>
    public static bool TryParseDirection(string text, out CaptureDirection direction)
    {
        switch (text)
        {
            case "in":
                direction = CaptureDirection.In;
                return true;
            case "out":
                direction = CaptureDirection.Out;
                return true;
            case "inout":
                direction = CaptureDirection.InOut;
                return true;
            default:
                direction = CaptureDirection.InOut;
                return false;
        }
    }

    /// <summary>Starts capturing on <paramref name="ifp"/>.</summary>
    /// <remarks>Call on the interface's event loop thread. A capture is attached to one interface at a time.</remarks>
    public void Attach(NetworkInterface ifp)
    {
        ArgumentNullException.ThrowIfNull(ifp);
        if (_attached is not null)
        {
            throw new InvalidOperationException($"capture already attached to {_attached.Name}");
        }

        if (_pcapng is not null && !_interfaceIds.TryGetValue(ifp.Name, out _interfaceId))
        {
            _interfaceId = _pcapng.AddInterface(LinkType.Ethernet, ifp.Name, SnapLength, tsResolution: 9);
            _interfaceIds.Add(ifp.Name, _interfaceId);
        }

        _attached = ifp;
        ifp.AddTap(this);
    }

    /// <summary>Stops capturing; false when not attached.</summary>
    public bool Detach()
    {
        if (_attached is null)
        {
            return false;
        }

        _attached.RemoveTap(this);
        _attached = null;
        return true;
    }

    /// <inheritdoc />
    public void OnFrame(NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound)
    {
        if ((Direction == CaptureDirection.In && outbound) || (Direction == CaptureDirection.Out && !outbound))
        {
            return;
        }

        long now = _clock.Now + TimestampOffsetNanoseconds;
        if (_pcapng is not null)
        {
            _pcapng.Write(_interfaceId, now, frame, frame.Length, outbound);
        }
        else
        {
            _pcap!.Write(now, frame);
        }

        Packets++;
    }

    /// <summary>Detaches and flushes the output.</summary>
    public void Dispose()
    {
        Detach();
        _pcap?.Dispose();
        _pcapng?.Dispose();
    }
}
