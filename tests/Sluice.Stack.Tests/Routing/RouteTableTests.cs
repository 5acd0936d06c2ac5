using CsCheck;
using Sluice.Stack.Routing;
using Sluice.Testing;
using Sluice.Wire;

namespace Sluice.Stack.Tests.Routing;

public sealed class RouteTableTests
{
    private static IPv4Address V4(string text) => IPv4Address.TryParse(text, out var a) ? a : throw new ArgumentException(text);

    private static IPv6Address V6(string text) => IPv6Address.TryParse(text, out var a) ? a : throw new ArgumentException(text);

    private static Route<IPv4Address> Net(string dest, int prefix, string? gateway, int ifIndex, RouteFlags flags = RouteFlags.Up) =>
        new(V4(dest), prefix, gateway is null ? null : V4(gateway), ifIndex, flags);

    private static IPv4RouteTable SampleV4()
    {
        var table = new IPv4RouteTable();
        Assert.True(table.TryAdd(Net("0.0.0.0", 0, "10.16.0.1", 1, RouteFlags.Up | RouteFlags.Gateway | RouteFlags.Static), out _));
        Assert.True(table.TryAdd(Net("10.16.0.0", 24, null, 1), out _));
        Assert.True(table.TryAdd(Net("10.16.0.101", 32, null, 2, RouteFlags.Up | RouteFlags.Host | RouteFlags.Static), out _));
        Assert.True(table.TryAdd(Net("127.0.0.1", 32, null, 2, RouteFlags.Up | RouteFlags.Host), out _));
        Assert.True(table.TryAdd(Net("192.168.69.0", 24, null, 4), out _));
        Assert.True(table.TryAdd(Net("192.168.69.1", 32, null, 2, RouteFlags.Up | RouteFlags.Host | RouteFlags.Static), out _));
        return table;
    }

    [Theory]
    [InlineData(RouteFlags.Up | RouteFlags.Gateway | RouteFlags.Static, "UGS")]
    [InlineData(RouteFlags.Up | RouteFlags.Host | RouteFlags.Static, "UHS")]
    [InlineData(RouteFlags.Up, "U")]
    [InlineData(RouteFlags.Up | RouteFlags.Host, "UH")]
    [InlineData(RouteFlags.Up | RouteFlags.Gateway | RouteFlags.Host | RouteFlags.Reject | RouteFlags.Dynamic | RouteFlags.Modified | RouteFlags.Done
        | RouteFlags.XResolve | RouteFlags.Static | RouteFlags.Proto1 | RouteFlags.Proto2 | RouteFlags.Proto3 | RouteFlags.Blackhole
        | RouteFlags.Broadcast | RouteFlags.LLInfo, "UGHRDMdXS123BbL")]
    [InlineData(RouteFlags.Pinned | RouteFlags.Local | RouteFlags.FixedMtu | RouteFlags.Multicast, "")]
    public void FormatsFlagsInNetstatOrder(RouteFlags flags, string expected) => Assert.Equal(expected, flags.FormatNetstatFlags());

    [Fact]
    public void FlagValuesMatchRouteH()
    {
        Assert.Equal(0x1, (int)RouteFlags.Up);
        Assert.Equal(0x800, (int)RouteFlags.Static);
        Assert.Equal(0x1000, (int)RouteFlags.Blackhole);
        Assert.Equal(0x4000, (int)RouteFlags.Proto2);
        Assert.Equal(0x8000, (int)RouteFlags.Proto1);
        Assert.Equal(0x40000, (int)RouteFlags.Proto3);
        Assert.Equal(0x200000, (int)RouteFlags.Local);
        Assert.Equal(0x800000, (int)RouteFlags.Multicast);
    }

    [Fact]
    public void HostRouteBeatsNetRouteBeatsDefault()
    {
        var table = SampleV4();
        Assert.Equal(32, table.Lookup(V4("10.16.0.101"))!.PrefixLength);
        Assert.Equal(24, table.Lookup(V4("10.16.0.102"))!.PrefixLength);
        var fallback = table.Lookup(V4("8.8.8.8"))!;
        Assert.True(fallback.IsDefault);
        Assert.Equal(V4("10.16.0.1"), fallback.Gateway);
    }

    [Fact]
    public void NoDefaultMeansNoRoute()
    {
        var table = SampleV4();
        Assert.True(table.TryDelete(IPv4Address.Any, 0, out var removed));
        Assert.True(removed!.IsDefault);
        Assert.Null(table.Lookup(V4("8.8.8.8")));
        Assert.False(table.TryDelete(IPv4Address.Any, 0, out removed));
        Assert.Null(removed);
        Assert.Equal(5, table.Count);
    }

    [Fact]
    public void DuplicateAddFailsWithRouteMessage()
    {
        var table = SampleV4();
        Assert.False(table.TryAdd(Net("10.16.0.0", 24, "10.16.0.9", 3), out var error));
        Assert.Equal("route already in table", error);
        Assert.Equal(6, table.Count);
        Assert.Null(table.Find(V4("10.16.0.0"), 24)!.Gateway);
    }

    [Fact]
    public void RejectsHostBitsAndBadPrefixes()
    {
        var table = new IPv4RouteTable();
        Assert.False(table.TryAdd(Net("10.16.0.1", 24, null, 1), out var error));
        Assert.Equal("Invalid argument", error);
        Assert.False(table.TryAdd(Net("10.16.0.0", 33, null, 1), out _));
        Assert.False(table.TryAdd(Net("10.16.0.0", -1, null, 1), out _));
        Assert.False(table.TryDelete(V4("10.0.0.0"), 40, out _));
        Assert.Null(table.Find(V4("10.0.0.0"), -3));
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void DeleteAndFindMaskTheDestination()
    {
        var table = SampleV4();
        Assert.NotNull(table.Find(V4("192.168.69.77"), 24));
        Assert.True(table.TryDelete(V4("192.168.69.77"), 24, out var removed));
        Assert.Equal(V4("192.168.69.0"), removed!.Destination);
        Assert.True(table.Lookup(V4("192.168.69.77"))!.IsDefault);
        Assert.Equal(RouteErrors.NotInTable, "not in table");
    }

    [Fact]
    public void RemoveInterfaceDropsItsRoutes()
    {
        var table = SampleV4();
        Assert.Equal(3, table.RemoveInterface(2));
        Assert.Equal(3, table.Count);
        Assert.Equal(24, table.Lookup(V4("10.16.0.101"))!.PrefixLength);
        Assert.DoesNotContain(table.Entries, r => r.InterfaceIndex == 2);
        Assert.Equal(0, table.RemoveInterface(2));
        Assert.Equal(2, table.RemoveInterface(1));
        Assert.Null(table.Lookup(V4("10.16.0.101")));
    }

    [Fact]
    public void EntriesAreInNetstatOrder()
    {
        var table = SampleV4();
        Assert.True(table.TryAdd(Net("10.0.0.0", 8, "10.16.0.1", 1), out _));
        Assert.True(table.TryAdd(Net("10.0.0.0", 16, "10.16.0.1", 1), out _));
        Assert.Equal(
            ["0.0.0.0/0", "10.0.0.0/16", "10.0.0.0/8", "10.16.0.0/24", "10.16.0.101/32", "127.0.0.1/32", "192.168.69.0/24", "192.168.69.1/32"],
            table.Entries.Select(r => $"{r.Destination}/{r.PrefixLength}"));
    }

    [Fact]
    public void LookupDoesNotAllocate()
    {
        var v4 = SampleV4();
        var v6 = new IPv6RouteTable();
        Assert.True(v6.TryAdd(new(IPv6Address.Any, 0, V6("fe80::1"), 1, RouteFlags.Up | RouteFlags.Gateway), out _));
        Assert.True(v6.TryAdd(new(V6("2001:db8::"), 32, null, 1, RouteFlags.Up), out _));
        Assert.True(v6.TryAdd(new(V6("2001:db8:1::"), 48, null, 2, RouteFlags.Up), out _));
        Assert.True(v6.TryAdd(new(V6("2001:db8:1::5"), 128, null, 3, RouteFlags.Up | RouteFlags.Host), out _));
        var hits = 0L;

        void Run()
        {
            for (uint i = 0; i < 10_000; i++)
            {
                hits += v4.Lookup(new IPv4Address(0x0A10_0000U + (i & 0xFF)))!.PrefixLength;
                hits += v6.Lookup(new IPv6Address(0x2001_0db8_0001_0000UL + (i & 1), i & 7))!.PrefixLength;
            }
        }

        Run();
        SteadyStateAllocation.AssertNone(Run, "route lookups");
        Assert.True(hits > 0);
    }

    [Fact]
    public void IPv6LongestPrefixMatch()
    {
        var table = new IPv6RouteTable();
        Assert.True(table.TryAdd(new(IPv6Address.Any, 0, V6("fe80::1"), 1, RouteFlags.Up | RouteFlags.Gateway | RouteFlags.Static), out _));
        Assert.True(table.TryAdd(new(V6("2001:db8::"), 32, null, 1, RouteFlags.Up), out _));
        Assert.True(table.TryAdd(new(V6("2001:db8:0:1::"), 64, null, 2, RouteFlags.Up), out _));
        Assert.True(table.TryAdd(new(V6("2001:db8:0:1:8000::"), 65, null, 3, RouteFlags.Up), out _));
        Assert.True(table.TryAdd(new(V6("2001:db8:0:1::1"), 128, null, 4, RouteFlags.Up | RouteFlags.Host), out _));
        Assert.False(table.TryAdd(new(V6("2001:db8::"), 32, null, 9, RouteFlags.Up), out var error));
        Assert.Equal("route already in table", error);
        Assert.False(table.TryAdd(new(V6("2001:db8::1"), 32, null, 9, RouteFlags.Up), out error));
        Assert.Equal("Invalid argument", error);
        Assert.Equal(4, table.Lookup(V6("2001:db8:0:1::1"))!.InterfaceIndex);
        Assert.Equal(2, table.Lookup(V6("2001:db8:0:1::2"))!.InterfaceIndex);
        Assert.Equal(3, table.Lookup(V6("2001:db8:0:1:8000::2"))!.InterfaceIndex);
        Assert.Equal(1, table.Lookup(V6("2001:db8:ffff::"))!.InterfaceIndex);
        Assert.True(table.Lookup(V6("2001:db9::"))!.IsDefault);
        Assert.Equal(
            ["::/0", "2001:db8::/32", "2001:db8:0:1::/64", "2001:db8:0:1::1/128", "2001:db8:0:1:8000::/65"],
            table.Entries.Select(r => $"{r.Destination}/{r.PrefixLength}"));
        Assert.Equal(3, table.RemoveInterface(1) + table.RemoveInterface(4) + table.RemoveInterface(7));
        Assert.Null(table.Lookup(V6("2001:db9::")));
        Assert.True(table.TryDelete(V6("2001:db8:0:1::"), 64, out _));
        Assert.Equal(3, table.Lookup(V6("2001:db8:0:1:8000::2"))!.InterfaceIndex);
        Assert.Null(table.Lookup(V6("2001:db8:0:1::2")));
        Assert.Equal(1, table.Count);
    }

    // Addresses drawn near a few bases so that prefixes nest and lookups hit them.
    private static readonly Gen<uint> V4Address = Gen.OneOf(
        Gen.UInt,
        Gen.UInt[0, 0xFFFF].Select(x => 0x0A00_0000U | x),
        Gen.UInt[0, 0xFF].Select(x => 0xC0A8_0100U | x));

    [Fact]
    public void IPv4MatchesBruteForce()
    {
        var ops = Gen.Select(Gen.Int[0, 3], V4Address, Gen.Int[0, 32], Gen.Int[1, 4]).Array[1, 80];
        Gen.Select(ops, V4Address.Array[1, 40]).Sample((ops, probes) =>
        {
            var table = new IPv4RouteTable();
            var model = new Dictionary<(uint, int), int>();
            foreach (var (op, raw, prefix, ifIndex) in ops)
            {
                var dest = new IPv4Address(raw).Mask(prefix);
                if (op == 0)
                {
                    Assert.Equal(model.Remove((dest.Value, prefix)), table.TryDelete(dest, prefix, out _));
                }
                else if (op == 1 && ifIndex == 4)
                {
                    var gone = model.Where(kv => kv.Value == 4).Select(kv => kv.Key).ToList();
                    gone.ForEach(k => model.Remove(k));
                    Assert.Equal(gone.Count, table.RemoveInterface(4));
                }
                else
                {
                    Assert.Equal(model.TryAdd((dest.Value, prefix), ifIndex), table.TryAdd(new(dest, prefix, null, ifIndex, RouteFlags.Up), out _));
                }
            }

            Assert.Equal(model.Count, table.Count);
            foreach (var probe in probes.Concat(model.Keys.Select(k => k.Item1)))
            {
                var address = new IPv4Address(probe);
                var best = model.Keys.Where(k => address.Mask(k.Item2).Value == k.Item1).OrderByDescending(k => k.Item2).Select(k => (int?)k.Item2).FirstOrDefault();
                var found = table.Lookup(address);
                Assert.Equal(best, found?.PrefixLength);
                if (found is not null)
                {
                    Assert.Equal(model[(found.Destination.Value, found.PrefixLength)], found.InterfaceIndex);
                }
            }
        }, iter: 2000);
    }

    private static readonly Gen<IPv6Address> V6Address = Gen.OneOf(
        Gen.Select(Gen.ULong, Gen.ULong).Select((h, l) => new IPv6Address(h, l)),
        Gen.Select(Gen.ULong[0, 0xFFFF], Gen.ULong[0, 3]).Select((h, l) => new IPv6Address(0x2001_0db8_0000_0000UL | h, l << 62 | l)),
        Gen.ULong[0, 0xFF].Select(l => new IPv6Address(0x2001_0db8_0000_0001UL, l)));

    [Fact]
    public void IPv6MatchesBruteForce()
    {
        var ops = Gen.Select(Gen.Int[0, 2], V6Address, Gen.Int[0, 128], Gen.Int[1, 3]).Array[1, 80];
        Gen.Select(ops, V6Address.Array[1, 40]).Sample((ops, probes) =>
        {
            var table = new IPv6RouteTable();
            var model = new Dictionary<(IPv6Address, int), int>();
            foreach (var (op, raw, prefix, ifIndex) in ops)
            {
                var dest = raw.Mask(prefix);
                if (op == 0)
                {
                    Assert.Equal(model.Remove((dest, prefix)), table.TryDelete(dest, prefix, out _));
                }
                else
                {
                    Assert.Equal(model.TryAdd((dest, prefix), ifIndex), table.TryAdd(new(dest, prefix, null, ifIndex, RouteFlags.Up), out _));
                }
            }

            Assert.Equal(model.Count, table.Count);
            foreach (var address in probes.Concat(model.Keys.Select(k => k.Item1)))
            {
                var best = model.Keys.Where(k => address.Mask(k.Item2) == k.Item1).OrderByDescending(k => k.Item2).Select(k => (int?)k.Item2).FirstOrDefault();
                var found = table.Lookup(address);
                Assert.Equal(best, found?.PrefixLength);
                if (found is not null)
                {
                    Assert.Equal(model[(found.Destination, found.PrefixLength)], found.InterfaceIndex);
                }
            }
        }, iter: 2000);
    }
}
