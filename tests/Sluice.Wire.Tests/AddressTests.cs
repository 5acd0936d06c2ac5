using System.Net;

namespace Sluice.Wire.Tests;

public class AddressTests
{
    [Fact]
    public void MacAddressRoundTripsThroughBytesAndText()
    {
        byte[] six = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
        var mac = new MacAddress(six);
        Assert.Equal("02:00:00:00:00:0a", mac.ToString());
        Assert.True(MacAddress.TryParse("02:00:00:00:00:0A", out MacAddress parsed));
        Assert.Equal(mac, parsed);
        byte[] back = new byte[6];
        mac.WriteTo(back);
        Assert.Equal(six, back);
        Assert.Equal(mac, MacAddress.Read(back));
    }

    [Theory]
    [InlineData("")]
    [InlineData("02:00:00:00:00")]
    [InlineData("02:00:00:00:00:0a:")]
    [InlineData("02:00:00:00:00:0g")]
    [InlineData("020:00:00:00:00:0a")]
    [InlineData("02-00:00:00:00:0a")]
    public void MalformedMacAddressTextIsRejected(string text) => Assert.False(MacAddress.TryParse(text, out _));

    [Fact]
    public void MacAddressFlagsFollowTheIndividualGroupBit()
    {
        Assert.True(MacAddress.Broadcast.IsBroadcast);
        Assert.True(MacAddress.Broadcast.IsMulticast);
        Assert.True(MacAddress.FromIPv4Multicast(new IPv4Address(224, 0, 0, 251)).IsMulticast);
        Assert.False(new MacAddress(0x5254_0012_3456UL).IsMulticast);
        Assert.True(MacAddress.Zero.IsZero);
    }

    [Fact]
    public void MulticastMacsAreDerivedFromGroupAddresses()
    {
        Assert.Equal("01:00:5e:7f:00:fb", MacAddress.FromIPv4Multicast(new IPv4Address(239, 255, 0, 251)).ToString());
        Assert.True(IPv6Address.TryParse("ff02::1:ff00:2", out IPv6Address g));
        Assert.Equal("33:33:ff:00:00:02", MacAddress.FromIPv6Multicast(g).ToString());
    }

    [Theory]
    [InlineData("192.0.2.1", 0xC0000201u)]
    [InlineData("0.0.0.0", 0u)]
    [InlineData("255.255.255.255", 0xFFFFFFFFu)]
    public void IPv4DottedQuadParses(string text, uint value)
    {
        Assert.True(IPv4Address.TryParse(text, out IPv4Address a));
        Assert.Equal(value, a.Value);
        Assert.Equal(text, a.ToString());
    }

    [Theory]
    [InlineData("010.0.0.1")]
    [InlineData("256.0.0.1")]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.4.5")]
    [InlineData("1.2.3.4 ")]
    [InlineData("1..2.3")]
    [InlineData("")]
    [InlineData("1.2.3.0x4")]
    public void IPv4TextWithLeadingZerosOrWrongShapeIsRejected(string text) => Assert.False(IPv4Address.TryParse(text, out _));

    [Fact]
    public void IPv4ClassifiesSpecialRanges()
    {
        Assert.True(IPv4Address.Any.IsUnspecified);
        Assert.True(IPv4Address.Broadcast.IsBroadcast);
        Assert.True(IPv4Address.Loopback.IsLoopback);
        Assert.True(new IPv4Address(224, 0, 0, 1).IsMulticast);
        Assert.True(new IPv4Address(169, 254, 1, 1).IsLinkLocal);
        Assert.False(new IPv4Address(192, 0, 2, 1).IsMulticast);
        Assert.True(new IPv4Address(10, 0, 0, 1) < new IPv4Address(10, 0, 0, 2));
    }

    [Fact]
    public void IPv4MasksAndPrefixesAgree()
    {
        for (int p = 0; p <= 32; p++)
        {
            Assert.Equal(p, IPv4Address.MaskFromPrefix(p).PrefixLengthFromMask());
        }

        Assert.Equal(-1, new IPv4Address(255, 0, 255, 0).PrefixLengthFromMask());
        Assert.Equal("255.255.255.0", IPv4Address.MaskFromPrefix(24).ToString());
        Assert.Equal("192.0.2.0", new IPv4Address(192, 0, 2, 77).Mask(24).ToString());
        Assert.True(new IPv4Address(192, 0, 2, 77).MatchesPrefix(new IPv4Address(192, 0, 2, 0), 24));
    }

    [Fact]
    public void IPv4ConvertsToAndFromSystemNet()
    {
        var a = new IPv4Address(198, 51, 100, 7);
        Assert.Equal(IPAddress.Parse("198.51.100.7"), a.ToIPAddress());
        Assert.Equal(a, IPv4Address.FromIPAddress(IPAddress.Parse("198.51.100.7")));
    }

    [Theory]
    [InlineData("2001:db8::1", "2001:db8::1")]
    [InlineData("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1")]
    [InlineData("fe80::1", "fe80::1")]
    [InlineData("::", "::")]
    [InlineData("::1", "::1")]
    [InlineData("1::", "1::")]
    [InlineData("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1")]
    [InlineData("2001:0:0:1:0:0:0:1", "2001:0:0:1::1")]
    [InlineData("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1")]
    [InlineData("::ffff:192.0.2.1", "::ffff:192.0.2.1")]
    [InlineData("64:ff9b::192.0.2.33", "64:ff9b::c000:221")]
    [InlineData("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0")]
    public void IPv6TextParsesAndFormatsCanonically(string text, string canonical)
    {
        Assert.True(IPv6Address.TryParse(text, out IPv6Address a));
        Assert.Equal(canonical, a.ToString());
        Assert.Equal(IPAddress.Parse(text), a.ToIPAddress());
        Assert.Equal(a, IPv6Address.FromIPAddress(IPAddress.Parse(text)));
    }

    [Theory]
    [InlineData("")]
    [InlineData(":")]
    [InlineData(":::")]
    [InlineData("1:::2")]
    [InlineData("1::2::3")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("1:2:3:4:5:6:7")]
    [InlineData(":1:2:3:4:5:6:7")]
    [InlineData("1:2:3:4:5:6:7:")]
    [InlineData("12345::")]
    [InlineData("fe80::1%eth0")]
    [InlineData("::ffff:1.2.3")]
    [InlineData("1:2:3:4:5:6:7:1.2.3.4")]
    [InlineData("g::")]
    public void MalformedIPv6TextIsRejected(string text) => Assert.False(IPv6Address.TryParse(text, out _));

    [Fact]
    public void IPv6DerivedAddressesFollowRfc4291()
    {
        Assert.True(IPv6Address.TryParse("2001:db8::abcd:1234:5678", out IPv6Address a));
        Assert.Equal("ff02::1:ff34:5678", IPv6Address.SolicitedNodeMulticast(a).ToString());
        Assert.Equal("fe80::5054:ff:fe12:3456", IPv6Address.LinkLocalFromMac(new MacAddress(0x5254_0012_3456UL)).ToString());
        Assert.Equal("ff02::1", IPv6Address.AllNodesMulticast.ToString());
        Assert.Equal("ff02::2", IPv6Address.AllRoutersMulticast.ToString());
        Assert.True(IPv6Address.AllNodesMulticast.IsMulticast);
        Assert.True(IPv6Address.LinkLocalFromMac(MacAddress.Broadcast).IsLinkLocal);
        Assert.True(IPv6Address.Loopback.IsLoopback);
        Assert.True(IPv6Address.Any.IsUnspecified);
        Assert.Equal("2001:db8::", a.Mask(32).ToString());
        Assert.Equal("2001:db8::abcd:1200:0", a.Mask(104).ToString());
        Assert.True(a.MatchesPrefix(IPv6Address.Read(Convert.FromHexString("20010db8000000000000000000000000")), 32));
        Assert.False(a.MatchesPrefix(IPv6Address.AllNodesMulticast, 8));
    }

    [Fact]
    public void IPv6ReadAndWriteUseNetworkOrder()
    {
        byte[] bytes = Convert.FromHexString("fe80000000000000505400fffe123456");
        IPv6Address a = IPv6Address.Read(bytes);
        Assert.Equal("fe80::5054:ff:fe12:3456", a.ToString());
        byte[] back = new byte[16];
        a.WriteTo(back);
        Assert.Equal(bytes, back);
    }
}
