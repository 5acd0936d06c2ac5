using System.Buffers.Binary;
using Sluice.Cli;
using Sluice.Pf.Engine;
using Sluice.Stack;
using Sluice.Stack.Pfil;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Pf.Tests.Engine;

/// <summary>pf syncookies (pf_syncookies.c): <c>set syncookies always | adaptive</c>.</summary>
public sealed class PfSyncookieTests
{
    private const string Rules = "pass out all\npass in on $ext_if proto tcp to port 22 keep state\n";

    private static ulong Counter(PfEngine e, PfLimitCounter c) => e.LimitCounters[(int)c];

    private static bool IsSyn(byte[] f) => f.Length >= 54 && f[23] == 6 && (f[47] & 0x12) == 0x02;

    [Fact]
    public void AFloodOf500SpoofedSynsMakesNoStateAndNeverReachesTheServerWhileARealClientConnects()
    {
        var net = new PfNet();
        Assert.True(net.Wan.TryAddRoute(PfNet.V4("0.0.0.0"), 0, PfNet.V4("192.0.2.1"), out _));
        var pf = net.Load("set syncookies always\n" + Rules);
        var e = pf.Engine;
        Assert.True(e.SyncookiesActive);
        var lanLog = new FrameLog();
        net.LanIf.AddTap(lanLog);
        using var listener = PfSynproxyTests.Listener(net.Lan);
        for (var i = 0; i < 500; i++)
        {
            PfSynproxyTests.SpoofedSyn(net, i);
            net.Loop.RunFor(Nanos.PerSecond / 200);
        }

        net.Loop.RunFor(2 * Nanos.PerSecond);
        Assert.Equal(0, e.StateCount);
        Assert.Equal(0, e.HalfOpenStates);
        Assert.Equal(500UL, Counter(e, PfLimitCounter.SyncookiesSent));
        Assert.Equal(0UL, Counter(e, PfLimitCounter.SyncookiesValid));
        Assert.DoesNotContain(lanLog.Frames, f => !f.Outbound && IsSyn(f.Frame));
        Assert.Equal(0, net.Lan.Tcp.Statistics.tcps_sc_added);

        // A real client gets a cookie, answers it, and pf opens the connection to the server.
        var wanLog = new FrameLog();
        net.WanIf.AddTap(wanLog);
        var client = net.Wan.OpenTcp();
        Assert.Equal(Errno.EINPROGRESS, client.Connect(new InetEndpoint(PfNet.V4("10.0.0.2"), 22)));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(TcpState.Established, client.State);
        Assert.Equal(Errno.None, listener.TryAccept(out var server));
        Assert.Equal(TcpState.Established, server!.State);
        Assert.Single(lanLog.Frames, f => !f.Outbound && IsSyn(f.Frame));
        Assert.Equal(501UL, Counter(e, PfLimitCounter.SyncookiesSent));
        Assert.Equal(1UL, Counter(e, PfLimitCounter.SyncookiesValid));
        Assert.Equal(0UL, Counter(e, PfLimitCounter.Synfloods)); // detection is adaptive mode's
        Assert.Equal(2, e.StateCount); // the connection's in state on epair1a and, from "pass out all", its out state

        // The cookie in the SYN-ACK encodes the client's MSS (1460: last table entry) and its window scale option
        // (with PF_WSCALE_FLAG every option maps to the last index); pf's SYN-ACK has window 0 and an MSS option.
        var clientSyn = wanLog.Frames.First(f => f.Outbound && IsSyn(f.Frame)).Frame;
        var synAck = wanLog.Frames.First(f => !f.Outbound && f.Frame.Length >= 58 && f.Frame[23] == 6 && (f.Frame[47] & 0x12) == 0x12).Frame;
        var iss = BinaryPrimitives.ReadUInt32BigEndian(synAck.AsSpan(38));
        var cookie = (byte)((iss & 0xff) ^ (iss >> 24));
        Assert.Equal(7, cookie >> 5);
        var clientScales = clientSyn.AsSpan(54, ((clientSyn[46] >> 4) * 4) - 20).IndexOf((byte)3) >= 0;
        Assert.Equal(clientScales ? 7 : 1, (cookie >> 2) & 7);
        Assert.Equal(0, cookie & 2); // sack_ok is never set
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(synAck.AsSpan(48)));
        Assert.Equal(1460, BinaryPrimitives.ReadUInt16BigEndian(synAck.AsSpan(56)));
        Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(clientSyn.AsSpan(38)) + 1, BinaryPrimitives.ReadUInt32BigEndian(synAck.AsSpan(42)));

        // The server's SYN is pf's replay, with the cookie's MSS.
        var serverSyn = lanLog.Frames.Single(f => !f.Outbound && IsSyn(f.Frame)).Frame;
        Assert.Equal(1460, BinaryPrimitives.ReadUInt16BigEndian(serverSyn.AsSpan(56)));

        var up = PfSynproxyTests.Bytes(100_000, 1);
        Assert.Equal(up, PfSynproxyTests.Pump(net, client, server, up));
        var down = PfSynproxyTests.Bytes(150_000, 7);
        Assert.Equal(down, PfSynproxyTests.Pump(net, server, client, down));
        Assert.Contains("ESTABLISHED:ESTABLISHED", e.FormatStates());
        client.Dispose();
        server.Dispose();
    }

    [Fact]
    public void SyncookiesWorkForIPv6()
    {
        var net = new PfNet();
        var e = net.Load("set syncookies always\n" + Rules).Engine;
        using var listener = PfSynproxyTests.Listener(net.Lan, v6: true);
        var client = net.Wan.OpenTcp(true);
        Assert.Equal(Errno.EINPROGRESS, client.Connect(new InetEndpoint(PfNet.V6("2001:db8:1::2"), 22)));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(TcpState.Established, client.State);
        Assert.Equal(Errno.None, listener.TryAccept(out var server));
        Assert.Equal(1UL, Counter(e, PfLimitCounter.SyncookiesValid));
        var up = PfSynproxyTests.Bytes(40_000, 3);
        Assert.Equal(up, PfSynproxyTests.Pump(net, client, server!, up));
        client.Dispose();
        server!.Dispose();
    }

    [Fact]
    public void OnlyTheCookiePfSentOpensAConnection()
    {
        var net = new PfNet();
        var e = net.Load("set syncookies always\nblock in all\npass in on $ext_if proto tcp keep state\n").Engine;
        var wanLog = new FrameLog();
        net.WanIf.AddTap(wanLog);

        // From the WAN (192.0.2.2:80) to the LAN (10.0.0.2:4000).
        var syn = PfScrubActionTests.Seg(net, false, 0x02, 7000, 0);
        Assert.Equal(PfilVerdict.Drop, e.Filter(syn, net.Ext, PfilDirection.In, false));
        syn.Release();
        net.Loop.RunFor(Nanos.PerSecond / 10);
        Assert.Equal(0, e.StateCount);
        var synAck = wanLog.Frames.Single(f => !f.Outbound && f.Frame[23] == 6 && (f.Frame[47] & 0x12) == 0x12).Frame;
        var iss = BinaryPrimitives.ReadUInt32BigEndian(synAck.AsSpan(38));

        // Wrong MAC bits, wrong sequence number: no state, and the ACK falls to the rules (blocked: no SYN flag).
        var forged = PfScrubActionTests.Seg(net, false, 0x10, 7001, (iss ^ 0x0100_0000) + 1);
        Assert.Equal(PfilVerdict.Drop, e.Filter(forged, net.Ext, PfilDirection.In, false));
        forged.Release();
        var wrongSeq = PfScrubActionTests.Seg(net, false, 0x10, 9001, iss + 1);
        Assert.Equal(PfilVerdict.Drop, e.Filter(wrongSeq, net.Ext, PfilDirection.In, false));
        wrongSeq.Release();
        Assert.Equal(0UL, Counter(e, PfLimitCounter.SyncookiesValid));
        Assert.Equal(0, e.StateCount);

        // The right ACK makes the state and is consumed while pf asks the server (PROXY:DST).
        var ack = PfScrubActionTests.Seg(net, false, 0x10, 7001, iss + 1);
        Assert.Equal(PfilVerdict.Drop, e.Filter(ack, net.Ext, PfilDirection.In, false));
        ack.Release();
        Assert.Equal(1UL, Counter(e, PfLimitCounter.SyncookiesValid));
        Assert.Equal(1, e.StateCount);
        Assert.Contains("PROXY:DST", e.FormatStates());
        Assert.Equal(0UL, e.SyncookiesInflight);

        // Each cookie is good once: the same ACK for another (closed) tuple finds nothing in flight.
        var replay = PfScrubActionTests.Seg(net, false, 0x10, 7001, iss + 1);
        e.FlushStates();
        Assert.Equal(PfilVerdict.Drop, e.Filter(replay, net.Ext, PfilDirection.In, false));
        replay.Release();
        Assert.Equal(1UL, Counter(e, PfLimitCounter.SyncookiesValid));
    }

    [Fact]
    public void AdaptiveModeTurnsOnAboveTheStartWatermarkAndOffBelowTheEnd()
    {
        var net = new PfNet();
        var e = net.Load("set limit states 100\nset syncookies adaptive (start 25%, end 12%)\npass in proto tcp keep state\n").Engine;
        Assert.Equal(PfSyncookiesMode.Adaptive, e.Syncookies);
        Assert.Equal((25u, 12u), e.SyncookieWatermarks);
        Assert.False(e.SyncookiesActive);

        PfilVerdict Syn(int i)
        {
            var p = PfScrubActionTests.Seg(net, false, 0x02, (uint)(1000 * i), 0);
            BinaryPrimitives.WriteUInt16BigEndian(p.Data[20..], (ushort)(20000 + i)); // another source port each
            TcpPacket.CreateUnchecked(p.Data[20..]).FillChecksumV4(PfNet.V4("192.0.2.2"), PfNet.V4("10.0.0.2"));
            var v = e.Filter(p, net.Ext, PfilDirection.In, false);
            p.Release();
            return v;
        }

        // 25 half-open states are not more than 25: the 26th SYN still makes a state; with 26, cookies start.
        for (var i = 0; i < 26; i++)
        {
            Assert.Equal(PfilVerdict.Pass, Syn(i));
        }

        Assert.Equal(26, e.HalfOpenStates);
        Assert.False(e.SyncookiesActive);
        for (var i = 26; i < 40; i++)
        {
            Assert.Equal(PfilVerdict.Drop, Syn(i));
        }

        Assert.True(e.SyncookiesActive);
        Assert.Equal(26, e.StateCount);
        Assert.Equal(1UL, Counter(e, PfLimitCounter.Synfloods));
        Assert.Equal(14UL, Counter(e, PfLimitCounter.SyncookiesSent));

        // The flood ends: half-open states go, the 14 cookies in flight expire with two secret rotations (15 s each),
        // and the next rotation finds fewer than 12 and turns cookies off.
        e.FlushStates();
        Assert.Equal(0, e.HalfOpenStates);
        net.Loop.RunFor(20 * Nanos.PerSecond);
        Assert.True(e.SyncookiesActive); // 14 still in flight, not below 12
        net.Loop.RunFor(30 * Nanos.PerSecond);
        Assert.False(e.SyncookiesActive);
        Assert.Equal(PfilVerdict.Pass, Syn(100));
        Assert.Equal(1, e.StateCount);
        Assert.Equal(14UL, Counter(e, PfLimitCounter.SyncookiesSent));
    }

    [Fact]
    public void AHandshakeLeavesTheHalfOpenCount()
    {
        var net = new PfNet();
        var e = net.Load("set syncookies adaptive\npass all\n").Engine;
        Assert.Equal((25_000u, 12_000u), e.SyncookieWatermarks); // 25% and 12% of the default 100000 states
        using var listener = PfSynproxyTests.Listener(net.Lan);
        var client = net.Wan.OpenTcp();
        client.Connect(new InetEndpoint(PfNet.V4("10.0.0.2"), 22));
        net.Loop.RunFor(Nanos.PerSecond);
        Assert.Equal(TcpState.Established, client.State);
        Assert.Equal(0, e.HalfOpenStates);
        Assert.Equal(0UL, Counter(e, PfLimitCounter.SyncookiesSent));
        client.Dispose();
    }

    [Fact]
    public void SendingACookieDoesNotAllocate()
    {
        var net = new PfNet();
        var e = net.Load("set syncookies always\npass in proto tcp keep state\n").Engine;

        // From 198.51.100.7, where fw has no route: the SYN-ACK is made and dropped by the stack, so that only pf's
        // part is measured.
        var syn = PfScrubActionTests.Seg(net, false, 0x02, 7000, 0, options: [2, 4, 5, 0xb4, 1, 3, 3, 7]);
        PfNet.V4("198.51.100.7").WriteTo(syn.Data[12..]);
        IPv4Packet.CreateUnchecked(syn.Data).FillChecksum();
        TcpPacket.CreateUnchecked(syn.Data[20..]).FillChecksumV4(PfNet.V4("198.51.100.7"), PfNet.V4("10.0.0.2"));
        var copy = syn.Data.ToArray();
        for (var i = 0; i < 100; i++)
        {
            copy.CopyTo(syn.Data);
            e.Filter(syn, net.Ext, PfilDirection.In, false);
        }

        net.Loop.RunFor(Nanos.PerSecond / 10);
        var passed = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            copy.CopyTo(syn.Data);
            passed += e.Filter(syn, net.Ext, PfilDirection.In, false) == PfilVerdict.Drop ? 0 : 1;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        syn.Release();
        net.Loop.RunFor(Nanos.PerSecond / 10);
        Assert.Equal(0, passed);
        Assert.Equal(0, allocated);
        Assert.Equal(0, e.StateCount);
        Assert.Equal(1100UL, Counter(e, PfLimitCounter.SyncookiesSent));
    }

    [Fact]
    public void ParserKeepsTheWatermarksAsPfctlPrintsThem()
    {
        static string? Print(string conf)
        {
            var r = Sluice.Pf.Config.PfParser.Parse(conf + "\npass all\n", "pf.conf");
            return r.Ruleset is null ? null : Sluice.Pf.Config.PfPrinter.Print(r.Ruleset).Split('\n')[0];
        }

        Assert.Equal("set syncookies adaptive (start 25%, end 12%)", Print("set syncookies adaptive (start 25%, end 12%)"));
        Assert.Equal("set syncookies adaptive (start 30%, end 15%)", Print("set syncookies adaptive (start 30%)"));
        Assert.Equal("set syncookies adaptive (start 25%, end 10%)", Print("set syncookies adaptive (end 10%)"));
        Assert.Equal("set syncookies adaptive", Print("set syncookies adaptive"));
        Assert.Null(Print("set syncookies adaptive (start 10%, end 20%)")); // start must be higher than end
        Assert.Null(Print("set syncookies always (start 10%)"));
        Assert.Null(Print("set syncookies adaptive (start 101%)"));
        Assert.Null(Print("set syncookies adaptive (middle 10%)"));
        Assert.Null(Print("set syncookies adaptive (start 10"));
    }

    [Fact]
    public void ALabFetchThroughARouterWithSyncookiesCountsTheCookieInPfctlInfo()
    {
        var dir = Directory.CreateTempSubdirectory("sluice-cookie-").FullName;
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        try
        {
            using var lab = new Lab(stdout, stderr);
            var conf = Path.Combine(dir, "pf.conf");
            var file = Path.Combine(dir, "x");
            File.WriteAllText(conf, "set syncookies always\npass all\n");
            var status = lab.RunScriptText(string.Join('\n',
                "jail -c name=h1 vnet persist", "jail -c name=h2 vnet persist", "jail -c name=r vnet persist",
                "ifconfig epair0 create", "ifconfig epair1 create",
                "ifconfig epair0a vnet h1", "ifconfig epair0b vnet r", "ifconfig epair1a vnet r", "ifconfig epair1b vnet h2",
                "jexec h1 ifconfig epair0a inet 192.0.2.2/24 up", "jexec r ifconfig epair0b inet 192.0.2.1/24 up",
                "jexec r ifconfig epair1a inet 198.51.100.1/24 up", "jexec h2 ifconfig epair1b inet 198.51.100.2/24 up",
                "jexec h1 route add default 192.0.2.1", "jexec h2 route add default 198.51.100.1",
                "jexec r sysctl net.inet.ip.forwarding=1", $"jexec r pfctl -f {conf}", "jexec r pfctl -e",
                "jexec h2 httpd -p 80 -g x:1m", $"jexec h1 fetch -q -o {file} http://198.51.100.2/x", ""), "cookie.lab");
            Assert.True(status == 0, stderr.ToString() + stdout.ToString());
            Assert.Equal(1 << 20, new FileInfo(file).Length);

            stdout.GetStringBuilder().Clear();
            Assert.Equal(0, lab.Execute(["jexec", "r", "pfctl", "-vsi"]));
            var lines = stdout.ToString().Split('\n');
            var lc = Array.IndexOf(lines, "Limit Counters");
            Assert.True(lc > 0, stdout.ToString());

            // "  %-25s %14ju " then the rate: one cookie sent and validated on the SYN, no flood detected.
            Assert.StartsWith($"  {"synfloods detected",-25} {0,14} ", lines[lc + 8], StringComparison.Ordinal);
            Assert.StartsWith($"  {"syncookies sent",-25} {1,14} ", lines[lc + 9], StringComparison.Ordinal);
            Assert.StartsWith($"  {"syncookies validated",-25} {1,14} ", lines[lc + 10], StringComparison.Ordinal);
            Assert.Equal("  mode                      always", lines[lc + 12]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
