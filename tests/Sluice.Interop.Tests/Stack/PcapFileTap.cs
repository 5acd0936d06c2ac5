using Sluice.Stack.Interfaces;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Interop.Tests.Stack;

/// <summary>Captures every frame an interface sees to a pcap file with Sluice's <see cref="PcapWriter"/> (loop thread).</summary>
public sealed class PcapFileTap : IFrameTap, IDisposable
{
    private readonly FileStream _file;
    private readonly PcapWriter _writer;
    private readonly IClock _clock;

    public PcapFileTap(string path, IClock clock)
    {
        _clock = clock;
        _file = new FileStream(path, FileMode.Create, FileAccess.Write);
        _writer = new PcapWriter(_file, LinkType.Ethernet);
    }

    public int Frames { get; private set; }

    public void OnFrame(NetworkInterface ifp, ReadOnlySpan<byte> frame, bool outbound)
    {
        _writer.Write(_clock.Now, frame);
        Frames++;
    }

    public void Dispose()
    {
        _writer.Dispose();
        _file.Dispose();
    }
}
