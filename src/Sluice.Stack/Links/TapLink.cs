using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Sluice.Stack.Buffers;
using Sluice.Stack.Links.Native;
using Sluice.Stack.Time;

namespace Sluice.Stack.Links;

/// <summary>Sizing of a <see cref="TapLink"/>'s receive ring.</summary>
public sealed record TapLinkOptions
{
    /// <summary>Frames the reader thread can queue for the event loop before it drops.</summary>
    public int RingSlots { get; init; } = 1024;

    /// <summary>Bytes per slot: the largest frame read whole (longer frames are truncated by the kernel).</summary>
    public int SlotSize { get; init; } = 2048;

    /// <summary>Ring slots when the link is opened with offload (each slot then holds a 64 KiB GSO frame).</summary>
    public int OffloadRingSlots { get; init; } = 256;
}

/// <summary>
/// A Linux TAP device (<c>/dev/net/tun</c>, IFF_TAP | IFF_NO_PI): Ethernet frames between a Sluice interface and
/// the Linux kernel. The Linux device exists while the link is open and vanishes when it is disposed.
/// </summary>
/// <remarks>
/// Threading: a dedicated reader thread blocks in poll/read and queues frames in a preallocated ring; the event loop
/// polls the link (it registers itself as an <see cref="IEventSource"/>), copies each frame into a packet from the
/// loop's pool and delivers it to the attached sink. <see cref="Transmit"/> runs on the loop thread and writes the
/// frame straight to the device. Nothing is allocated per frame besides pooled packets.
/// The Linux side of the device may be moved to another network namespace; the descriptor keeps working.
/// </remarks>
public sealed unsafe class TapLink : ILink, IEventSource
{
    /// <summary>_IOW('T', 202, int).</summary>
    private const uint TunSetIff = 0x400454ca;

    /// <summary>_IOW('T', 208, unsigned int): the offloads (TUN_F_*) the reader accepts from the kernel.</summary>
    private const uint TunSetOffload = 0x400454d0;

    private const short IffTap = 0x0002;
    private const short IffNoPi = 0x1000;
    private const short IffVnetHdr = 0x4000;

    private const uint TunFCsum = 0x01;
    private const uint TunFTso4 = 0x02;
    private const uint TunFTso6 = 0x04;

    /// <summary>Receive slot size with offload: a 64 KiB GSO frame, its Ethernet header and the virtio-net header.</summary>
    private const int OffloadSlotSize = 65536 + 256;

    /// <summary>Largest IP packet handed to Linux as one GSO super-segment.</summary>
    private const int MaxGsoPacket = 65535;

    /// <summary>Length of struct ifreq on 64-bit Linux.</summary>
    private const int IfReqSize = 40;

    /// <summary>IFNAMSIZ: the name field of struct ifreq, NUL included.</summary>
    private const int IfNameSize = 16;

    private readonly SafeFileHandle _fd;
    private readonly EventLoop _loop;
    private readonly FrameReceiver _receiver;
    private readonly int _batch;
    private readonly bool _offload;
    private long _gsoTransmitted;
    private IPacketSink? _sink;
    private long _transmitted;
    private long _transmitErrors;
    private long _transmitDrops;
    private int _disposed;

    private TapLink(SafeFileHandle fd, string name, EventLoop loop, TapLinkOptions options, bool offload)
    {
        _fd = fd;
        _loop = loop;
        _offload = offload;
        LinuxName = name;
        var slots = offload ? options.OffloadRingSlots : options.RingSlots;
        _batch = slots;

        // Bytes in front of every frame on the descriptor: 0 with IFF_NO_PI alone, struct virtio_net_hdr with IFF_VNET_HDR.
        var headerLength = offload ? VirtioNetHeader.Length : 0;
        _receiver = new FrameReceiver(
            (int)fd.DangerousGetHandle(), loop, FrameReadMode.Read, slots, offload ? Math.Max(options.SlotSize, OffloadSlotSize) : options.SlotSize,
            headerLength, $"tap {name}", virtioNet: offload);
        loop.AddSource(this);
    }

    /// <summary>
    /// Creates the Linux TAP device <paramref name="linuxName"/> (at most 15 bytes; "%d" lets the kernel number it)
    /// and attaches it to <paramref name="loop"/>.
    /// </summary>
    /// <remarks>
    /// Call on the loop's thread, or before the loop runs: the link adds itself as a source of the loop.
    /// With <paramref name="offload"/> the device carries a <see cref="VirtioNetHeader"/> on every frame (IFF_VNET_HDR)
    /// and Linux may hand Sluice partial checksums and TCP GSO super-frames of up to 64 KiB (TUNSETOFFLOAD with
    /// TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6): received checksums are completed, super-frames are delivered whole, and
    /// TCP may send super-segments (<see cref="MaxSegmentOffload"/>) that Linux segments.
    /// </remarks>
    /// <exception cref="IOException">The device cannot be opened or created (no /dev/net/tun, not root, name taken).</exception>
    public static TapLink Open(string linuxName, EventLoop loop, TapLinkOptions? options = null, bool offload = false)
    {
        ArgumentNullException.ThrowIfNull(loop);
        options ??= new TapLinkOptions();
        var nameBytes = Encoding.UTF8.GetBytes(linuxName);
        if (nameBytes.Length is 0 or >= IfNameSize || nameBytes.Contains((byte)0))
        {
            throw new ArgumentException($"A Linux interface name has 1 to {IfNameSize - 1} bytes: '{linuxName}'.", nameof(linuxName));
        }

        var fd = LibC.Open("/dev/net/tun", LibC.O_RDWR | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        if (fd < 0)
        {
            throw LibC.Error("open /dev/net/tun", Marshal.GetLastPInvokeError());
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var ifr = stackalloc byte[IfReqSize];
            new Span<byte>(ifr, IfReqSize).Clear();
            nameBytes.CopyTo(new Span<byte>(ifr, IfNameSize));
            *(short*)(ifr + IfNameSize) = (short)(IffTap | IffNoPi | (offload ? IffVnetHdr : 0));
            if (LibC.Ioctl(fd, TunSetIff, ifr) < 0)
            {
                throw LibC.Error($"TUNSETIFF {linuxName}", Marshal.GetLastPInvokeError());
            }

            // TUNSETOFFLOAD takes the flags by value (an unsigned long argument, not a pointer).
            if (offload && LibC.Ioctl(fd, TunSetOffload, (void*)(nuint)(TunFCsum | TunFTso4 | TunFTso6)) < 0)
            {
                throw LibC.Error($"TUNSETOFFLOAD {linuxName}", Marshal.GetLastPInvokeError());
            }

            var actual = Encoding.UTF8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(ifr));
            return new TapLink(handle, actual, loop, options, offload);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The Linux name of the device (as the kernel assigned it).</summary>
    public string LinuxName { get; }

    /// <inheritdoc />
    public string Kind => $"tap {LinuxName}";

    /// <inheritdoc />
    /// <remarks>Always null: Linux's side of the device has its own MAC; the stack picks one for its side.</remarks>
    public Wire.MacAddress? HardwareAddress => null;

    /// <inheritdoc />
    public bool IsUp => Volatile.Read(ref _disposed) == 0 && _receiver.IsRunning;

    /// <summary>Frames read from the device (including those dropped afterwards).</summary>
    public long Received => _receiver.Received;

    /// <summary>Received frames dropped: receive ring full, or no sink attached.</summary>
    public long ReceiveDrops => _receiver.Drops;

    /// <summary>True when the device was opened with IFF_VNET_HDR and checksum/segmentation offload.</summary>
    public bool Offload => _offload;

    /// <inheritdoc />
    /// <remarks>64 KiB with offload (Linux segments TCP super-frames), otherwise 0.</remarks>
    public int MaxSegmentOffload => _offload ? MaxGsoPacket : 0;

    /// <summary>TCP GSO super-frames received from Linux (only with offload).</summary>
    public long GsoFramesReceived => _receiver.GsoFrames;

    /// <summary>Longest frame received (bytes, Ethernet header included): above the MTU only for GSO frames.</summary>
    public int LargestFrameReceived => _receiver.LargestFrame;

    /// <summary>Received frames dropped because their virtio-net header was malformed.</summary>
    public long BadOffloadHeaders => _receiver.BadHeaders;

    /// <summary>TCP super-segments written with a GSO header for Linux to segment.</summary>
    public long GsoFramesTransmitted => Interlocked.Read(ref _gsoTransmitted);

    /// <summary>Frames written to the device.</summary>
    public long Transmitted => Interlocked.Read(ref _transmitted);

    /// <summary>Frames that could not be written (device queue full, device down, link closed).</summary>
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
            var expected = frame.Length;
            if (_offload)
            {
                var vnet = VirtioNetHeader.ForTransmit(frame);
                var header = stackalloc byte[VirtioNetHeader.Length];
                vnet.Write(new Span<byte>(header, VirtioNetHeader.Length));
                expected += VirtioNetHeader.Length;
                fixed (byte* bytes = frame.Data)
                {
                    var iov = stackalloc LibC.IoVec[2];
                    iov[0] = new LibC.IoVec { Base = header, Length = VirtioNetHeader.Length };
                    iov[1] = new LibC.IoVec { Base = bytes, Length = (nuint)frame.Length };
                    written = LibC.Writev(_fd, iov, 2);
                }

                if (written == expected && vnet.GsoType != VirtioNetHeader.GsoNone)
                {
                    Interlocked.Increment(ref _gsoTransmitted);
                }
            }
            else
            {
                fixed (byte* bytes = frame.Data)
                {
                    written = LibC.Write(_fd, bytes, (nuint)frame.Length);
                }
            }

            if (written == expected)
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
            // Closed by Dispose on another thread between the check and the write.
            Interlocked.Increment(ref _transmitErrors);
        }
        finally
        {
            frame.Release();
        }
    }

    /// <inheritdoc />
    /// <remarks>Loop thread: delivers the frames the reader queued to the attached sink.</remarks>
    public int Poll()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return 0;
        }

        return _receiver.Drain(_sink, _loop.Pool, _batch, 0);
    }

    /// <summary>Stops the reader and closes the device (the Linux interface disappears); idempotent, any thread.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _receiver.Stop();
        _fd.Dispose();

        // The source list belongs to the loop's thread; Poll returns 0 from now on until the loop removes it.
        _loop.PostFromAnyThread(static state =>
        {
            var link = (TapLink)state!;
            link._loop.RemoveSource(link);
        }, this);
    }

    /// <inheritdoc />
    public override string ToString() => Kind;
}
