using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Sluice.Cli.Formatting;

/// <summary>Round-trip accounting exactly as FreeBSD ping keeps it (tsum, tsum2, tmin, tmax over replies and duplicates).</summary>
internal sealed class PingTally
{
    public long Transmitted { get; set; }

    public long Received { get; private set; }

    public long Duplicates { get; private set; }

    public long OutOfWaitTime { get; set; }

    public bool Timing { get; set; } = true;

    public double Min { get; private set; } = double.MaxValue;

    public double Max { get; private set; }

    public double Sum { get; private set; }

    public double SumOfSquares { get; private set; }

    /// <summary>Counts a reply (or a duplicate) with its round-trip time in milliseconds.</summary>
    public void AddReply(double rttMs, bool duplicate)
    {
        if (duplicate)
        {
            Duplicates++;
        }
        else
        {
            Received++;
        }

        if (Timing)
        {
            Sum += rttMs;
            SumOfSquares += rttMs * rttMs;
            Min = Math.Min(Min, rttMs);
            Max = Math.Max(Max, rttMs);
        }
    }
}

/// <summary>FreeBSD 14 ping/ping -6 output lines (sbin/ping/ping.c, ping6.c, main.c pr_summary).</summary>
internal static class PingFormat
{
    /// <summary><c>PING name (addr): N data bytes</c>, or <c>... (addr) from src: ...</c> with -S [test].</summary>
    public static string Banner4(string name, string address, string? source, int dataLength) => source is null
        ? $"PING {name} ({address}): {dataLength} data bytes"
        : $"PING {name} ({address}) from {source}: {dataLength} data bytes";

    /// <summary>14.0+ IPv6 banner <c>PING(104=40+8+56 bytes) src --> dst</c> [test; 13.x said PING6].</summary>
    public static string Banner6(string source, string destination, int dataLength) =>
        $"PING({40 + 8 + dataLength}=40+8+{dataLength} bytes) {source} --> {destination}";

    /// <summary>The IPv4 reply line from pr_pack [src].</summary>
    public static string Reply4(int bytes, string from, int seq, int ttl, double? rttMs, bool duplicate)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{bytes} bytes from {from}: icmp_seq={seq} ttl={ttl}");
        if (rttMs is double t)
        {
            sb.Append(" time=").Append(CFormat.Fixed(t, 3)).Append(" ms");
        }

        if (duplicate)
        {
            sb.Append(" (DUP!)");
        }

        return sb.ToString();
    }

    /// <summary>The IPv6 reply line: comma after the address and <c>hlim=</c> [test]; ping6.c appends "(DUP!)" without a space (from memory, unconfirmed).</summary>
    public static string Reply6(int bytes, string from, int seq, int hopLimit, double? rttMs, bool duplicate)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{bytes} bytes from {from}, icmp_seq={seq} hlim={hopLimit}");
        if (rttMs is double t)
        {
            sb.Append(" time=").Append(CFormat.Fixed(t, 3)).Append(" ms");
        }

        if (duplicate)
        {
            sb.Append("(DUP!)");
        }

        return sb.ToString();
    }

    /// <summary>The summary block, starting with its blank line (main.c pr_summary, 14+) [src].</summary>
    public static string Summary(string host, PingTally t)
    {
        var sb = new StringBuilder();
        sb.Append('\n').Append(CultureInfo.InvariantCulture, $"--- {host} ping statistics ---\n");
        sb.Append(CultureInfo.InvariantCulture, $"{t.Transmitted} packets transmitted, ");
        sb.Append(CultureInfo.InvariantCulture, $"{t.Received} packets received, ");
        if (t.Duplicates != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"+{t.Duplicates} duplicates, ");
        }

        if (t.Transmitted != 0)
        {
            if (t.Received > t.Transmitted)
            {
                sb.Append("-- somebody's duplicating packets!");
            }
            else
            {
                sb.Append(CFormat.Fixed((t.Transmitted - t.Received) * 100.0 / t.Transmitted, 1)).Append("% packet loss");
            }
        }

        if (t.OutOfWaitTime != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $", {t.OutOfWaitTime} packets out of wait time");
        }

        sb.Append('\n');
        if (t.Received != 0 && t.Timing)
        {
            var n = (double)(t.Received + t.Duplicates);
            var avg = t.Sum / n;
            var stddev = Math.Sqrt(Math.Max(0, (t.SumOfSquares / n) - (avg * avg)));
            sb.Append("round-trip min/avg/max/stddev = ")
              .Append(CFormat.Fixed(t.Min, 3)).Append('/')
              .Append(CFormat.Fixed(avg, 3)).Append('/')
              .Append(CFormat.Fixed(t.Max, 3)).Append('/')
              .Append(CFormat.Fixed(stddev, 3)).Append(" ms\n");
        }

        return sb.ToString();
    }

    /// <summary>pr_icmph's description of an ICMPv4 error (ping.c, from memory of FreeBSD's strings; common ones [test]).</summary>
    public static string Icmp4Error(int type, int code, int nextHopMtu) => type switch
    {
        3 => code switch
        {
            0 => "Destination Net Unreachable",
            1 => "Destination Host Unreachable",
            2 => "Destination Protocol Unreachable",
            3 => "Destination Port Unreachable",
            4 => $"frag needed and DF set (MTU {nextHopMtu})",
            5 => "Source Route Failed",
            6 => "Destination Net Unknown",
            7 => "Destination Host Unknown",
            8 => "Source Host Isolated",
            9 => "Destination Net Prohibited",
            10 => "Destination Host Prohibited",
            11 => "Destination Net Unreachable for TOS",
            12 => "Destination Host Unreachable for TOS",
            13 => "Communication prohibited by filter",
            14 => "Host precedence violation",
            15 => "Precedence cutoff in effect",
            _ => $"Dest Unreachable, Bad Code: {code}",
        },
        4 => "Source Quench",
        5 => code switch
        {
            0 => "Redirect Network",
            1 => "Redirect Host",
            2 => "Redirect Type of Service and Network",
            3 => "Redirect Type of Service and Host",
            _ => $"Redirect, Bad Code: {code}",
        },
        11 => code switch
        {
            0 => "Time to live exceeded",
            1 => "Frag reassembly time exceeded",
            _ => $"Time exceeded, Bad Code: {code}",
        },
        12 => "Parameter problem",
        _ => $"Bad ICMP type: {type}",
    };

    /// <summary>
    /// pr_iph: the quoted IPv4 header as <c>Vr HL TOS  Len   ID Flg  off TTL Pro  cks  Src  Dst</c> and its values [test].
    /// Returns the two lines (without the trailing empty line ping prints after them).
    /// </summary>
    public static string QuotedHeader4(ReadOnlySpan<byte> ip)
    {
        if (ip.Length < 20)
        {
            return string.Empty;
        }

        var hl = ip[0] & 0x0f;
        var src = $"{ip[12]}.{ip[13]}.{ip[14]}.{ip[15]}";
        var dst = $"{ip[16]}.{ip[17]}.{ip[18]}.{ip[19]}";
        var fragment = BinaryPrimitives.ReadUInt16BigEndian(ip[6..]);
        var sb = new StringBuilder();
        sb.Append("Vr HL TOS  Len   ID Flg  off TTL Pro  cks ");
        sb.Append(src.Length > 3 ? "Src".PadLeft(src.Length) : "Src").Append(' ');
        sb.Append(dst.Length > 3 ? "Dst".PadLeft(dst.Length) : "Dst");
        if (hl > 5)
        {
            sb.Append(" Opts");
        }

        sb.Append('\n');
        sb.Append(CultureInfo.InvariantCulture, $" {ip[0] >> 4:x1}  {hl:x1}  {ip[1]:x2} {BinaryPrimitives.ReadUInt16BigEndian(ip[2..]):x4} {BinaryPrimitives.ReadUInt16BigEndian(ip[4..]):x4}");
        sb.Append(CultureInfo.InvariantCulture, $"   {fragment >> 13:x1} {fragment & 0x1fff:x4}");
        sb.Append(CultureInfo.InvariantCulture, $"  {ip[8]:x2}  {ip[9]:x2} {BinaryPrimitives.ReadUInt16BigEndian(ip[10..]):x4}");
        sb.Append(' ').Append(src).Append(' ').Append(dst);
        for (var i = 20; i < hl * 4 && i < ip.Length; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{ip[i]:x2}");
        }

        return sb.ToString();
    }

    /// <summary>ping6.c pr_icmph descriptions for ICMPv6 errors (from memory, unconfirmed).</summary>
    public static string Icmp6Error(int type, int code, int mtu) => type switch
    {
        1 => code switch
        {
            0 => "No Route to Destination",
            1 => "Destination Administratively Unreachable",
            2 => "Destination Unreachable Beyond Scope",
            3 => "Destination Host Unreachable",
            4 => "Destination Port Unreachable",
            _ => $"Destination Unreachable, Bad Code: {code}",
        },
        2 => $"Packet too big mtu = {mtu}",
        3 => code switch
        {
            0 => "Time to live exceeded",
            1 => "Frag reassembly time exceeded",
            _ => $"Time exceeded, Bad Code: {code}",
        },
        4 => "Parameter problem",
        _ => $"Bad ICMP type: {type}",
    };
}
