using System.Text;

namespace Sluice.Cli;

/// <summary>Splits a command line into words the way sh(1) does for quoting (no expansion, no operators).</summary>
/// <remarks>
/// Single quotes keep everything literally; double quotes keep everything except <c>\"</c>, <c>\\</c>, <c>\$</c>
/// and <c>\`</c>; an unquoted backslash escapes the next character; an unquoted <c>#</c> at the start of a word
/// starts a comment. Never throws.
/// </remarks>
internal static class ShellWords
{
    /// <summary>Splits <paramref name="line"/>; false with an error message for an unterminated quote.</summary>
    public static bool TrySplit(string line, out List<string> words, out string? error)
    {
        words = [];
        error = null;
        var word = new StringBuilder();
        var inWord = false;
        var i = 0;
        while (i < line.Length)
        {
            var c = line[i];
            if (c is ' ' or '\t' or '\r' or '\n')
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }

                i++;
                continue;
            }

            if (c == '#' && !inWord)
            {
                break;
            }

            inWord = true;
            switch (c)
            {
                case '\'':
                    {
                        var end = line.IndexOf('\'', i + 1);
                        if (end < 0)
                        {
                            error = "unterminated quoted string";
                            return false;
                        }

                        word.Append(line, i + 1, end - i - 1);
                        i = end + 1;
                        break;
                    }

                case '"':
                    {
                        i++;
                        var closed = false;
                        while (i < line.Length)
                        {
                            var d = line[i];
                            if (d == '"')
                            {
                                closed = true;
                                i++;
                                break;
                            }

                            if (d == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\' or '$' or '`')
                            {
                                word.Append(line[i + 1]);
                                i += 2;
                                continue;
                            }

                            word.Append(d);
                            i++;
                        }

                        if (!closed)
                        {
                            error = "unterminated quoted string";
                            return false;
                        }

                        break;
                    }

                case '\\':
                    if (i + 1 < line.Length)
                    {
                        word.Append(line[i + 1]);
                        i += 2;
                    }
                    else
                    {
                        i++;
                    }

                    break;

                default:
                    word.Append(c);
                    i++;
                    break;
            }
        }

        if (inWord)
        {
            words.Add(word.ToString());
        }

        return true;
    }
}
