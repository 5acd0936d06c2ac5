using System.Buffers.Binary;
using Sluice.Interop.Tests.Infrastructure;
using Sluice.Stack.Links;

namespace Sluice.Interop.Tests;

/// <summary>The TAP plumbing on its own: raw Ethernet frames between a Linux namespace and an event loop.</summary>
public sealed class TapLinkTests(ITestOutputHelper output)
{
    private static readonly byte[] SluiceMac = [0x02, 0x53, 0x4c, 0x00, 0x00, 0x02];

    [InteropFact]
    public void OpenCreatesTheLinuxDeviceAndDisposeRemovesIt()
    {
        var name = NetNamespace.NewDeviceName();
        using var loop = new RealTimeLoop(TimeSpan.FromSeconds(20));
        var tap = TapLink.Open(name, loop.Loop);
        try
        {
            Assert.Equal(name, tap.LinuxName);
            Assert.True(tap.IsUp);
            Assert.Null(tap.HardwareAddress);
            Command.Run("ip", ["link", "show", name], log: output).EnsureSuccess();
        }
        finally
        {
            tap.Dispose();
        }

        Assert.False(tap.IsUp);
        Assert.False(Command.Run("ip", ["link", "show", name], log: output).Succeeded);
    }

    [InteropFact]
    public async Task LinuxArpRequestArrivesAndHandBuiltReplyFillsItsNeighbourTable()
    {
        using var ns = NetNamespace.Create(output);
        using var loop = new RealTimeLoop(TimeSpan.FromSeconds(60));
        var recorder = new FrameRecorder();
        using var tap = TapLink.Open(NetNamespace.NewDeviceName(), loop.Loop);
        tap.Attach(recorder);
        loop.Start();

        ns.AdoptAndConfigure(tap.LinuxName, "192.0.2.1/24", ipv6: null);

        // Linux keeps resolving 192.0.2.2 (three probes, one a second) while this ping runs.
        var ping = ns.ExecAsync(TimeSpan.FromSeconds(10), "ping", "-c", "1", "-W", "3", "192.0.2.2");
        var request = await recorder.WaitForAsync(IsArpRequestFor192_0_2_2, TimeSpan.FromSeconds(8));

        Assert.Equal(0x0806, BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(12)));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(20)));
        Assert.Equal(new byte[] { 192, 0, 2, 2 }, request[38..42]);
        Assert.Equal(new byte[] { 192, 0, 2, 1 }, request[28..32]);
        var linuxMac = request[22..28];

        var reply = BuildArpReply(linuxMac);
        await loop.InvokeAsync(() => tap.Transmit(loop.Loop.Pool.RentCopy(reply)));

        await ping;
        var neighbours = ns.Exec("ip", "neigh", "show", "192.0.2.2").EnsureSuccess();
        Assert.Contains("lladdr 02:53:4c:00:00:02", neighbours.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, tap.Transmitted);
        Assert.Equal(0, tap.TransmitErrors);
        Assert.True(tap.Received >= 1);
        output.WriteLine($"received {tap.Received}, drops {tap.ReceiveDrops}, transmitted {tap.Transmitted}");
    }

    internal static bool IsArpRequestFor192_0_2_2(byte[] frame) =>
        frame.Length >= 42
        && BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)) == 0x0806
        && BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(20)) == 1
        && frame.AsSpan(38, 4).SequenceEqual(new byte[] { 192, 0, 2, 2 });

    /// <summary>An ARP reply (RFC 826) "192.0.2.2 is at 02:53:4c:00:00:02" to 192.0.2.1 at <paramref name="linuxMac"/>.</summary>
    internal static byte[] BuildArpReply(byte[] linuxMac)
    {
        var frame = new byte[42];
        linuxMac.CopyTo(frame, 0);
        SluiceMac.CopyTo(frame, 6);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0806);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), 1);      // hardware type: Ethernet
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), 0x0800); // protocol type: IPv4
        frame[18] = 6;
        frame[19] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(20), 2);      // opcode: reply
        SluiceMac.CopyTo(frame, 22);
        new byte[] { 192, 0, 2, 2 }.CopyTo(frame, 28);
        linuxMac.CopyTo(frame, 32);
        new byte[] { 192, 0, 2, 1 }.CopyTo(frame, 38);
        return frame;
    }
}
