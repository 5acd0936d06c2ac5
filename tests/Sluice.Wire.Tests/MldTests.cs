namespace Sluice.Wire.Tests;

/// <summary>MLD codecs against the layouts of RFC 2710 §3 and RFC 3810 §5, written out byte by byte.</summary>
public class MldTests
{
    private static IPv6Address P(string text) => IPv6Address.TryParse(text, out var a) ? a : throw new FormatException(text);

    private static readonly IPv6Address Group = P("ff02::1:ff00:2");

    [Fact]
    public void ParsesAnMldV2ReportWithTwoRecords()
    {
        // Type 143, reserved, checksum 0x1234, reserved, 2 records; record 1: TO_EX (4), aux 0, 0 sources, ff02::1:ff00:2;
        // record 2: MODE_IS_INCLUDE (1), aux 1 word, 1 source 2001:db8::1, ff05::2, then 4 bytes of aux data.
        byte[] bytes =
        [
            143, 0, 0x12, 0x34, 0, 0, 0, 2,
            4, 0, 0, 0, 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2,
            1, 1, 0, 1, 0xff, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            0xde, 0xad, 0xbe, 0xef,
        ];
        Assert.True(MldV2Report.TryCreate(bytes, out var report));
        Assert.Equal(2, report.RecordCount);
        var first = report.Record(0);
        Assert.Equal(MldRecordType.ChangeToExcludeMode, first.Type);
        Assert.Equal(Group, first.MulticastAddress);
        Assert.Equal(0, first.SourceCount);
        var second = report.Record(1);
        Assert.Equal(MldRecordType.ModeIsInclude, second.Type);
        Assert.Equal(1, second.AuxiliaryDataLength);
        Assert.Equal(P("ff05::2"), second.MulticastAddress);
        Assert.Equal(P("2001:db8::1"), second.Source(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => MldV2Report.TryCreate(bytes, out var r) ? r.Record(2).Type : 0);

        // One byte of the aux data missing: the second record no longer fits.
        Assert.False(MldV2Report.TryCreate(bytes.AsSpan(0, bytes.Length - 1), out _));
    }

    [Fact]
    public void EmitsSourceLessRecordsAsRfc3810LaysThemOut()
    {
        var buffer = new byte[MldV2Report.LengthFor(1)];
        MldV2Report.EmitHeader(buffer, 1);
        MldV2Report.EmitRecord(buffer, 0, MldRecordType.ChangeToIncludeMode, Group);
        byte[] expected =
        [
            143, 0, 0, 0, 0, 0, 0, 1,
            3, 0, 0, 0, 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2,
        ];
        Assert.Equal(expected, buffer);
    }

    [Fact]
    public void TellsMldV1QueriesFromMldV2QueriesByLength()
    {
        var v1 = new byte[24];
        new MldRepr(IcmpV6Type.MulticastListenerQuery, 10000, IPv6Address.Any).Emit(v1);
        Assert.Equal(new byte[] { 130, 0, 0, 0, 0x27, 0x10, 0, 0 }, v1[..8]);
        Assert.True(MldMessage.TryCreate(v1, out var q1));
        Assert.False(q1.IsV2Query);
        Assert.Equal(0, q1.SourceCount);

        var v2 = new byte[28];
        new MldV2QueryRepr(0x8000, Group, Robustness: 3, QueryIntervalCode: 0x80).Emit(v2);
        Assert.Equal(new byte[] { 3, 0x80, 0, 0 }, v2[24..]);
        Assert.True(MldMessage.TryCreate(v2, out var q2));
        Assert.True(q2.IsV2Query);
        Assert.Equal(3, q2.QuerierRobustness);
        Assert.Equal(Group, q2.MulticastAddress);

        // A v2 query that announces one source but carries none is refused (FreeBSD: EMSGSIZE).
        v2[27] = 1;
        Assert.False(MldMessage.TryCreate(v2, out _));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(10000, 10000)]
    [InlineData(32767, 32767)]
    [InlineData(0x8000, 32768)] // mant 0, exp 0: 0x1000 << 3
    [InlineData(0xffff, 0x1fff << 10)] // mant 0xfff, exp 7
    public void DecodesTheMaximumResponseCode(int code, int milliseconds) =>
        Assert.Equal(milliseconds, MldMessage.DecodeMaximumResponseCode((ushort)code));

    [Theory]
    [InlineData(125, 125)]
    [InlineData(0x80, 128)]
    [InlineData(0xff, 31744)] // (0xf | 0x10) << (7 + 3)
    public void DecodesTheQueryIntervalCode(int code, int seconds) =>
        Assert.Equal(seconds, MldMessage.DecodeQueryIntervalCode((byte)code));

    [Fact]
    public void RouterAlertHeaderIsPadNThenRouterAlertForMld()
    {
        var hbh = new byte[8];
        MldRouterAlert.Emit(hbh, IPProtocol.IcmpV6);
        Assert.Equal(new byte[] { 58, 0, 1, 0, 5, 2, 0, 0 }, hbh);
        Assert.True(MldRouterAlert.Contains(hbh));
        hbh[6] = 1; // value 1 = RSVP, not MLD
        Assert.False(MldRouterAlert.Contains(hbh));
        Assert.False(MldRouterAlert.Contains(hbh.AsSpan(0, 4)));
    }
}
