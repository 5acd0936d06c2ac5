namespace Sluice.Cli;

/// <summary>One command of a lab script: the text after joining continuations, and the line it starts on.</summary>
internal readonly record struct ScriptCommand(int Line, string Text);

/// <summary>Reads lab scripts: <c>#</c> comments, blank lines, and a trailing <c>\</c> that continues a line.</summary>
internal static class LabScript
{
    /// <summary>Splits <paramref name="text"/> into commands, numbering lines from 1.</summary>
    public static List<ScriptCommand> Parse(string text)
    {
        var commands = new List<ScriptCommand>();
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var pending = new System.Text.StringBuilder();
        var start = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (pending.Length == 0)
            {
                var trimmed = line.TrimStart(' ', '\t');
                if (trimmed.Length == 0 || trimmed[0] == '#')
                {
                    continue;
                }

                start = i + 1;
            }

            if (EndsWithContinuation(line))
            {
                pending.Append(line, 0, line.Length - 1);
                continue;
            }

            pending.Append(line);
            AddIfNotBlank(commands, start, pending.ToString());
            pending.Clear();
        }

        if (pending.Length > 0)
        {
            AddIfNotBlank(commands, start, pending.ToString());
        }

        return commands;
    }

    private static void AddIfNotBlank(List<ScriptCommand> commands, int line, string text)
    {
        if (!string.IsNullOrWhiteSpace(text))
        {
            commands.Add(new ScriptCommand(line, text.Trim()));
        }
    }

    // sh: a backslash escapes the newline only when it is not itself escaped (odd run of trailing backslashes).
    private static bool EndsWithContinuation(string line)
    {
        var count = 0;
        for (var i = line.Length - 1; i >= 0 && line[i] == '\\'; i--)
        {
            count++;
        }

        return (count & 1) == 1;
    }
}
