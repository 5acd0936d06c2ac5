using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Sluice.Stack.Buffers;
using Sluice.Stack.Links.Native;
using Sluice.Stack.Time;

namespace Sluice.Stack.Links;

/// <summary>
/// An existing Linux interface used as the wire through a raw AF_PACKET socket bound to it (promiscuous): every frame
/// the interface receives is delivered, and transmitted frames go out of it as they are.
/// </summary>
/// <remarks>
/// Same threading as <see cref="TapLink"/>: a reader thread fills a preallocated ring, the event loop polls the link
/// and delivers to the attached sink; <see cref="Transmit"/> runs on the loop thread. Frames the host itself sends
/// on the interface (including this link's own) are not received. The socket lives in the network namespace of the
/// process that opens it.
/// </remarks>
public sealed unsafe class AfPacketLink : ILink, IEventSource
{
    private readonly SafeFileHandle _fd;
    private readonly EventLoop _loop;
    private readonly FrameReceiver _receiver;
    private readonly int _batch;
    private IPacketSink? _sink;
    private long _transmitted;
    private long _transmitErrors;
    private long _transmitDrops;
    private int _disposed;

    private AfPacketLink(SafeFileHandle fd, string name, int ifindex, EventLoop loop, TapLinkOptions options)
    {
        _fd = fd;
        _loop = loop;
        LinuxName = name;
        InterfaceIndex = ifindex;
        _batch = options.RingSlots;
        _receiver = new FrameReceiver(
            (int)fd.DangerousGetHandle(), loop, FrameReadMode.PacketSocket, options.RingSlots, options.SlotSize, 0, $"af_packet {name}");
        loop.AddSource(this);
    }

    /// <summary>Opens a promiscuous AF_PACKET socket on the Linux interface <paramref name="linuxName"/>.</summary>
    /// <remarks>Call on the loop's thread, or before the loop runs. Needs CAP_NET_RAW.</remarks>
    /// <exception cref="IOException">No such interface, or the socket cannot be opened or bound.</exception>
    public static AfPacketLink Open(string linuxName, EventLoop loop, TapLinkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loop);
        options ??= new TapLinkOptions();
        var ifindex = (int)LibC.IfNameToIndex(linuxName);
        if (ifindex == 0)
        {
            throw LibC.Error($"if_nametoindex {linuxName}", Marshal.GetLastPInvokeError());
        }

        var protocol = LibC.HostToNetwork(LibC.ETH_P_ALL);
        var fd = LibC.Socket(LibC.AF_PACKET, LibC.SOCK_RAW | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, protocol);
        if (fd < 0)
        {
            throw LibC.Error("socket AF_PACKET", Marshal.GetLastPInvokeError());
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var address = new LibC.SockAddrLinkLayer { Family = LibC.AF_PACKET, Protocol = protocol, InterfaceIndex = ifindex };
            if (LibC.Bind(fd, &address, (uint)sizeof(LibC.SockAddrLinkLayer)) < 0)
            {
                throw LibC.Error($"bind AF_PACKET {linuxName}", Marshal.GetLastPInvokeError());
            }

            var membership = new LibC.PacketMembershipRequest { InterfaceIndex = ifindex, Type = LibC.PACKET_MR_PROMISC };
            if (LibC.SetSockOpt(fd, LibC.SOL_PACKET, LibC.PACKET_ADD_MEMBERSHIP, &membership, (uint)sizeof(LibC.PacketMembershipRequest)) < 0)
            {
                throw LibC.Error($"PACKET_ADD_MEMBERSHIP {linuxName}", Marshal.GetLastPInvokeError());
            }

            return new AfPacketLink(handle, linuxName, ifindex, loop, options);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The Linux interface's name.</summary>
    public string LinuxName { get; }

    /// <summary>The Linux interface's index (in the namespace the socket was opened in).</summary>
    public int InterfaceIndex { get; }

    /// <inheritdoc />
    public string Kind => $"af_packet {LinuxName}";

    /// <inheritdoc />
    /// <remarks>Null: the stack picks its own address (the link is promiscuous).</remarks>
    public Wire.MacAddress? HardwareAddress => null;

    /// <inheritdoc />
    public bool IsUp => Volatile.Read(ref _disposed) == 0 && _receiver.IsRunning;

    /// <summary>Frames read from the interface (including those dropped afterwards).</summary>
    public long Received => _receiver.Received;

    /// <summary>Received frames dropped: receive ring full, or no sink attached.</summary>
    public long ReceiveDrops => _receiver.Drops;

    /// <summary>Frames sent.</summary>
    public long Transmitted => Interlocked.Read(ref _transmitted);

    /// <summary>Frames that could not be sent.</summary>
    public long TransmitErrors => Interlocked.Read(ref _transmitErrors);

    /// <summary>The part of <see cref="TransmitErrors"/> caused by a full queue (EAGAIN, ENOBUFS).</summary>
    public long TransmitDrops => Interlocked.Read(ref _transmitDrops);

    /// <inheritdoc />
    public void Attach(IPacketSink? receiver) => _sink = receiver;

    /// <inheritdoc />
    /// <remarks>Loop thread only. Takes ownership of <paramref name="frame"/> and releases it; never throws on I/O errors.</remarks>
    public void Transmit(Packet frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        try
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                Interlocked.Increment(ref _transmitErrors);
                return;
            }

            nint written;
            fixed (byte* bytes = frame.Data)
            {
                // A bound packet socket sends to its interface with write(2); the frame is sent as it is.
                written = LibC.Write(_fd, bytes, (nuint)frame.Length);
            }

            if (written == frame.Length)
            {
                Interlocked.Increment(ref _transmitted);
                return;
            }

            Interlocked.Increment(ref _transmitErrors);
            if (written < 0 && Marshal.GetLastPInvokeError() is LibC.EAGAIN or LibC.ENOBUFS)
            {
                Interlocked.Increment(ref _transmitDrops);
            }
        }
        catch (ObjectDisposedException)
        {
            Interlocked.Increment(ref _transmitErrors);
        }
        finally
        {
            frame.Release();
        }
    }

    /// <inheritdoc />
    public int Poll() => Volatile.Read(ref _disposed) != 0 ? 0 : _receiver.Drain(_sink, _loop.Pool, _batch, 0);

    /// <summary>Stops the reader and closes the socket (promiscuous mode is dropped with it); idempotent, any thread.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _receiver.Stop();
        _fd.Dispose();
        _loop.PostFromAnyThread(static state =>
        {
            var link = (AfPacketLink)state!;
            link._loop.RemoveSource(link);
        }, this);
    }

    /// <inheritdoc />
    public override string ToString() => Kind;
}
