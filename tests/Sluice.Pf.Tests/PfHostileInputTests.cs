using CsCheck;
using Sluice.Pf.Config;

namespace Sluice.Pf.Tests;

/// <summary>Malformed pf.conf never throws; every error carries <c>file:line:</c> or is a bare pfctl warning.</summary>
public sealed class PfHostileInputTests
{
    private static readonly string[] Tokens =
    [
        "pass", "block", "match", "in", "out", "on", "em0", "lo0", "inet", "inet6", "proto", "tcp", "udp", "icmp", "from", "to",
        "any", "all", "port", "22", "80:90", "!", "{", "}", "(", ")", "<", ">", ",", "/", "=", "!=", "><", "<>", "->", "-",
        "$x", "x", "=", "\"q\"", "keep", "state", "modulate", "synproxy", "no", "flags", "S/SA", "label", "tag", "tagged",
        "nat", "rdr", "binat", "anchor", "table", "<t>", "persist", "const", "set", "limit", "timeout", "skip", "scrub",
        "return-rst", "return-icmp", "log", "quick", "route-to", "reply-to", "dup-to", "10.0.0.1", "10.0.0.0/8", "::1",
        "2001:db8::/32", "(em0)", "self", "no-route", "user", "group", "icmp-type", "echoreq", "code", "max-src-conn-rate",
        "3/10", "overload", "flush", "global", "\\\n", "\n", "#c\n", "include", "round-robin", "static-port", "probability",
        "50%", "once", "max", "source-track", "rule", "sloppy", "\t", " ", "\"", "'", "$", "\\",
    ];

    private static void NeverThrows(string text)
    {
        var r = PfParser.Parse(text, "f", new PfParseOptions { ReadFile = _ => null });
        foreach (var d in r.Diagnostics)
        {
            Assert.False(string.IsNullOrEmpty(d));
        }

        if (!r.Success)
        {
            Assert.Contains(r.Diagnostics, d => d.StartsWith("f:", StringComparison.Ordinal));
        }
        else
        {
            _ = PfPrinter.Print(r.Ruleset!);
        }
    }

    [Fact]
    public void RandomTokenSoupNeverThrows()
    {
        Gen.Int[0, Tokens.Length - 1].Array[0, 40]
            .Select(ix => string.Join(' ', ix.Select(i => Tokens[i])))
            .Sample(NeverThrows, iter: 12_000, threads: 1);
    }

    [Fact]
    public void RandomBytesNeverThrow()
    {
        Gen.Char[(char)0, (char)127].Array[0, 200].Select(cs => new string(cs)).Sample(NeverThrows, iter: 5_000, threads: 1);
    }

    [Fact]
    public void MutatedConformanceVectorsNeverThrow()
    {
        var folder = FindVectors();
        var files = folder is null ? [] : Directory.GetFiles(folder, "*.in").Select(File.ReadAllText).ToArray();
        Assert.NotEmpty(files);
        Gen.Select(Gen.Int[0, files.Length - 1], Gen.Int[0, 4000], Gen.Int[0, Tokens.Length - 1], Gen.Int[0, 3])
            .Select(t =>
            {
                var (fi, pos, tok, mode) = t;
                var s = files[fi];
                var p = s.Length == 0 ? 0 : pos % (s.Length + 1);
                return mode switch
                {
                    0 => s[..p] + s[Math.Min(s.Length, p + 3)..],
                    1 => s[..p] + Tokens[tok] + s[p..],
                    2 => s[..p],
                    _ => s.Replace(' ', (char)(33 + (tok % 90))),
                };
            })
            .Sample(NeverThrows, iter: 5_000, threads: 1);
    }

    [Fact]
    public void ErrorsCarryTheLineNumberOfTheBadLine()
    {
        Gen.Int[0, 30].Sample(n =>
        {
            var text = string.Concat(Enumerable.Repeat("pass in\n", n)) + "pass in on } x\n";
            var r = PfParser.Parse(text, "f");
            Assert.False(r.Success);
            Assert.Contains($"f:{n + 1}: syntax error", r.Diagnostics);
        }, iter: 100);
    }

    private static string? FindVectors()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var c = Path.Combine(dir.FullName, "shared", "conformance", "pfctl");
            if (Directory.Exists(c))
            {
                return c;
            }
        }

        return null;
    }
}
