using System.Globalization;
using System.Text;

namespace Sluice.Pf.Config;

/// <summary>Parses and prints addresses as pfctl does (inet_pton/inet_net_pton, inet_ntop).</summary>
public static class PfAddressText
{
    /// <summary>Prints <paramref name="ip"/> like inet_ntop(3).</summary>
    public static string Format(PfIp ip)
    {
        if (ip.Family == PfFamily.Inet)
        {
            var v = (uint)ip.Bits;
            return string.Create(CultureInfo.InvariantCulture, $"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}");
        }

        Span<int> w = stackalloc int[8];
        for (var i = 0; i < 8; i++)
        {
            w[i] = (int)((ip.Bits >> (112 - (16 * i))) & 0xFFFF);
        }

        int bestBase = -1, bestLen = 0, curBase = -1, curLen = 0;
        for (var i = 0; i < 8; i++)
        {
            if (w[i] == 0)
            {
                if (curBase < 0)
                {
                    curBase = i;
                    curLen = 1;
                }
                else
                {
                    curLen++;
                }
            }
            else if (curBase >= 0)
            {
                if (bestBase < 0 || curLen > bestLen)
                {
                    (bestBase, bestLen) = (curBase, curLen);
                }

                curBase = -1;
            }
        }

        if (curBase >= 0 && (bestBase < 0 || curLen > bestLen))
        {
            (bestBase, bestLen) = (curBase, curLen);
        }

        if (bestBase >= 0 && bestLen < 2)
        {
            bestBase = -1;
        }

        var sb = new StringBuilder();
        for (var i = 0; i < 8; i++)
        {
            if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen)
            {
                if (i == bestBase)
                {
                    sb.Append(':');
                }

                continue;
            }

            if (i != 0)
            {
                sb.Append(':');
            }

            if (i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 7 && w[7] != 1) || (bestLen == 5 && w[5] == 0xffff)))
            {
                var v4 = (uint)ip.Bits;
                sb.Append(CultureInfo.InvariantCulture, $"{v4 >> 24}.{(v4 >> 16) & 255}.{(v4 >> 8) & 255}.{v4 & 255}");
                break;
            }

            sb.Append(w[i].ToString("x", CultureInfo.InvariantCulture));
        }

        if (bestBase >= 0 && bestBase + bestLen == 8)
        {
            sb.Append(':');
        }

        return sb.ToString();
    }

    /// <summary>Parses a dotted-quad IPv4 address (inet_pton: exactly four decimal parts).</summary>
    public static bool TryParseV4(string s, out PfIp ip) => TryParseV4(s, 4, out ip);

    /// <summary>Parses an IPv4 network as inet_net_pton does before a <c>/len</c>: one to four parts.</summary>
    public static bool TryParseV4Net(string s, out PfIp ip) => TryParseV4(s, 1, out ip);

    private static bool TryParseV4(string s, int minParts, out PfIp ip)
    {
        ip = default;
        var parts = s.Split('.');
        if (parts.Length < minParts || parts.Length > 4)
        {
            return false;
        }

        uint v = 0;
        for (var i = 0; i < 4; i++)
        {
            uint octet = 0;
            if (i < parts.Length)
            {
                var p = parts[i];
                if (p.Length == 0 || p.Length > 3 || !p.All(char.IsAsciiDigit))
                {
                    return false;
                }

                octet = uint.Parse(p, CultureInfo.InvariantCulture);
                if (octet > 255)
                {
                    return false;
                }
            }

            v = (v << 8) | octet;
        }

        ip = new PfIp(PfFamily.Inet, v);
        return true;
    }

    /// <summary>Parses an IPv6 address (inet_pton, optionally with an embedded IPv4 tail).</summary>
    public static bool TryParseV6(string s, out PfIp ip)
    {
        ip = default;
        if (s.Length < 2 || !s.Contains(':', StringComparison.Ordinal))
        {
            return false;
        }

        var pct = s.IndexOf('%', StringComparison.Ordinal);
        if (pct >= 0)
        {
            s = s[..pct];
        }

        if (!s.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.'))
        {
            return false;
        }

        var dbl = s.IndexOf("::", StringComparison.Ordinal);
        if (dbl >= 0 && s.IndexOf("::", dbl + 1, StringComparison.Ordinal) >= 0)
        {
            return false;
        }

        var head = dbl >= 0 ? s[..dbl] : s;
        var tail = dbl >= 0 ? s[(dbl + 2)..] : string.Empty;
        var hw = new List<int>();
        var tw = new List<int>();
        if (!Groups(head, hw, dbl < 0 || tail.Length == 0) || !Groups(tail, tw, true))
        {
            return false;
        }

        var total = hw.Count + tw.Count;
        if ((dbl < 0 && total != 8) || (dbl >= 0 && total > 7))
        {
            return false;
        }

        UInt128 bits = 0;
        var words = new List<int>(hw);
        for (var i = 0; i < 8 - total; i++)
        {
            words.Add(0);
        }

        words.AddRange(tw);
        foreach (var word in words)
        {
            bits = (bits << 16) | (uint)word;
        }

        ip = new PfIp(PfFamily.Inet6, bits);
        return true;
    }

    private static bool Groups(string part, List<int> words, bool allowV4)
    {
        if (part.Length == 0)
        {
            return true;
        }

        var items = part.Split(':');
        for (var i = 0; i < items.Length; i++)
        {
            var g = items[i];
            if (i == items.Length - 1 && allowV4 && g.Contains('.', StringComparison.Ordinal))
            {
                if (!TryParseV4(g, out var v4))
                {
                    return false;
                }

                words.Add((int)((uint)v4.Bits >> 16));
                words.Add((int)((uint)v4.Bits & 0xFFFF));
                continue;
            }

            if (g.Length == 0 || g.Length > 4 || !g.All(char.IsAsciiHexDigit))
            {
                return false;
            }

            words.Add(int.Parse(g, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }

        return true;
    }
}
