using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Sluice.Stack.Links.Native;

/// <summary>The few Linux libc calls the TAP and AF_PACKET links and the real-time event loop need.</summary>
/// <remarks>
/// Constants are the Linux values shared by x86-64 and arm64 (the generic ABI); other architectures are not
/// supported. Every call sets the last P/Invoke error; read it with <see cref="Marshal.GetLastPInvokeError"/>.
/// </remarks>
internal static unsafe partial class LibC
{
    private const string Library = "libc";

    public const int O_RDWR = 0x2;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;

    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    public const short POLLIN = 0x1;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;

    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const int ENETDOWN = 100;
    public const int ENOBUFS = 105;

    public const int PR_SET_TIMERSLACK = 29;

    public const int AF_PACKET = 17;
    public const int SOCK_RAW = 3;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_PACKET = 263;
    public const int PACKET_ADD_MEMBERSHIP = 1;
    public const int PACKET_MR_PROMISC = 1;
    public const int PACKET_OUTGOING = 4;
    public const ushort ETH_P_ALL = 0x0003;

    /// <summary>One entry of the array given to <see cref="Poll"/> (struct pollfd).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>struct timespec (64-bit ABI).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>struct iovec: one buffer of a gather write.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary>struct sockaddr_ll (20 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockAddrLinkLayer
    {
        public ushort Family;
        public ushort Protocol;
        public int InterfaceIndex;
        public ushort HardwareType;
        public byte PacketType;
        public byte AddressLength;
        public ulong Address;
    }

    /// <summary>struct packet_mreq (16 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PacketMembershipRequest
    {
        public int InterfaceIndex;
        public ushort Type;
        public ushort AddressLength;
        public ulong Address;
    }

    [LibraryImport(Library, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Library, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport(Library, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(Library, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(SafeFileHandle fd, byte* buffer, nuint count);

    [LibraryImport(Library, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport(Library, EntryPoint = "writev", SetLastError = true)]
    public static partial nint Writev(SafeFileHandle fd, IoVec* vectors, int count);

    [LibraryImport(Library, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    [LibraryImport(Library, EntryPoint = "ppoll", SetLastError = true)]
    public static partial int PPoll(PollFd* fds, nuint count, TimeSpec* timeout, void* signalMask);

    [LibraryImport(Library, EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint argument2, nuint argument3, nuint argument4, nuint argument5);

    [LibraryImport(Library, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initial, int flags);

    [LibraryImport(Library, EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Library, EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, void* address, uint addressLength);

    [LibraryImport(Library, EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, void* value, uint valueLength);

    [LibraryImport(Library, EntryPoint = "recvfrom", SetLastError = true)]
    public static partial nint RecvFrom(int fd, byte* buffer, nuint count, int flags, void* address, uint* addressLength);

    [LibraryImport(Library, EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial uint IfNameToIndex(string name);

    [LibraryImport(Library, EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    [LibraryImport(Library, EntryPoint = "strerror")]
    private static partial nint StrError(int errno);

    /// <summary>Network byte order for a 16-bit value.</summary>
    public static ushort HostToNetwork(ushort value) => BitConverter.IsLittleEndian ? (ushort)((value >> 8) | (value << 8)) : value;

    /// <summary>An exception describing a failed call and its errno.</summary>
    public static IOException Error(string what, int errno) =>
        new($"{what} failed: {Marshal.PtrToStringUTF8(StrError(errno))} (errno {errno}).", errno);
}
