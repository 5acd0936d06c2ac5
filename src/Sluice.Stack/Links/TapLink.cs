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

    private const short IffTap = 0x0002;
    private const short IffNoPi = 0x1000;

    /// <summary>Length of struct ifreq on 64-bit Linux.</summary>
    private const int IfReqSize = 40;

    /// <summary>IFNAMSIZ: the name field of struct ifreq, NUL included.</summary>
    private const int IfNameSize = 16;

    /// <summary>
    /// Bytes in front of every frame read from or written to the descriptor. 0 with IFF_NO_PI; once the link opens
    /// with IFF_VNET_HDR this becomes sizeof(struct virtio_net_hdr_v1) and the receive path turns the header into
    /// packet flags (checksum offload, GSO) while <see cref="Transmit"/> prepends it.
    /// </summary>
    private const int LinkHeaderLength = 0;

    private readonly SafeFileHandle _fd;
    private readonly EventLoop _loop;
    private readonly FrameReceiver _receiver;
    private readonly int _batch;
    private IPacketSink? _sink;
    private long _transmitted;
    private long _transmitErrors;
    private long _transmitDrops;
    private int _disposed;

    private TapLink(SafeFileHandle fd, string name, EventLoop loop, TapLinkOptions options)
    {
        _fd = fd;
        _loop = loop;
        LinuxName = name;
        _batch = options.RingSlots;
        _receiver = new FrameReceiver(
            (int)fd.DangerousGetHandle(), loop, FrameReadMode.Read, options.RingSlots, options.SlotSize, LinkHeaderLength, $"tap {name}");
        loop.AddSource(this);
    }

    /// <summary>
    /// Creates the Linux TAP device <paramref name="linuxName"/> (at most 15 bytes; "%d" lets the kernel number it)
    /// and attaches it to <paramref name="loop"/>.
    /// </summary>
    /// <remarks>Call on the loop's thread, or before the loop runs: the link adds itself as a source of the loop.</remarks>
    /// <exception cref="IOException">The device cannot be opened or created (no /dev/net/tun, not root, name taken).</exception>
    public static TapLink Open(string linuxName, EventLoop loop, TapLinkOptions? options = null)
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
            *(short*)(ifr + IfNameSize) = IffTap | IffNoPi;
            if (LibC.Ioctl(fd, TunSetIff, ifr) < 0)
            {
                throw LibC.Error($"TUNSETIFF {linuxName}", Marshal.GetLastPInvokeError());
            }

            var actual = Encoding.UTF8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(ifr));
            return new TapLink(handle, actual, loop, options);
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
            fixed (byte* bytes = frame.Data)
            {
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
