using System.Globalization;
using System.Reflection;
using Sluice.Stack.Sockets;

namespace Sluice.Cli.Packetdrill;

/// <summary>
/// Evaluates the Python-like statements of packetdrill's <c>%{ }%</c> blocks over a socket's TCP_INFO:
/// <c>assert EXPR[, message]</c> with integers, <c>tcpi_*</c> fields, <c>TCPI_*</c> constants, comparisons,
/// <c>| &amp; + - * // %</c>, parentheses and <c>and/or/not</c>.
/// </summary>
/// <remarks>Never throws: a malformed statement is reported through the error string.</remarks>
internal static class TcpInfoExpression
{
    private static readonly Dictionary<string, long> Constants = new(StringComparer.Ordinal)
    {
        ["TCPI_CLOSED"] = 0, ["TCPI_LISTEN"] = 1, ["TCPI_SYN_SENT"] = 2, ["TCPI_SYN_RECEIVED"] = 3, ["TCPI_ESTABLISHED"] = 4,
        ["TCPI_CLOSE_WAIT"] = 5, ["TCPI_FIN_WAIT_1"] = 6, ["TCPI_CLOSING"] = 7, ["TCPI_LAST_ACK"] = 8, ["TCPI_FIN_WAIT_2"] = 9,
        ["TCPI_TIME_WAIT"] = 10,
        ["TCPI_OPT_TIMESTAMPS"] = 0x01, ["TCPI_OPT_SACK"] = 0x02, ["TCPI_OPT_WSCALE"] = 0x04, ["TCPI_OPT_ECN"] = 0x08, ["TCPI_OPT_TOE"] = 0x10,
        ["True"] = 1, ["False"] = 0,
    };

    /// <summary>Evaluates one statement; <paramref name="ok"/> is the assertion's outcome.</summary>
    public static bool TryEvaluateStatement(string statement, TcpInfo info, out bool ok, out string? error)
    {
        ok = true;
        error = null;
        var s = statement.Trim();
        if (!s.StartsWith("assert", StringComparison.Ordinal) || (s.Length > 6 && !char.IsWhiteSpace(s[6]) && s[6] != '('))
        {
            error = $"unsupported statement '{Clip(s)}' (only assert)";
            return false;
        }

        var tokens = Tokenize(s[6..], out error);
        if (tokens is null)
        {
            return false;
        }

        // Drop ", message" after the condition (at bracket depth 0).
        var depth = 0;
        for (var i = 0; i < tokens.Count; i++)
        {
            depth += tokens[i] == "(" ? 1 : tokens[i] == ")" ? -1 : 0;
            if (tokens[i] == "," && depth == 0)
            {
                tokens = tokens[..i];
                break;
            }
        }

        var p = new Parser(tokens, info);
        var v = p.Expression(0);
        if (p.Error is null && !p.AtEnd)
        {
            p.Error = $"unexpected '{p.Current}'";
        }

        if (p.Error is not null)
        {
            error = p.Error;
            return false;
        }

        ok = v != 0;
        return true;
    }

    /// <summary>The values of the <c>tcpi_*</c> fields a statement names, for a failure message.</summary>
    public static string Explain(string statement, TcpInfo info)
    {
        var tokens = Tokenize(statement, out _) ?? [];
        var parts = tokens.Where(t => t.StartsWith("tcpi_", StringComparison.Ordinal)).Distinct()
            .Select(t => Field(t, info) is { } v ? $"{t} = {v}" : $"{t} unknown");
        return string.Join(", ", parts);
    }

    private static string Clip(string s) => s.Length > 40 ? s[..40] + "..." : s;

    private static long? Field(string name, TcpInfo info)
    {
        var f = typeof(TcpInfo).GetField(name, BindingFlags.Public | BindingFlags.Instance);
        return f?.GetValue(info) switch
        {
            byte b => b,
            uint u => u,
            int i => i,
            TcpInfoOptions o => (long)o,
            _ => null,
        };
    }

    private static List<string>? Tokenize(string s, out string? error)
    {
        error = null;
        var list = new List<string>();
        var i = 0;
        while (i < s.Length)
        {
            var c = s[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                var b = i;
                while (i < s.Length && (char.IsAsciiLetterOrDigit(s[i]) || s[i] == '_'))
                {
                    i++;
                }

                list.Add(s[b..i]);
                continue;
            }

            if (char.IsAsciiDigit(c))
            {
                var b = i;
                while (i < s.Length && (char.IsAsciiLetterOrDigit(s[i]) || s[i] == '_'))
                {
                    i++;
                }

                list.Add(s[b..i]);
                continue;
            }

            if (c is '"' or '\'')
            {
                var end = s.IndexOf(c, i + 1);
                if (end < 0)
                {
                    error = "unterminated string";
                    return null;
                }

                list.Add(s[i..(end + 1)]);
                i = end + 1;
                continue;
            }

            var two = i + 1 < s.Length ? s.Substring(i, 2) : "";
            if (two is "==" or "!=" or "<=" or ">=" or "//" or "<<" or ">>")
            {
                list.Add(two);
                i += 2;
                continue;
            }

            if ("()<>|&+-*%,^~".Contains(c, StringComparison.Ordinal))
            {
                list.Add(c.ToString());
                i++;
                continue;
            }

            error = $"unexpected character '{c}'";
            return null;
        }

        return list;
    }

    private sealed class Parser(List<string> tokens, TcpInfo info)
    {
        private int _pos;
        private int _depth;

        public string? Error { get; set; }

        public bool AtEnd => _pos >= tokens.Count;

        public string Current => AtEnd ? "end" : tokens[_pos];

        private static int Precedence(string op) => op switch
        {
            "or" => 1,
            "and" => 2,
            "==" or "!=" or "<" or ">" or "<=" or ">=" => 4,
            "|" => 5,
            "^" => 6,
            "&" => 7,
            "<<" or ">>" => 8,
            "+" or "-" => 9,
            "*" or "//" or "%" => 10,
            _ => -1,
        };

        public long Expression(int minPrec)
        {
            if (++_depth > 64)
            {
                Error ??= "expression nested too deeply";
                return 0;
            }

            var left = Unary();
            while (Error is null && !AtEnd)
            {
                var op = tokens[_pos];
                var prec = Precedence(op);
                if (prec < 0 || prec < minPrec)
                {
                    break;
                }

                _pos++;
                var right = Expression(prec + 1);
                left = Apply(op, left, right);
            }

            _depth--;
            return left;
        }

        private long Apply(string op, long a, long b)
        {
            switch (op)
            {
                case "or": return a != 0 || b != 0 ? 1 : 0;
                case "and": return a != 0 && b != 0 ? 1 : 0;
                case "==": return a == b ? 1 : 0;
                case "!=": return a != b ? 1 : 0;
                case "<": return a < b ? 1 : 0;
                case ">": return a > b ? 1 : 0;
                case "<=": return a <= b ? 1 : 0;
                case ">=": return a >= b ? 1 : 0;
                case "|": return a | b;
                case "^": return a ^ b;
                case "&": return a & b;
                case "<<": return b is >= 0 and < 63 ? a << (int)b : 0;
                case ">>": return b is >= 0 and < 63 ? a >> (int)b : 0;
                case "+": return unchecked(a + b);
                case "-": return unchecked(a - b);
                case "*": return unchecked(a * b);
                case "//" or "%":
                    if (b == 0)
                    {
                        Error ??= "division by zero";
                        return 0;
                    }

                    if (a == long.MinValue && b == -1)
                    {
                        return op == "%" ? 0 : a;
                    }

                    return op == "%" ? a % b : a / b;
                default:
                    Error ??= $"unknown operator {op}";
                    return 0;
            }
        }

        private long Unary()
        {
            if (AtEnd)
            {
                Error ??= "unexpected end of expression";
                return 0;
            }

            var t = tokens[_pos++];
            switch (t)
            {
                case "not":
                    return Expression(3) == 0 ? 1 : 0;
                case "-":
                    return unchecked(-Unary());
                case "~":
                    return ~Unary();
                case "+":
                    return Unary();
                case "(":
                {
                    var v = Expression(0);
                    if (Current != ")")
                    {
                        Error ??= "missing ')'";
                        return 0;
                    }

                    _pos++;
                    return v;
                }
            }

            if (char.IsAsciiDigit(t[0]))
            {
                if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && long.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var h))
                {
                    return h;
                }

                if (long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var d))
                {
                    return d;
                }

                Error ??= $"bad number '{t}'";
                return 0;
            }

            if (Constants.TryGetValue(t, out var c))
            {
                return c;
            }

            if (t.StartsWith("tcpi_", StringComparison.Ordinal) && Field(t, info) is { } f)
            {
                return f;
            }

            Error ??= $"unknown name '{t}'";
            return 0;
        }
    }
}
