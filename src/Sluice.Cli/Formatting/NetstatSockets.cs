using System.Globalization;
using System.Text;

namespace Sluice.Cli.Formatting;

/// <summary>One socket row of <c>netstat -a</c>: protocol name and version suffix, queues, endpoints, TCP state (null for UDP).</summary>
internal sealed record SocketRow(
    string Protocol,
    string Version,
    long ReceiveQueue,
    long SendQueue,
    string LocalAddress,
    int LocalPort,
    string ForeignAddress,
    int ForeignPort,
    string? State,
    bool LocalNumericPort,
    bool ForeignNumericPort);

/// <summary>netstat's socket listing (usr.bin/netstat/inet.c protopr, inetprint, inet6print) [src].</summary>
internal static class NetstatSockets
{
    private const int AddressWidth = 22;

    // The few services getservbyport(3) would name; everything else prints as a number.
    private static readonly Dictionary<int, string> Services = new()
    {
        [21] = "ftp", [22] = "ssh", [23] = "telnet", [25] = "smtp", [53] = "domain", [80] = "http", [110] = "pop3",
        [123] = "ntp", [143] = "imap", [443] = "https", [514] = "shell", [8080] = "http-alt",
    };

    /// <summary>The title line: <c>Active Internet connections</c>, with <c> (including servers)</c> under <c>-a</c>.</summary>
    public static string Title(bool all) => all ? "Active Internet connections (including servers)\n" : "Active Internet connections\n";

    /// <summary>
    /// The column header: <c>%-5.5s %-6.6s %-6.6s %-22.22s %-22.22s</c> and <c> (state)</c> padded to 11, which leaves four
    /// trailing blanks [src].
    /// </summary>
    public static string Header() =>
        CFormat.LeftTrunc("Proto", 5) + " " + CFormat.LeftTrunc("Recv-Q", 6) + " " + CFormat.LeftTrunc("Send-Q", 6) + " "
        + CFormat.LeftTrunc("Local Address", AddressWidth) + " " + CFormat.LeftTrunc("Foreign Address", AddressWidth)
        + " " + CFormat.LeftTrunc("(state)", 11) + "\n";

    /// <summary>
    /// One row: <c>%-3.3s%-2.2s </c> protocol, <c>%6u %6u </c> queues, two <c>inetprint</c> columns, then the state
    /// (<c>%-11s</c> from tcpstates[]); UDP rows end after the foreign column's padding and blank.
    /// </summary>
    public static string Line(SocketRow row)
    {
        var sb = new StringBuilder();
        sb.Append(CFormat.LeftTrunc(row.Protocol, 3)).Append(CFormat.LeftTrunc(row.Version, 2)).Append(' ');
        sb.Append(Number(row.ReceiveQueue).PadLeft(6)).Append(' ').Append(Number(row.SendQueue).PadLeft(6)).Append(' ');
        sb.Append(Endpoint(row.LocalAddress, row.LocalPort, row.LocalNumericPort));
        sb.Append(Endpoint(row.ForeignAddress, row.ForeignPort, row.ForeignNumericPort));
        if (row.State is { } state)
        {
            sb.Append(state.PadRight(11));
        }

        sb.Append('\n');
        return sb.ToString();
    }

    /// <summary>
    /// inetprint: the address (<c>*</c> for the wildcard) truncated to 16 characters, a dot, the port (<c>*</c> for 0, a
    /// service name of at most 15 characters unless numeric), padded and truncated to 22, then a blank [src].
    /// </summary>
    public static string Endpoint(string address, int port, bool numericPort)
    {
        var line = new StringBuilder();
        line.Append(address.Length > 16 ? address[..16] : address).Append('.');
        if (port == 0)
        {
            line.Append('*');
        }
        else if (!numericPort && Services.TryGetValue(port, out var name))
        {
            line.Append(name.Length > 15 ? name[..15] : name);
        }
        else
        {
            line.Append(port.ToString(CultureInfo.InvariantCulture));
        }

        return CFormat.LeftTrunc(line.ToString(), AddressWidth) + " ";
    }

    private static string Number(long n) => Math.Max(0, n).ToString(CultureInfo.InvariantCulture);
}
