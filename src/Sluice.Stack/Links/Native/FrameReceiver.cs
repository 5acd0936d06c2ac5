using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sluice.Stack.Buffers;
using Sluice.Stack.Time;

namespace Sluice.Stack.Links.Native;

/// <summary>How the reader thread takes a frame off a descriptor.</summary>
internal enum FrameReadMode
{
    /// <summary>read(2): one frame per call (TAP).</summary>
    Read,

    /// <summary>recvfrom(2) with a sockaddr_ll, skipping frames the host itself sent (AF_PACKET).</summary>
    PacketSocket,
}

/// <summary>
/// A reader thread that blocks in poll/read on a non-blocking descriptor and fills a preallocated
/// single-producer/single-consumer ring of fixed-size slots, which the event loop drains.
/// </summary>
/// <remarks>
/// Threading: the reader thread is the only producer (it writes slots and publishes <c>_head</c>); the loop thread is
/// the only consumer (<see cref="Drain"/> reads slots and publishes <c>_tail</c>). No locks; nothing is allocated per
/// frame. <see cref="Stop"/> may be called from any thread; it wakes the reader through an eventfd and joins it.
/// The descriptor is owned by the caller and must stay open until <see cref="Stop"/> returns.
/// </remarks>
internal sealed unsafe class FrameReceiver
{
    private const int ReadBatch = 64;

    private readonly int _fd;
    private readonly int _stopFd;
    private readonly EventLoop _loop;
    private readonly FrameReadMode _mode;
    private readonly byte[] _slots;
    private readonly byte* _base;
    private readonly int[] _lengths;
    private readonly int _slotCount;
    private readonly int _slotSize;
    private readonly int _headerLength;
    private readonly bool _virtioNet;
    private readonly Thread _thread;

    // Producer-owned (reader thread); read by the consumer with Volatile.Read.
    private long _head;

    // Consumer-owned (loop thread); read by the producer with Volatile.Read.
    private long _tail;

    private long _received;
    private long _drops;
    private long _gsoFrames;
    private long _badHeaders;
    private int _largestFrame;
    private int _stopped;

    /// <summary>
    /// Starts a reader on <paramref name="fd"/>. <paramref name="headerLength"/> bytes in front of each frame are
    /// stripped before delivery; with <paramref name="virtioNet"/> they are a <see cref="VirtioNetHeader"/> whose
    /// checksum and GSO fields are applied to the packet.
    /// </summary>
    public FrameReceiver(int fd, EventLoop loop, FrameReadMode mode, int slotCount, int slotSize, int headerLength, string threadName, bool virtioNet = false)
    {
        if (virtioNet)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(headerLength, VirtioNetHeader.Length);
        }

        _virtioNet = virtioNet;
        ArgumentOutOfRangeException.ThrowIfLessThan(slotCount, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(slotSize, 64);
        _fd = fd;
        _loop = loop;
        _mode = mode;
        _slotCount = slotCount;
        _slotSize = slotSize;
        _headerLength = headerLength;

        // One extra slot is the scratch area the reader drains into when the ring is full.
        _slots = GC.AllocateUninitializedArray<byte>((slotCount + 1) * slotSize, pinned: true);
        _base = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_slots));
        _lengths = new int[slotCount];
        _stopFd = LibC.EventFd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC);
        if (_stopFd < 0)
        {
            throw LibC.Error("eventfd", Marshal.GetLastPInvokeError());
        }

        _thread = new Thread(ReaderMain) { IsBackground = true, Name = threadName };
        _thread.Start();
    }

    /// <summary>Frames taken off the descriptor (including those dropped afterwards).</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>Frames dropped because the ring was full or nothing was attached.</summary>
    public long Drops => Interlocked.Read(ref _drops);

    /// <summary>Received TCP GSO super-frames (virtio-net header with gso_type TCPV4 or TCPV6).</summary>
    public long GsoFrames => Volatile.Read(ref _gsoFrames);

    /// <summary>Received frames dropped because their virtio-net header pointed outside the frame.</summary>
    public long BadHeaders => Volatile.Read(ref _badHeaders);

    /// <summary>Longest frame delivered (bytes, without the virtio-net header).</summary>
    public int LargestFrame => Volatile.Read(ref _largestFrame);

    /// <summary>errno that ended the reader (0 while it runs or when it was stopped).</summary>
    public int Failure { get; private set; }

    /// <summary>True while the reader thread runs.</summary>
    public bool IsRunning => Volatile.Read(ref _stopped) == 0 && Failure == 0;

    /// <summary>
    /// Loop thread: copies up to <paramref name="max"/> ready frames into packets from <paramref name="pool"/> and
    /// delivers them to <paramref name="sink"/> (or drops them when it is null). Returns frames handled.
    /// </summary>
    public int Drain(IPacketSink? sink, PacketPool pool, int max, int interfaceIndex)
    {
        var tail = _tail;
        var head = Volatile.Read(ref _head);
        var handled = 0;
        while (tail != head && handled < max)
        {
            var slot = (int)(tail % _slotCount);
            var length = _lengths[slot];
            if (sink is null)
            {
                Interlocked.Increment(ref _drops);
            }
            else
            {
                var frame = new ReadOnlySpan<byte>(_slots, slot * _slotSize + _headerLength, length - _headerLength);
                var packet = pool.RentCopy(frame);
                packet.ReceiveInterfaceIndex = interfaceIndex;
                if (frame.Length > _largestFrame)
                {
                    Volatile.Write(ref _largestFrame, frame.Length);
                }

                if (!_virtioNet || ApplyVirtioNetHeader(packet, new ReadOnlySpan<byte>(_slots, slot * _slotSize, _headerLength)))
                {
                    sink.Deliver(packet);
                }
            }

            tail++;
            handled++;

            // Publish each slot as soon as it is free so that the reader can refill it while the stack works.
            Volatile.Write(ref _tail, tail);
        }

        if (tail != Volatile.Read(ref _head))
        {
            _loop.Wake();
        }

        return handled;
    }

    /// <summary>Loop thread: applies the frame's virtio-net header; false (packet released) when it is malformed.</summary>
    private bool ApplyVirtioNetHeader(Packet packet, ReadOnlySpan<byte> header)
    {
        var vnet = VirtioNetHeader.Read(header);
        if (vnet.IsTcpGso)
        {
            Volatile.Write(ref _gsoFrames, _gsoFrames + 1);
        }

        if (vnet.ApplyTo(packet))
        {
            return true;
        }

        Volatile.Write(ref _badHeaders, _badHeaders + 1);
        packet.Release();
        return false;
    }

    /// <summary>Stops and joins the reader thread; idempotent, callable from any thread.</summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        ulong one = 1;
        _ = LibC.Write(_stopFd, (byte*)&one, sizeof(ulong));
        if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }

        _ = LibC.Close(_stopFd);
    }

    private void ReaderMain()
    {
        var fds = stackalloc LibC.PollFd[2];
        while (Volatile.Read(ref _stopped) == 0)
        {
            fds[0] = new LibC.PollFd { Fd = _fd, Events = LibC.POLLIN };
            fds[1] = new LibC.PollFd { Fd = _stopFd, Events = LibC.POLLIN };
            if (LibC.Poll(fds, 2, -1) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.EINTR)
                {
                    continue;
                }

                Failure = errno;
                return;
            }

            if (fds[1].Revents != 0)
            {
                return;
            }

            if (fds[0].Revents != 0 && !ReadBatchOfFrames())
            {
                _loop.Wake();
                return;
            }

            _loop.Wake();
        }
    }

    /// <summary>Reads until the descriptor would block or a batch is full; false when the descriptor failed.</summary>
    private bool ReadBatchOfFrames()
    {
        for (var i = 0; i < ReadBatch; i++)
        {
            var head = _head;
            var full = head - Volatile.Read(ref _tail) >= _slotCount;
            var slot = full ? _slotCount : (int)(head % _slotCount);
            var n = ReadOne(_base + ((long)slot * _slotSize));
            if (n < 0)
            {
                var errno = -n;
                if (errno is LibC.EAGAIN or LibC.EINTR)
                {
                    return true;
                }

                Failure = errno;
                return false;
            }

            if (n == int.MaxValue)
            {
                // A frame the host sent (AF_PACKET outgoing): not ours to receive.
                continue;
            }

            Volatile.Write(ref _received, _received + 1);
            if (full || n < _headerLength)
            {
                Interlocked.Increment(ref _drops);
                continue;
            }

            _lengths[slot] = n;
            Volatile.Write(ref _head, head + 1);
        }

        return true;
    }

    /// <summary>One frame into <paramref name="buffer"/>: its length, 0 for none, -errno on error, int.MaxValue to skip.</summary>
    private int ReadOne(byte* buffer)
    {
        nint n;
        if (_mode == FrameReadMode.Read)
        {
            n = LibC.Read(_fd, buffer, (nuint)_slotSize);
        }
        else
        {
            LibC.SockAddrLinkLayer from;
            uint fromLength = (uint)sizeof(LibC.SockAddrLinkLayer);
            n = LibC.RecvFrom(_fd, buffer, (nuint)_slotSize, 0, &from, &fromLength);
            if (n > 0 && from.PacketType == LibC.PACKET_OUTGOING)
            {
                return int.MaxValue;
            }
        }

        if (n < 0)
        {
            return -Marshal.GetLastPInvokeError();
        }

        return n == 0 ? -LibC.EAGAIN : (int)n;
    }
}
