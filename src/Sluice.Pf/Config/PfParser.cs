using System.Collections.Immutable;
using System.Globalization;

namespace Sluice.Pf.Config;

/// <summary>The outcome of parsing a pf.conf: a rule set (null when any error was found) and pfctl's diagnostics.</summary>
/// <param name="Ruleset">The parsed rule set, or null when the file had an error (nothing may be applied).</param>
/// <param name="Diagnostics">What pfctl prints on stderr, in order (<c>file:line: message</c> and bare warnings).</param>
/// <param name="Partial">Statements parsed before the error (pfctl -v still prints macros, options and tables).</param>
public sealed record PfParseResult(PfRuleset? Ruleset, ImmutableArray<string> Diagnostics, PfRuleset Partial)
{
    /// <summary>True when the file parsed without error.</summary>
    public bool Success => Ruleset is not null;
}

/// <summary>Options of a parse.</summary>
public sealed record PfParseOptions
{
    /// <summary>Resolves interface names to addresses.</summary>
    public IPfInterfaceResolver Interfaces { get; init; } = PfNoInterfaces.Instance;

    /// <summary>Directory relative paths (<c>include</c>, table files) are resolved against.</summary>
    public string WorkingDirectory { get; init; } = ".";

    /// <summary>Reads a file; null when it cannot be read (the default reads the file system).</summary>
    public Func<string, string?> ReadFile { get; init; } = DefaultRead;

    /// <summary>Macros defined on the command line (<c>-D name=value</c>).</summary>
    public IReadOnlyDictionary<string, string> Defines { get; init; } = new Dictionary<string, string>();

    private static string? DefaultRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return null;
        }
    }
}

/// <summary>
/// pf.conf(5) parser (FreeBSD 14 grammar, after sbin/pfctl/parse.y): produces expanded <see cref="PfRule"/>s.
/// </summary>
/// <remarks>Never throws for any input; errors are reported as pfctl does and make the whole file fail.</remarks>
public sealed partial class PfParser
{
    private const int MaxIncludeDepth = 16;

    private readonly PfParseOptions _options;
    private readonly List<string> _diagnostics = [];
    private readonly Dictionary<string, string> _macros = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PfTableDef> _tables = new(StringComparer.Ordinal);
    private int _errors;
    private bool _blockReturn;
    private int _anchorSerial;

    // Current lexing context.
    private PfLexer _lexer = null!;
    private string _file = string.Empty;
    private readonly List<PfToken> _peeked = [];
    private int _includeDepth;

    private PfParser(PfParseOptions options)
    {
        _options = options;
        foreach (var kv in options.Defines)
        {
            _macros[kv.Key] = kv.Value;
        }
    }

    /// <summary>Parses <paramref name="text"/>, naming it <paramref name="fileName"/> in diagnostics.</summary>
    public static PfParseResult Parse(string text, string fileName, PfParseOptions? options = null)
    {
        var p = new PfParser(options ?? new PfParseOptions());
        var top = new RulesetBuilder();
        p._top = top;
        try
        {
            p.ParseFile(text ?? string.Empty, fileName ?? "-", top, nested: false);
        }
        catch (Exception e) when (e is InsufficientExecutionStackException or OverflowException or ArgumentException or FormatException or IndexOutOfRangeException or InvalidOperationException)
        {
            // Defensive: any internal failure is a syntax error of the file, never a crash.
            p._diagnostics.Add($"{fileName}:{p._lexer?.Line ?? 0}: syntax error");
            p._errors++;
        }

        var rs = top.Build();
        return new PfParseResult(p._errors == 0 ? rs : null, [.. p._diagnostics], rs);
    }

    private sealed class ParseAbort : Exception
    {
    }

    private void ParseFile(string text, string fileName, RulesetBuilder rs, bool nested)
    {
        var savedLexer = _lexer;
        var savedFile = _file;
        var savedPeeked = _peeked.ToList();
        _peeked.Clear();
        _file = fileName;
        _lexer = new PfLexer(text, name => _macros.GetValueOrDefault(name), (line, msg) => Report(line, msg));
        try
        {
            ParseStatements(rs, inAnchor: false);
        }
        finally
        {
            _lexer = savedLexer;
            _file = savedFile;
            _peeked.Clear();
            _peeked.AddRange(savedPeeked);
        }

        _ = nested;
    }

    private void Report(int line, string message)
    {
        _diagnostics.Add($"{_file}:{line}: {message}");
        _errors++;
    }

    private void Warn(string message) => _diagnostics.Add(message);

    private PfToken T => Peek(0);

    private PfToken Peek(int k)
    {
        while (_peeked.Count <= k)
        {
            _peeked.Add(_lexer.Next());
        }

        return _peeked[k];
    }

    private PfToken Advance()
    {
        var t = Peek(0);
        _peeked.RemoveAt(0);
        return t;
    }

    /// <summary>Reports <paramref name="message"/> at the current token's line and abandons the statement.</summary>
    private ParseAbort Fail(string message, int? line = null)
    {
        if (T.Kind != PfTokenKind.Error || message != "syntax error")
        {
            Report(line ?? T.Line, message);
        }
        else
        {
            // The lexer already reported (macro not defined); yacc adds its syntax error.
            Report(T.Line, "syntax error");
        }

        return new ParseAbort();
    }

    private ParseAbort Syntax() => Fail("syntax error");

    private bool Accept(string keyword)
    {
        if (T.Is(keyword))
        {
            Advance();
            return true;
        }

        return false;
    }

    private bool AcceptPunct(string p)
    {
        if (T.IsPunct(p))
        {
            Advance();
            return true;
        }

        return false;
    }

    private void Expect(string keyword)
    {
        if (!Accept(keyword))
        {
            throw Syntax();
        }
    }

    private void ExpectPunct(string p)
    {
        if (!AcceptPunct(p))
        {
            throw Syntax();
        }
    }

    private string ExpectString()
    {
        if (!T.IsString)
        {
            throw Syntax();
        }

        return Advance().Text;
    }

    private void SkipNewlines()
    {
        while (T.Kind == PfTokenKind.Newline)
        {
            Advance();
        }
    }

    private void SkipComma()
    {
        SkipNewlines();
        AcceptPunct(",");
        SkipNewlines();
    }

    private bool AtEndOfStatement => T.Kind is PfTokenKind.Newline or PfTokenKind.Eof || T.IsPunct("}");

    private void Recover()
    {
        // parse.y's "error '\n'": drop the rest of the line.
        var sawNewline = false;
        for (var i = 0; i < _peeked.Count; i++)
        {
            if (_peeked[i].Kind is PfTokenKind.Newline or PfTokenKind.Eof)
            {
                _peeked.RemoveRange(0, i);
                sawNewline = true;
                break;
            }
        }

        if (!sawNewline)
        {
            _peeked.Clear();
            _lexer.SkipToEndOfLine();
        }
    }

    private void ParseStatements(RulesetBuilder rs, bool inAnchor)
    {
        while (true)
        {
            var t = T;
            if (t.Kind == PfTokenKind.Eof)
            {
                return;
            }

            if (t.Kind == PfTokenKind.Newline)
            {
                Advance();
                continue;
            }

            if (inAnchor && t.IsPunct("}"))
            {
                return;
            }

            try
            {
                Statement(rs, inAnchor);
                if (!AtEndOfStatement)
                {
                    throw Syntax();
                }

                if (T.Kind == PfTokenKind.Newline)
                {
                    Advance();
                }
                else if (T.IsPunct("}") && !inAnchor)
                {
                    throw Syntax();
                }
            }
            catch (ParseAbort)
            {
                Recover();
            }
        }
    }

    private void Statement(RulesetBuilder rs, bool inAnchor)
    {
        var t = T;
        if (t.Kind == PfTokenKind.Word && Peek(1).IsPunct("="))
        {
            VarSet();
            return;
        }

        if (t.Kind != PfTokenKind.Word)
        {
            throw Syntax();
        }

        switch (t.Text)
        {
            case "include":
                Include(rs);
                return;
            case "set":
                if (inAnchor)
                {
                    throw Syntax();
                }

                Option(rs);
                return;
            case "table":
                TableDef(rs);
                return;
            case "pass" or "block" or "match":
                FilterRule(rs);
                return;
            case "scrub":
                ScrubRule(rs, no: false);
                return;
            case "no":
                Advance();
                if (T.Is("scrub"))
                {
                    ScrubRule(rs, no: true);
                    return;
                }

                if (T.Is("nat") || T.Is("rdr"))
                {
                    NatRule(rs, no: true);
                    return;
                }

                if (T.Is("binat"))
                {
                    BinatRule(rs, no: true);
                    return;
                }

                throw Syntax();
            case "nat" or "rdr":
                NatRule(rs, no: false);
                return;
            case "binat":
                BinatRule(rs, no: false);
                return;
            case "anchor" or "nat-anchor" or "rdr-anchor" or "binat-anchor":
                AnchorRule(rs);
                return;
            case "load":
                LoadAnchor(rs);
                return;
            case "antispoof":
                Antispoof(rs);
                return;
            case "ether":
                EtherRule(rs);
                return;
            case "altq":
                if (inAnchor)
                {
                    throw Syntax();
                }

                AltqDef();
                return;
            case "queue":
                if (inAnchor)
                {
                    throw Syntax();
                }

                QueueDef();
                return;
            case "state" or "source" when Peek(1).Is("limiter"):
                if (inAnchor)
                {
                    throw Syntax();
                }

                LimiterDef();
                return;
            default:
                throw Syntax();
        }
    }

    private void VarSet()
    {
        var nameTok = Advance();
        Advance(); // '='
        var parts = new List<string>();
        while (T.IsString)
        {
            parts.Add(Advance().Text);
        }

        if (parts.Count == 0 || !AtEndOfStatement)
        {
            throw Syntax();
        }

        var name = nameTok.Text;
        if (name.Any(char.IsWhiteSpace))
        {
            throw Fail("macro name cannot contain whitespace");
        }

        var value = string.Join(' ', parts);
        if (!_options.Defines.ContainsKey(name))
        {
            _macros[name] = value;
        }

        _top.Statements.Add(new PfMacroStatement(nameTok.Line, name, value));
    }

    private RulesetBuilder _top = null!;

    private void Include(RulesetBuilder rs)
    {
        var line = Advance().Line;
        if (T.Kind != PfTokenKind.Quoted && T.Kind != PfTokenKind.Word)
        {
            throw Syntax();
        }

        var path = Advance().Text;
        if (!AtEndOfStatement)
        {
            throw Syntax();
        }

        var text = _options.ReadFile(Resolve(path));
        if (text is null)
        {
            throw Fail($"failed to include file {path}", line);
        }

        if (_includeDepth >= MaxIncludeDepth)
        {
            throw Fail("include depth exceeded", line);
        }

        _includeDepth++;
        try
        {
            ParseFile(text, path, rs, nested: true);
        }
        finally
        {
            _includeDepth--;
        }
    }

    private string Resolve(string path) =>
        Path.IsPathRooted(path) ? path : Path.Combine(_options.WorkingDirectory, path);

    private static uint ParseUInt(string s, out bool ok)
    {
        ok = false;
        if (s.Length == 0)
        {
            return 0;
        }

        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            uint hx = 0;
            ok = s.Length > 2 && uint.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out hx);
            return ok ? hx : 0;
        }

        if (!s.All(char.IsAsciiDigit))
        {
            return 0;
        }

        ok = uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v);
        return v;
    }

    private uint ExpectNumber(uint max = uint.MaxValue)
    {
        if (T.Kind != PfTokenKind.Word)
        {
            throw Syntax();
        }

        var v = ParseUInt(T.Text, out var ok);
        if (!ok || !T.Text.All(char.IsAsciiDigit))
        {
            throw Syntax();
        }

        if (v > max)
        {
            throw Fail($"illegal value {v}");
        }

        Advance();
        return v;
    }

    private bool IsNumber(PfToken t) => t.Kind == PfTokenKind.Word && t.Text.Length > 0 && t.Text.All(char.IsAsciiDigit);

    /// <summary>Accumulates one rule set's statements and rules.</summary>
    private sealed class RulesetBuilder
    {
        public List<PfStatement> Statements { get; } = [];
        public List<PfRule> Scrub { get; } = [];
        public List<PfRule> Nat { get; } = [];
        public List<PfRule> Rdr { get; } = [];
        public List<PfRule> Binat { get; } = [];
        public List<PfRule> Filter { get; } = [];
        public List<PfEtherRule> Ether { get; } = [];

        public List<PfRule> For(PfAction action) => action switch
        {
            PfAction.Scrub or PfAction.NoScrub => Scrub,
            PfAction.Nat or PfAction.NoNat => Nat,
            PfAction.Rdr or PfAction.NoRdr => Rdr,
            PfAction.Binat or PfAction.NoBinat => Binat,
            _ => Filter,
        };

        public PfRuleset Build() => new([.. Statements], [.. Scrub], [.. Nat], [.. Rdr], [.. Binat], [.. Filter]) { Ether = [.. Ether] };
    }
}

