namespace Sluice.Wire.Tests;

public class SipHashTests
{
    [Fact]
    public void MatchesTheReferenceVectors()
    {
        // SipHash paper, appendix A, and the reference vectors.h: key 00..0f; messages 00..(n-1) for n = 0, 7, 8, 15.
        var key = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        byte[] Message(int n) => Enumerable.Range(0, n).Select(i => (byte)i).ToArray();
        Assert.Equal(0x726fdb47dd0e0e31UL, SipHash.Hash24(key, []));
        Assert.Equal(0xab0200f58b01d137UL, SipHash.Hash24(key, Message(7)));
        Assert.Equal(0x93f5f5799a932462UL, SipHash.Hash24(key, Message(8)));
        Assert.Equal(0xa129ca6149be45e5UL, SipHash.Hash24(key, Message(15)));
        Assert.Equal(SipHash.Hash24(key, Message(15)), SipHash.Hash24(0x0706050403020100UL, 0x0f0e0d0c0b0a0908UL, Message(15)));
        Assert.Throws<ArgumentException>(() => SipHash.Hash24(new byte[15], []));
    }
}
