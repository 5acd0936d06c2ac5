using System.Buffers.Binary;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Time;

namespace Sluice.Interop.Tests.Stack;

/// <summary>
/// Writes every frame an interface sees to a classic pcap file (LINKTYPE_ETHERNET), timestamps from the loop's clock.
/// </summary>
/// <remarks>
/// Stand-in until Sluice.Wire's PcapWriter lands; then this should become a thin tap over it, so that the test checks
/// Sluice's own capture format. Runs on the loop thread.
/// </remarks>
public sealed class PcapFileTap : IFrameTap, IDisposable
{
    private readonly FileStream _file;
    private readonly IClock _clock;
    private readonly long _epochSeconds;

    public PcapFileTap(string path, IClock clock)
    {
        _clock = clock;
        _epochSeconds = 1_700_000_000;
        _file = new FileStream(path, FileMode.Create, FileAccess.Write);
        Span<byte> header = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xa1b2c3d4);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 65535);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], 1);
        _file.Write(header);
    }

    public int Frames { get; private set; }

    public void OnFrame(NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound)
    {
        var now = _clock.Now;
        Span<byte> record = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(_epochSeconds + (now / 1_000_000_000)));
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)(now % 1_000_000_000 / 1000));
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], (uint)frame.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record[12..], (uint)frame.Length);
        _file.Write(record);
        _file.Write(frame);
        Frames++;
    }

    public void Dispose() => _file.Dispose();
}
