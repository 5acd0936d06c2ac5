using System.Globalization;

namespace Sluice.Cli.Formatting;

/// <summary>printf-compatible number formatting where .NET's rules differ from C's.</summary>
internal static class CFormat
{
    /// <summary>
    /// C's <c>%.Nf</c>: rounds the exact binary value half-to-even (glibc's default rounding mode), where .NET's
    /// "F" format rounds half away from zero (0.25 → "0.3" instead of C's "0.2").
    /// </summary>
    public static string Fixed(double value, int decimals)
    {
        if (double.IsNaN(value) || double.IsInfinity(value))
        {
            return value.ToString(CultureInfo.InvariantCulture);
        }

        // .NET Core 3.0+ prints the exact decimal expansion of a double for large precisions.
        var exact = value.ToString("F120", CultureInfo.InvariantCulture);
        var negative = exact[0] == '-';
        if (negative)
        {
            exact = exact[1..];
        }

        var dot = exact.IndexOf('.', StringComparison.Ordinal);
        var intPart = exact[..dot];
        var frac = exact[(dot + 1)..];
        var kept = intPart + frac[..decimals];
        var rest = frac[decimals..];
        var roundUp = false;
        if (rest.Length > 0)
        {
            if (rest[0] > '5')
            {
                roundUp = true;
            }
            else if (rest[0] == '5')
            {
                var tailNonZero = rest.AsSpan(1).IndexOfAnyExcept('0') >= 0;
                roundUp = tailNonZero || ((kept[^1] - '0') & 1) == 1;
            }
        }

        var digits = kept.ToCharArray();
        if (roundUp)
        {
            var i = digits.Length - 1;
            while (i >= 0)
            {
                if (digits[i] == '9')
                {
                    digits[i] = '0';
                    i--;
                    continue;
                }

                digits[i]++;
                break;
            }

            if (i < 0)
            {
                digits = ['1', .. digits];
            }
        }

        var all = new string(digits);
        var integerDigits = all.Length - decimals;
        var text = decimals == 0 ? all : all[..integerDigits] + "." + all[integerDigits..];
        return negative ? "-" + text : text; // printf keeps the sign of a negative value that rounds to zero
    }

    /// <summary><c>%-W.Ws</c>: left-justified in <paramref name="width"/>, truncated to it.</summary>
    public static string LeftTrunc(string s, int width) => s.Length > width ? s[..width] : s.PadRight(width);

    /// <summary><c>%W.Ws</c>: right-justified in <paramref name="width"/>, truncated to it.</summary>
    public static string RightTrunc(string s, int width) => s.Length > width ? s[..width] : s.PadLeft(width);

    /// <summary>FreeBSD's <c>plural()</c>: "s" unless n is 1.</summary>
    public static string Plural(long n) => n == 1 ? string.Empty : "s";

    /// <summary>FreeBSD's <c>plurales()</c>: "es" unless n is 1.</summary>
    public static string PluralEs(long n) => n == 1 ? string.Empty : "es";

    /// <summary>FreeBSD's <c>pluralies()</c>: "y" for 1, otherwise "ies".</summary>
    public static string PluralIes(long n) => n == 1 ? "y" : "ies";

    /// <summary>Formats <paramref name="bits"/> as printb(3)-style <c>hex&lt;NAME,NAME&gt;</c>; unnamed bits are skipped.</summary>
    public static string Bits(ulong bits, IReadOnlyList<(ulong Bit, string Name)> names)
    {
        var parts = new List<string>();
        foreach (var (bit, name) in names)
        {
            if ((bits & bit) != 0)
            {
                parts.Add(name);
            }
        }

        return bits.ToString("x", CultureInfo.InvariantCulture) + "<" + string.Join(',', parts) + ">";
    }
}
