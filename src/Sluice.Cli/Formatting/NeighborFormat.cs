using System.Globalization;
using System.Text;

namespace Sluice.Cli.Formatting;

/// <summary>One ARP entry as <c>arp -an</c> prints it; Expires is null for permanent entries.</summary>
internal sealed record ArpLine(string Address, string? HardwareAddress, string Interface, bool Permanent, long? ExpiresInSeconds);

/// <summary>One neighbor entry as <c>ndp -an</c> prints it.</summary>
internal sealed record NdpLine(string Address, string? HardwareAddress, string Interface, bool Permanent, long? ExpiresInSeconds, char State, string Flags);

/// <summary>arp(8) and ndp(8) listings (usr.sbin/arp/arp.c print_entry, usr.sbin/ndp/ndp.c) [src].</summary>
internal static class NeighborFormat
{
    /// <summary><c>? (A) at MAC on IF permanent|expires in N seconds|expired [ethernet]</c>.</summary>
    public static string Arp(ArpLine e)
    {
        var sb = new StringBuilder("? (");
        sb.Append(e.Address).Append(") at ").Append(e.HardwareAddress ?? "(incomplete)").Append(" on ").Append(e.Interface);
        if (e.Permanent)
        {
            sb.Append(" permanent");
        }
        else if (e.ExpiresInSeconds is long s)
        {
            sb.Append(s > 0 ? string.Create(CultureInfo.InvariantCulture, $" expires in {s} seconds") : " expired");
        }

        sb.Append(" [ethernet]\n");
        return sb.ToString();
    }

    private const int AddressWidth = 36, LinkWidth = 17, InterfaceWidth = 6;

    /// <summary>The ndp -a header [derived from ndp.c's format].</summary>
    public static string NdpHeader() =>
        CFormat.LeftTrunc("Neighbor", AddressWidth) + " " + CFormat.LeftTrunc("Linklayer Address", LinkWidth) + " "
        + CFormat.RightTrunc("Netif", InterfaceWidth) + " " + CFormat.LeftTrunc("Expire", 9) + " S Flags\n";

    /// <summary>One ndp -a row: columns shrink to keep alignment when the address is wide [src ndp.c].</summary>
    public static string Ndp(NdpLine e)
    {
        var ll = e.HardwareAddress ?? "(incomplete)";
        var addressWidth = Math.Max(AddressWidth, e.Address.Length);
        var llWidth = Math.Max(ll.Length, AddressWidth + LinkWidth - addressWidth);
        var ifWidth = Math.Max(e.Interface.Length, AddressWidth + LinkWidth + InterfaceWidth - addressWidth - llWidth);
        var sb = new StringBuilder();
        sb.Append(e.Address.PadRight(addressWidth)).Append(' ').Append(ll.PadRight(llWidth)).Append(' ')
          .Append(e.Interface.PadLeft(ifWidth));
        var expire = e.Permanent ? "permanent" : e.ExpiresInSeconds is long s && s > 0 ? SecondsToString(s) : "expired";
        sb.Append(' ').Append(CFormat.LeftTrunc(expire, 9));
        sb.Append(' ').Append(e.State).Append(' ').Append(e.Flags).Append('\n');
        return sb.ToString();
    }

    /// <summary>ndp.c sec2str: <c>1d2h3m4s</c> with leading zero units left out (unconfirmed in this survey).</summary>
    public static string SecondsToString(long total)
    {
        var days = total / 86400;
        var hours = total / 3600 % 24;
        var minutes = total / 60 % 60;
        var seconds = total % 60;
        var sb = new StringBuilder();
        var first = true;
        if (days != 0)
        {
            first = false;
            sb.Append(days.ToString(CultureInfo.InvariantCulture)).Append('d');
        }

        if (!first || hours != 0)
        {
            first = false;
            sb.Append(hours.ToString(CultureInfo.InvariantCulture)).Append('h');
        }

        if (!first || minutes != 0)
        {
            sb.Append(minutes.ToString(CultureInfo.InvariantCulture)).Append('m');
        }

        return sb.Append(seconds.ToString(CultureInfo.InvariantCulture)).Append('s').ToString();
    }

    /// <summary>The jls header [sample].</summary>
    public static string JlsHeader() => "   JID  IP Address      Hostname                      Path\n";

    /// <summary>A jls row <c>%6d  %-15.15s %-29.29s %.74s</c> [sample + replica; widths unconfirmed from source].</summary>
    public static string JlsRow(int jid, string ip, string hostname, string path)
    {
        var p = path.Length > 74 ? path[..74] : path;
        return jid.ToString(CultureInfo.InvariantCulture).PadLeft(6) + "  " + CFormat.LeftTrunc(ip, 15) + " "
            + CFormat.LeftTrunc(hostname, 29) + " " + p + "\n";
    }
}
