using System.Globalization;
using System.Text;

namespace Sluice.Cli.Formatting;

/// <summary>One routing table row as netstat prints it.</summary>
internal sealed record RouteRow(string Destination, string Gateway, string Flags, string Netif, long ExpireSeconds);

/// <summary>One row of <c>netstat -i</c>; null counters print as <c>-</c>.</summary>
internal sealed record InterfaceRow(
    string Name,
    bool Up,
    int? Mtu,
    string Network,
    string Address,
    long InPackets,
    long? InErrors,
    long? InDrops,
    long InBytes,
    long OutPackets,
    long? OutErrors,
    long OutBytes,
    long? Collisions);

/// <summary>netstat's route and interface listings (usr.bin/netstat/route.c, if.c).</summary>
internal static class NetstatFormat
{
    /// <summary>Column widths of route.c for the family (-n assumed: IPv6 gets 33/29).</summary>
    public static (int Dst, int Gw) RouteWidths(bool inet6, bool numeric) => inet6 && numeric ? (33, 29) : (18, 18);

    /// <summary>The <c>Internet:</c>/<c>Internet6:</c> section: blank line, title, header and rows [src route.c].</summary>
    public static string RouteSection(bool inet6, bool numeric, IEnumerable<RouteRow> rows)
    {
        var (dw, gw) = RouteWidths(inet6, numeric);
        const int FlagsWidth = 6, IfWidth = 8, ExpireWidth = 6;
        var sb = new StringBuilder();
        sb.Append('\n').Append(inet6 ? "Internet6:" : "Internet:").Append('\n');
        sb.Append(CFormat.LeftTrunc("Destination", dw)).Append(' ')
          .Append(CFormat.LeftTrunc("Gateway", gw)).Append(' ')
          .Append(CFormat.LeftTrunc("Flags", FlagsWidth)).Append(' ')
          .Append(CFormat.RightTrunc("Netif", IfWidth)).Append(' ')
          .Append("Expire".PadLeft(ExpireWidth)).Append('\n');
        foreach (var r in rows)
        {
            var protrusion = Column(sb, r.Destination, dw, numeric);
            protrusion = Column(sb, r.Gateway, gw - protrusion, numeric);
            var flagsWidth = Math.Max(0, FlagsWidth - protrusion);
            sb.Append(r.Flags.PadRight(flagsWidth)).Append(' ');
            sb.Append(CFormat.RightTrunc(r.Netif, IfWidth));
            if (r.ExpireSeconds > 0)
            {
                sb.Append(' ').Append(r.ExpireSeconds.ToString(CultureInfo.InvariantCulture).PadLeft(ExpireWidth));
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    // p_sockaddr: numeric output is never truncated; what sticks out is taken from the next column [src].
    private static int Column(StringBuilder sb, string text, int width, bool numeric)
    {
        if (width < 0)
        {
            sb.Append(text).Append(' ');
            return text.Length;
        }

        if (numeric)
        {
            sb.Append(text.PadRight(width)).Append(' ');
            return Math.Max(0, text.Length - width);
        }

        sb.Append(CFormat.LeftTrunc(text, width)).Append(' ');
        return 0;
    }

    /// <summary>The <c>netstat -i</c> header (if.c intpr) [sample].</summary>
    public static string InterfaceHeader(bool bytes)
    {
        var sb = new StringBuilder();
        sb.Append(CFormat.LeftTrunc("Name", 5)).Append(' ').Append(CFormat.RightTrunc("Mtu", 5))
          .Append(' ').Append(CFormat.LeftTrunc("Network", 13)).Append(' ').Append(CFormat.LeftTrunc("Address", 17))
          .Append(' ').Append(CFormat.RightTrunc("Ipkts", 8)).Append(' ').Append(CFormat.RightTrunc("Ierrs", 5))
          .Append(' ').Append(CFormat.RightTrunc("Idrop", 5));
        if (bytes)
        {
            sb.Append(' ').Append(CFormat.RightTrunc("Ibytes", 10));
        }

        sb.Append(' ').Append(CFormat.RightTrunc("Opkts", 8)).Append(' ').Append(CFormat.RightTrunc("Oerrs", 5));
        if (bytes)
        {
            sb.Append(' ').Append(CFormat.RightTrunc("Obytes", 10));
        }

        sb.Append(' ').Append("Coll".PadLeft(5)).Append('\n');
        return sb.ToString();
    }

    /// <summary>One <c>netstat -i</c> row: name truncated to 5 (with <c>*</c> when down), MTU in 6, then the counters [sample].</summary>
    public static string InterfaceLine(InterfaceRow r, bool bytes)
    {
        var sb = new StringBuilder();
        sb.Append(CFormat.LeftTrunc(r.Name + (r.Up ? string.Empty : "*"), 5));
        sb.Append((r.Mtu is int m ? m.ToString(CultureInfo.InvariantCulture) : "-").PadLeft(6)).Append(' ');
        sb.Append(CFormat.LeftTrunc(r.Network, 13)).Append(' ');
        sb.Append(CFormat.LeftTrunc(r.Address, 17)).Append(' ');
        sb.Append(N(r.InPackets, 8)).Append(' ').Append(Dash(r.InErrors, 5)).Append(' ').Append(Dash(r.InDrops, 5));
        if (bytes)
        {
            sb.Append(' ').Append(N(r.InBytes, 10));
        }

        sb.Append(' ').Append(N(r.OutPackets, 8)).Append(' ').Append(Dash(r.OutErrors, 5));
        if (bytes)
        {
            sb.Append(' ').Append(N(r.OutBytes, 10));
        }

        sb.Append(' ').Append(Dash(r.Collisions, 5)).Append('\n');
        return sb.ToString();
    }

    private static string N(long v, int w) => v.ToString(CultureInfo.InvariantCulture).PadLeft(w);

    private static string Dash(long? v, int w) => v is long x ? N(x, w) : "-".PadLeft(w);
}
