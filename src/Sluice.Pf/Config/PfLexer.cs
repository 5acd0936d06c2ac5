using System.Text;

namespace Sluice.Pf.Config;

/// <summary>Kind of a pf.conf token.</summary>
internal enum PfTokenKind : byte
{
    Word,
    Quoted,
    Punct,
    Newline,
    Error,
    Eof,
}

/// <summary>A pf.conf token with the line it started on.</summary>
internal readonly record struct PfToken(PfTokenKind Kind, string Text, int Line)
{
    public bool Is(string keyword) => Kind == PfTokenKind.Word && Text == keyword;

    public bool IsPunct(string p) => Kind == PfTokenKind.Punct && Text == p;

    public bool IsString => Kind is PfTokenKind.Word or PfTokenKind.Quoted;

    public override string ToString() => Kind == PfTokenKind.Eof ? "end of file" : Text;
}

/// <summary>
/// Tokenizer of pf.conf as sbin/pfctl/parse.y's yylex: comments, line continuation, quoting, operators
/// (<c>!= &lt;= &gt;= &lt;&gt; &gt;&lt; -&gt;</c>), and <c>$macro</c> expansion outside quotes (not re-expanded inside a macro).
/// </summary>
/// <remarks>Never throws: bad input gives an <see cref="PfTokenKind.Error"/> token after reporting through the callback.</remarks>
internal sealed class PfLexer
{
    private readonly string _text;
    private readonly Func<string, string?> _macro;
    private readonly Action<int, string> _error;
    private int _pos;
    private string? _expansion;
    private int _expansionPos;

    public PfLexer(string text, Func<string, string?> macro, Action<int, string> error)
    {
        _text = text;
        _macro = macro;
        _error = error;
        Line = 1;
    }

    /// <summary>The current line number.</summary>
    public int Line { get; private set; }

    private int Peek()
    {
        if (_expansion is not null)
        {
            if (_expansionPos < _expansion.Length)
            {
                return _expansion[_expansionPos];
            }

            _expansion = null;
        }

        return _pos < _text.Length ? _text[_pos] : -1;
    }

    private bool Expanding => _expansion is not null && _expansionPos < _expansion.Length;

    private int Get()
    {
        while (true)
        {
            if (_expansion is not null)
            {
                if (_expansionPos < _expansion.Length)
                {
                    return _expansion[_expansionPos++];
                }

                _expansion = null;
            }

            if (_pos >= _text.Length)
            {
                return -1;
            }

            var c = _text[_pos++];
            if (c == '\\' && _pos < _text.Length && _text[_pos] == '\n')
            {
                _pos++;
                Line++;
                continue;
            }

            if (c == '\\' && _pos + 1 < _text.Length && _text[_pos] == '\r' && _text[_pos + 1] == '\n')
            {
                _pos += 2;
                Line++;
                continue;
            }

            return c;
        }
    }

    private void Unget()
    {
        if (_expansion is not null && _expansionPos > 0)
        {
            _expansionPos--;
            return;
        }

        // Only called right after Get() returned a character of the file.
        _pos--;
    }

    private static bool AllowedInString(int c) =>
        c > 32 && c < 127 && (char.IsAsciiLetterOrDigit((char)c) || (c != '(' && c != ')' && c != '{' && c != '}'
            && c != '<' && c != '>' && c != '!' && c != '=' && c != '/' && c != '#' && c != ',' && c != '"' && c != '\''
            && c != '\\'));

    /// <summary>Reads everything up to the end of the line (parse.y's findeol), for error recovery.</summary>
    public void SkipToEndOfLine()
    {
        _expansion = null;
        while (_pos < _text.Length && _text[_pos] != '\n')
        {
            if (_text[_pos] == '\\' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n')
            {
                _pos += 2;
                Line++;
                continue;
            }

            _pos++;
        }
    }

    /// <summary>Returns the next token.</summary>
    public PfToken Next()
    {
        while (true)
        {
            var c = Get();
            while (c is ' ' or '\t' or '\r' or '\f' or '\v')
            {
                c = Get();
            }

            var line = Line;
            if (c == '#')
            {
                while (c != '\n' && c != -1)
                {
                    c = Get();
                }
            }

            if (c == -1)
            {
                return new PfToken(PfTokenKind.Eof, string.Empty, line);
            }

            if (c == '\n')
            {
                var t = new PfToken(PfTokenKind.Newline, "\n", line);
                Line++;
                return t;
            }

            if (c == '$' && !Expanding)
            {
                var name = new StringBuilder();
                int d;
                while ((d = Peek()) != -1 && (char.IsAsciiLetterOrDigit((char)d) || d == '_'))
                {
                    name.Append((char)Get());
                }

                if (name.Length == 0)
                {
                    _error(line, "syntax error");
                    return new PfToken(PfTokenKind.Error, "$", line);
                }

                var value = _macro(name.ToString());
                if (value is null)
                {
                    _error(line, $"macro '{name}' not defined");
                    return new PfToken(PfTokenKind.Error, "$" + name, line);
                }

                _expansion = value;
                _expansionPos = 0;
                continue;
            }

            if (c is '"' or '\'')
            {
                var quote = c;
                var sb = new StringBuilder();
                while (true)
                {
                    var d = Get();
                    if (d == -1)
                    {
                        _error(line, "syntax error");
                        return new PfToken(PfTokenKind.Error, sb.ToString(), line);
                    }

                    if (d == '\n')
                    {
                        Line++;
                        continue;
                    }

                    if (d == '\\')
                    {
                        var e = Get();
                        if (e == quote || e == '\\')
                        {
                            sb.Append((char)e);
                            continue;
                        }

                        if (e == -1)
                        {
                            continue;
                        }

                        sb.Append('\\');
                        d = e;
                    }
                    else if (d == quote)
                    {
                        break;
                    }

                    sb.Append((char)d);
                }

                return new PfToken(PfTokenKind.Quoted, sb.ToString(), line);
            }

            switch (c)
            {
                case '!':
                    if (Peek() == '=')
                    {
                        Get();
                        return new PfToken(PfTokenKind.Punct, "!=", line);
                    }

                    break;
                case '<':
                    if (Peek() == '>')
                    {
                        Get();
                        return new PfToken(PfTokenKind.Punct, "<>", line);
                    }

                    if (Peek() == '=')
                    {
                        Get();
                        return new PfToken(PfTokenKind.Punct, "<=", line);
                    }

                    break;
                case '>':
                    if (Peek() == '<')
                    {
                        Get();
                        return new PfToken(PfTokenKind.Punct, "><", line);
                    }

                    if (Peek() == '=')
                    {
                        Get();
                        return new PfToken(PfTokenKind.Punct, ">=", line);
                    }

                    break;
                case '-':
                    if (Peek() == '>')
                    {
                        Get();
                        return new PfToken(PfTokenKind.Punct, "->", line);
                    }

                    break;
            }

            if (char.IsAsciiLetterOrDigit((char)c) || c == ':' || c == '_' || c == '*' || c == '.')
            {
                var sb = new StringBuilder();
                sb.Append((char)c);
                int d;
                while ((d = Peek()) != -1 && AllowedInString(d))
                {
                    sb.Append((char)Get());
                }

                return new PfToken(PfTokenKind.Word, sb.ToString(), line);
            }

            if (c < 32 || c > 126)
            {
                // Control or non-ASCII bytes never form a token pf accepts.
                return new PfToken(PfTokenKind.Punct, ((char)c).ToString(), line);
            }

            return new PfToken(PfTokenKind.Punct, ((char)c).ToString(), line);
        }
    }
}
