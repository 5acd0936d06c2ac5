namespace Sluice.Cli;

/// <summary>
/// BSD getopt(3): option letters cluster (<c>-qc3</c>), an option argument is the rest of the word or the next word,
/// <c>--</c> ends options, and scanning stops at the first operand.
/// </summary>
/// <remarks>
/// Diagnostics use FreeBSD libc's wording (<c>illegal option -- x</c>, <c>option requires an argument -- x</c>).
/// Never throws on any input.
/// </remarks>
internal ref struct GetOpt
{
    private readonly ReadOnlySpan<string> _args;
    private readonly string _spec;
    private int _index;
    private int _charPos;

    public GetOpt(ReadOnlySpan<string> args, string spec)
    {
        _args = args;
        _spec = spec;
        _index = 0;
        _charPos = 0;
    }

    /// <summary>The argument of the option just returned, if it takes one.</summary>
    public string? OptionArgument { get; private set; }

    /// <summary>The offending letter after <see cref="Next"/> returned '?' or ':'.</summary>
    public char OptionLetter { get; private set; }

    /// <summary>Index of the first operand once <see cref="Next"/> returned -1.</summary>
    public readonly int OperandIndex => _index;

    /// <summary>
    /// Returns the next option letter, '?' for an unknown letter, ':' for a missing argument, or -1 when options end.
    /// </summary>
    public int Next()
    {
        OptionArgument = null;
        if (_charPos == 0)
        {
            if (_index >= _args.Length)
            {
                return -1;
            }

            var word = _args[_index] ?? string.Empty;
            if (word.Length < 2 || word[0] != '-')
            {
                return -1;
            }

            if (word == "--")
            {
                _index++;
                return -1;
            }

            _charPos = 1;
        }

        var current = _args[_index];
        var letter = current[_charPos++];
        OptionLetter = letter;
        var at = letter == ':' ? -1 : _spec.IndexOf(letter, StringComparison.Ordinal);
        if (at < 0)
        {
            Advance(current);
            return '?';
        }

        var takesArgument = at + 1 < _spec.Length && _spec[at + 1] == ':';
        if (!takesArgument)
        {
            Advance(current);
            return letter;
        }

        if (_charPos < current.Length)
        {
            OptionArgument = current[_charPos..];
            _index++;
            _charPos = 0;
            return letter;
        }

        _index++;
        _charPos = 0;
        if (_index >= _args.Length || _args[_index] is null)
        {
            return ':';
        }

        OptionArgument = _args[_index++];
        return letter;
    }

    /// <summary>The FreeBSD libc message for the last '?' or ':' result, prefixed with the program name.</summary>
    public readonly string Diagnostic(string program, int result) => result == ':'
        ? $"{program}: option requires an argument -- {OptionLetter}"
        : $"{program}: illegal option -- {OptionLetter}";

    private void Advance(string current)
    {
        if (_charPos >= current.Length)
        {
            _index++;
            _charPos = 0;
        }
    }
}
