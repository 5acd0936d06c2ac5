using System.Globalization;
using System.Text;
using Sluice.Stack;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;

namespace Sluice.Cli;

/// <summary>
/// setkey(8), the tcp-md5 part of the SAD: <c>-c</c> (commands from stdin), <c>-f file</c>, <c>-F</c> (flush),
/// <c>-D</c> (dump); commands <c>add SRC DST tcp SPI -A tcp-md5 KEY ;</c>, <c>get</c>, <c>delete SRC DST tcp SPI ;</c>,
/// <c>deleteall SRC DST tcp ;</c>, <c>flush [tcp] ;</c>, <c>dump [tcp] ;</c>.
/// </summary>
/// <remarks>
/// Keys are <c>"text"</c> or <c>0xHEX</c>. Other protocols (esp, ah, ipcomp), other algorithms and the SPD
/// commands are refused with an error naming the line. Parse errors read <c>line N: MESSAGE at [TOKEN]</c> (the
/// shape of setkey's yyerror) and kernel errors <c>The result of line N: STRERROR.</c>; both wordings are from
/// memory, unconfirmed. The dump prints the first four lines of libipsec's pfkey_sadump (addresses; satype, mode,
/// spi, reqid; the <c>A:</c> key line; seq, replay, flags, state) and leaves out its lifetime and
/// sadb_seq/pid lines, which describe kernel bookkeeping Sluice does not keep; the key's hex grouping and the
/// flags value are unconfirmed. An empty SAD dumps as <c>No SAD entries.</c>
/// </remarks>
internal sealed class Setkey : ITool
{
    private const string UsageText =
        "usage: setkey [-v] -c\n"
        + "       setkey [-v] -f filename\n"
        + "       setkey [-v] -D\n"
        + "       setkey [-v] -F\n";

    public int Run(ToolContext ctx, ReadOnlySpan<string> args) =>
        Execute(ctx.Stack, args, ctx.Lab.Input ?? TextReader.Null, ctx.Out, ctx.Err);

    /// <summary>Runs setkey with <paramref name="args"/> against <paramref name="stack"/>'s SAD; never throws for bad input.</summary>
    internal static int Execute(NetStack stack, ReadOnlySpan<string> args, TextReader stdin, TextWriter stdout, TextWriter stderr)
    {
        char mode = '\0';
        string? file = null;
        var opt = new GetOpt(args, "cf:DFPvnah");
        int c;
        while ((c = opt.Next()) != -1)
        {
            switch (c)
            {
                case 'c' or 'D' or 'F':
                    mode = (char)c;
                    break;
                case 'f':
                    mode = 'f';
                    file = opt.OptionArgument;
                    break;
                case 'P':
                    stderr.WriteLine("setkey: the security policy database (-P) is not supported by Sluice");
                    return 1;
                case 'v' or 'n' or 'a':
                    break;
                default:
                    stderr.WriteLine(opt.Diagnostic("setkey", c));
                    stderr.Write(UsageText);
                    return 1;
            }
        }

        if (opt.OperandIndex != args.Length || mode == '\0')
        {
            stderr.Write(UsageText);
            return 1;
        }

        var sad = TcpStack.Attach(stack).Md5Keys;
        switch (mode)
        {
            case 'F':
                sad.Flush();
                return 0;
            case 'D':
                Dump(sad, null, stdout);
                return 0;
            case 'c':
                return RunText(sad, stdin.ReadToEnd(), stdout, stderr);
            default:
                string text;
                try
                {
                    text = File.ReadAllText(file!);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    stderr.WriteLine($"setkey: {file}: {e.Message}");
                    return 1;
                }

                return RunText(sad, text, stdout, stderr);
        }
    }

    /// <summary>Parses and runs every command of <paramref name="text"/>; stops at the first syntax error (as yacc does).</summary>
    internal static int RunText(TcpMd5KeyDatabase sad, string text, TextWriter stdout, TextWriter stderr)
    {
        var tokens = Tokenize(text, out var lexError);
        if (lexError is not null)
        {
            stderr.WriteLine(lexError);
            return 1;
        }

        var status = 0;
        var i = 0;
        while (i < tokens.Count)
        {
            var start = i;
            while (i < tokens.Count && tokens[i].Text != ";")
            {
                i++;
            }

            if (i == tokens.Count)
            {
                var last = tokens[^1];
                stderr.WriteLine($"line {last.Line}: syntax error (missing ';') at [{last.Text}]");
                return 1;
            }

            var statement = tokens.GetRange(start, i - start);
            i++; // ';'
            if (statement.Count == 0)
            {
                continue;
            }

            if (!TryRun(sad, statement, stdout, out var error, out var kernelError))
            {
                if (error is not null)
                {
                    stderr.WriteLine(error);
                    return 1;
                }

                stderr.WriteLine($"The result of line {statement[0].Line}: {ErrnoText.Describe(kernelError)}.");
                status = 1;
            }
        }

        return status;
    }

    private static bool TryRun(TcpMd5KeyDatabase sad, List<Token> st, TextWriter stdout, out string? error, out Errno kernelError)
    {
        error = null;
        kernelError = Errno.None;
        var verb = st[0];
        var args = st.GetRange(1, st.Count - 1);
        // add/get/delete/deleteall take address-family flags (-4, -6, -n) before the addresses.
        while (args.Count > 0 && args[0].Text is "-4" or "-6" or "-n" or "-4n" or "-6n" && verb.Text is "add" or "get" or "delete" or "deleteall")
        {
            args.RemoveAt(0);
        }

        switch (verb.Text)
        {
            case "flush":
            case "dump":
                if (args.Count > 1 || (args.Count == 1 && args[0].Text != "tcp"))
                {
                    error = args.Count == 1 && IsProtocol(args[0].Text)
                        ? $"line {args[0].Line}: protocol '{args[0].Text}' is not supported by Sluice (only tcp) at [{args[0].Text}]"
                        : Syntax(args.Count > 1 ? args[1] : args[0]);
                    return false;
                }

                if (verb.Text == "flush")
                {
                    sad.Flush();
                }
                else
                {
                    Dump(sad, null, stdout);
                }

                return true;
            case "add":
            case "get":
            case "delete":
            case "deleteall":
            {
                var need = verb.Text == "deleteall" ? 3 : 4;
                if (args.Count < need)
                {
                    error = $"line {verb.Line}: syntax error ({verb.Text} needs SRC DST PROTOCOL{(need == 4 ? " SPI" : "")}) at [{(args.Count > 0 ? args[^1].Text : verb.Text)}]";
                    return false;
                }

                if (!TryAddress(args[0], out var src, out error) || !TryAddress(args[1], out var dst, out error))
                {
                    return false;
                }

                if (src.IsIPv6 != dst.IsIPv6)
                {
                    error = $"line {args[1].Line}: source and destination address families differ at [{args[1].Text}]";
                    return false;
                }

                if (args[2].Text != "tcp")
                {
                    error = IsProtocol(args[2].Text)
                        ? $"line {args[2].Line}: protocol '{args[2].Text}' is not supported by Sluice (only tcp with -A tcp-md5) at [{args[2].Text}]"
                        : Syntax(args[2]);
                    return false;
                }

                if (verb.Text == "deleteall")
                {
                    if (args.Count > 3)
                    {
                        error = Syntax(args[3]);
                        return false;
                    }

                    kernelError = sad.DeleteAll(src, dst);
                    return kernelError == Errno.None;
                }

                if (!TrySpi(args[3], out var spi, out error))
                {
                    return false;
                }

                if (verb.Text is "delete" or "get")
                {
                    if (args.Count > 4)
                    {
                        error = Syntax(args[4]);
                        return false;
                    }

                    if (verb.Text == "delete")
                    {
                        kernelError = sad.Delete(src, dst, spi);
                        return kernelError == Errno.None;
                    }

                    foreach (var e in sad.Associations)
                    {
                        if (e.Source == src && e.Destination == dst && e.Spi == spi)
                        {
                            Dump(sad, e, stdout);
                            return true;
                        }
                    }

                    kernelError = Errno.ESRCH;
                    return false;
                }

                if (!TryAuthentication(args, 4, out var key, out error))
                {
                    return false;
                }

                kernelError = sad.Add(src, dst, spi, key);
                return kernelError == Errno.None;
            }

            case "spdadd" or "spddelete" or "spdflush" or "spddump" or "spdupdate" or "spddeleteall":
                error = $"line {verb.Line}: the security policy database ({verb.Text}) is not supported by Sluice at [{verb.Text}]";
                return false;
            case "update":
                error = $"line {verb.Line}: 'update' is not supported by Sluice (delete and add instead) at [{verb.Text}]";
                return false;
            default:
                error = Syntax(verb);
                return false;
        }
    }

    private static bool TryAuthentication(List<Token> args, int at, out byte[] key, out string? error)
    {
        key = [];
        error = null;
        var i = at;
        var haveKey = false;
        while (i < args.Count)
        {
            var t = args[i];
            switch (t.Text)
            {
                case "-A":
                    if (i + 2 >= args.Count)
                    {
                        error = $"line {t.Line}: syntax error (-A needs an algorithm and a key) at [{args[^1].Text}]";
                        return false;
                    }

                    if (args[i + 1].Text != "tcp-md5")
                    {
                        error = $"line {args[i + 1].Line}: algorithm '{args[i + 1].Text}' is not supported by Sluice (only tcp-md5) at [{args[i + 1].Text}]";
                        return false;
                    }

                    if (!TryKey(args[i + 2], out key, out error))
                    {
                        return false;
                    }

                    haveKey = true;
                    i += 3;
                    break;
                case "-m" when i + 1 < args.Count && args[i + 1].Text is "any" or "transport" or "tcp":
                case "-r" or "-u" or "-lh" or "-ls" when i + 1 < args.Count:
                    i += 2; // mode, replay window, reqid, lifetimes: nothing to keep for tcp-md5
                    break;
                case "-E" or "-C":
                    error = $"line {t.Line}: {t.Text} is not supported for tcp (only -A tcp-md5) at [{t.Text}]";
                    return false;
                default:
                    error = Syntax(t);
                    return false;
            }
        }

        if (!haveKey)
        {
            var last = args[^1];
            error = $"line {last.Line}: syntax error (add for tcp needs -A tcp-md5 KEY) at [{last.Text}]";
            return false;
        }

        return true;
    }

    private static bool TryKey(Token t, out byte[] key, out string? error)
    {
        error = null;
        if (t.Quoted)
        {
            key = Encoding.UTF8.GetBytes(t.Text);
            if (key.Length == 0 || key.Length > 80)
            {
                error = $"line {t.Line}: tcp-md5 key must be 1 to 80 bytes at [\"{t.Text}\"]";
                return false;
            }

            return true;
        }

        var s = t.Text;
        key = [];
        if (!s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || s.Length < 4 || s.Length % 2 != 0 || s.Length > 162)
        {
            error = $"line {t.Line}: bad key (expected \"text\" or 0x followed by an even number of hex digits) at [{s}]";
            return false;
        }

        try
        {
            key = Convert.FromHexString(s.AsSpan(2));
            return true;
        }
        catch (FormatException)
        {
            error = $"line {t.Line}: bad key (not hexadecimal) at [{s}]";
            return false;
        }
    }

    private static bool TrySpi(Token t, out uint spi, out string? error)
    {
        error = null;
        var s = t.Text;
        var ok = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out spi)
            : uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out spi);
        if (!ok)
        {
            error = $"line {t.Line}: bad SPI (expected a number) at [{s}]";
            return false;
        }

        return true;
    }

    private static bool TryAddress(Token t, out InetAddress address, out string? error)
    {
        error = null;
        if (t.Quoted || !InetAddress.TryParse(t.Text, out address))
        {
            address = default;
            error = $"line {t.Line}: bad address (expected an IPv4 or IPv6 address) at [{t.Text}]";
            return false;
        }

        return true;
    }

    private static bool IsProtocol(string s) => s is "esp" or "esp-old" or "ah" or "ah-old" or "ipcomp" or "tcp";

    private static string Syntax(Token t) => $"line {t.Line}: syntax error at [{(t.Quoted ? "\"" + t.Text + "\"" : t.Text)}]";

    private static void Dump(TcpMd5KeyDatabase sad, TcpMd5Association? only, TextWriter stdout)
    {
        if (only is null && sad.Associations.Count == 0)
        {
            stdout.WriteLine("No SAD entries.");
            return;
        }

        foreach (var e in sad.Associations)
        {
            if (only is not null && !ReferenceEquals(e, only))
            {
                continue;
            }

            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"{e.Source} {e.Destination}\n");
            sb.Append(CultureInfo.InvariantCulture, $"\ttcp mode=any spi={e.Spi}(0x{e.Spi:x8}) reqid=0(0x00000000)\n");
            sb.Append("\tA: tcp-md5 ");
            for (var i = 0; i < e.Key.Length; i++)
            {
                if (i > 0 && i % 4 == 0)
                {
                    sb.Append(' ');
                }

                sb.Append(CultureInfo.InvariantCulture, $"{e.Key[i]:x2}");
            }

            sb.Append('\n');
            sb.Append("\tseq=0x00000000 replay=0 flags=0x00000040 state=mature \n");
            stdout.Write(sb.ToString());
        }
    }

    private readonly record struct Token(string Text, int Line, bool Quoted);

    /// <summary>Words, <c>"quoted"</c> strings and <c>;</c>; <c>#</c> comments to the end of the line.</summary>
    private static List<Token> Tokenize(string text, out string? error)
    {
        error = null;
        var tokens = new List<Token>();
        var line = 1;
        var i = 0;
        while (i < text.Length)
        {
            var ch = text[i];
            if (ch == '\n')
            {
                line++;
                i++;
            }
            else if (char.IsWhiteSpace(ch))
            {
                i++;
            }
            else if (ch == '#')
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }
            }
            else if (ch == ';')
            {
                tokens.Add(new Token(";", line, false));
                i++;
            }
            else if (ch == '"')
            {
                var end = text.IndexOf('"', i + 1);
                if (end < 0)
                {
                    error = $"line {line}: unterminated string at [{text[i..Math.Min(text.Length, i + 20)].TrimEnd()}]";
                    return tokens;
                }

                tokens.Add(new Token(text[(i + 1)..end], line, true));
                line += text.AsSpan(i, end - i).Count('\n');
                i = end + 1;
            }
            else
            {
                var start = i;
                while (i < text.Length && !char.IsWhiteSpace(text[i]) && text[i] is not ';' and not '"' and not '#')
                {
                    i++;
                }

                tokens.Add(new Token(text[start..i], line, false));
            }
        }

        return tokens;
    }
}
