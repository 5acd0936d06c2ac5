using System.Globalization;
using System.Text;

namespace Sluice.Pf.Config;

public sealed partial class PfParser
{
    private readonly Dictionary<string, uint> _stateLimiters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, uint> _sourceLimiters = new(StringComparer.Ordinal);

    /// <summary>
    /// <c>state limiter name id n limit n [rate n/secs]</c> and
    /// <c>source limiter name id n entries n limit n [rate n/secs] [inet mask len] [inet6 mask len] [table &lt;t&gt; above n [below n]]</c>.
    /// </summary>
    private void LimiterDef()
    {
        var line = T.Line;
        var source = Advance().Text == "source";
        Expect("limiter");
        var kind = source ? "source" : "state";
        var name = ExpectString();
        if (name.Length == 0 || name.Length >= 32)
        {
            throw Fail($"{kind} limiter name is invalid", line);
        }

        uint? id = null, limit = null, entries = null;
        (uint Limit, uint Seconds) rate = default;
        string? table = null;
        uint above = 0, below = 0;
        int inetMask = 32, inet6Mask = 128;
        while (!AtEndOfStatement)
        {
            if (Accept("id"))
            {
                id = id is null ? ExpectNumber() : throw Fail("id cannot be respecified");
                if (id == 0)
                {
                    throw Fail($"{kind} limiter id must be greater than 0", line);
                }
            }
            else if (Accept("limit"))
            {
                limit = limit is null ? ExpectNumber() : throw Fail("limit cannot be respecified");
                if (limit == 0)
                {
                    throw Fail($"{kind} limiter limit must be greater than 0", line);
                }
            }
            else if (Accept("rate"))
            {
                if (rate.Limit != 0)
                {
                    throw Fail("rate cannot be respecified");
                }

                var n = ExpectNumber();
                ExpectPunct("/");
                var secs = ExpectNumber();
                if (n == 0 || secs == 0)
                {
                    throw Fail("rate must be greater than 0", line);
                }

                rate = (n, secs);
            }
            else if (source && Accept("entries"))
            {
                entries = entries is null ? ExpectNumber() : throw Fail("entries cannot be respecified");
                if (entries == 0)
                {
                    throw Fail("source limiter entries must be greater than 0", line);
                }
            }
            else if (source && (T.Is("inet") || T.Is("inet6")))
            {
                var v6 = Advance().Text == "inet6";
                Expect("mask");
                var len = (int)ExpectNumber(v6 ? 128u : 32u);
                if (v6)
                {
                    inet6Mask = len;
                }
                else
                {
                    inetMask = len;
                }
            }
            else if (source && Accept("table"))
            {
                ExpectPunct("<");
                table = ExpectString();
                ExpectPunct(">");
                Expect("above");
                above = ExpectNumber();
                if (Accept("below"))
                {
                    below = ExpectNumber();
                    if (below > above)
                    {
                        throw Fail("below must not be greater than above", line);
                    }
                }
            }
            else
            {
                throw Syntax();
            }
        }

        if (id is null || limit is null || (source && entries is null))
        {
            throw Fail($"{kind} limiter {name} requires id, {(source ? "entries and " : string.Empty)}limit", line);
        }

        var map = source ? _sourceLimiters : _stateLimiters;
        if (map.ContainsKey(name))
        {
            throw Fail($"duplicate {kind} limiter name {name}", line);
        }

        if (map.ContainsValue(id.Value))
        {
            throw Fail($"duplicate {kind} limiter id {id}", line);
        }

        map[name] = id.Value;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{kind} limiter {name} id {id}");
        if (source)
        {
            sb.Append(CultureInfo.InvariantCulture, $" entries {entries}");
        }

        sb.Append(CultureInfo.InvariantCulture, $" limit {limit}");
        if (rate.Limit != 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $" rate {rate.Limit}/{rate.Seconds}");
        }

        if (table is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $" table <{table}> above {above}");
            if (below != 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $" below {below}");
            }
        }

        if (inetMask != 32)
        {
            sb.Append(CultureInfo.InvariantCulture, $" inet mask {inetMask}");
        }

        if (inet6Mask != 128)
        {
            sb.Append(CultureInfo.InvariantCulture, $" inet6 mask {inet6Mask}");
        }

        _top.Statements.Add(new PfLimiterStatement(line, source, name, id.Value, limit.Value, rate, entries ?? 0, table, above, below, inetMask, inet6Mask, sb.ToString()));
    }

    /// <summary>The rule option <c>(state|source) limiter (name | id n) [(block|no-match)]</c>; returns the limiter id and action.</summary>
    private (int Id, string Action) LimiterRef()
    {
        var line = T.Line;
        var source = Advance().Text == "source";
        Expect("limiter");
        var kind = source ? "source" : "state";
        var map = source ? _sourceLimiters : _stateLimiters;
        uint id;
        if (T.Is("id") && IsNumber(Peek(1)))
        {
            Advance();
            id = ExpectNumber();
            if (id == 0)
            {
                throw Fail($"{kind} limiter id must be greater than 0", line);
            }
        }
        else
        {
            var name = ExpectString();
            if (!map.TryGetValue(name, out id))
            {
                throw Fail($"{kind} limiter {name} not found", line);
            }
        }

        var action = "no-match";
        if (AcceptPunct("("))
        {
            action = Accept("block") ? "block" : Accept("no-match") ? "no-match" : throw Syntax();
            ExpectPunct(")");
        }

        return ((int)id, action);
    }
}
