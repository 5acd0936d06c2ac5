using System.Globalization;
using System.Text;

namespace Sluice.Cli.Packetdrill;

/// <summary>
/// Parses the packetdrill dialect of the FreeBSD TCP test suite (nplab packetdrill): header options, comments,
/// <c>#ifdef</c> blocks, times, packet lines, ICMP lines, system calls, shell commands and <c>%{ }%</c> blocks.
/// </summary>
/// <remarks>Never throws: every problem is returned as <c>FILE:LINE: message</c>.</remarks>
internal static class PacketdrillParser
{
    /// <summary>Symbols defined for <c>#ifdef</c> (the interpreter stands in for FreeBSD).</summary>
    public static readonly IReadOnlySet<string> Defines = new HashSet<string>(StringComparer.Ordinal) { "FreeBSD" };

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> is <c>FILE:LINE: message</c>.</summary>
    public static bool TryParse(string text, string fileName, out PacketdrillScript script, out string? error)
    {
        script = new PacketdrillScript { FileName = fileName };
        error = null;
        try
        {
            foreach (var (line, statement) in Statements(text ?? string.Empty))
            {
                ParseStatement(script, line, statement);
            }

            return true;
        }
        catch (ScriptException e)
        {
            error = $"{fileName}:{e.Line}: {e.Message}";
            return false;
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            error = $"{fileName}: syntax error: {e.Message}";
            return false;
        }
    }

    // ---------------------------------------------------------------- statements

    /// <summary>Splits the text into statements (one per line, except backticks, %{ }% and open brackets), dropping comments and excluded #ifdef parts.</summary>
    internal static List<(int Line, string Text)> Statements(string text)
    {
        var result = new List<(int, string)>();
        var sb = new StringBuilder();
        var line = 1;
        var startLine = 1;
        var depth = 0;
        var conditions = new Stack<(bool Active, bool ParentActive)>();
        var active = true;
        var i = 0;

        void Flush()
        {
            var s = sb.ToString().Trim();
            sb.Clear();
            depth = 0;
            if (s.Length == 0)
            {
                return;
            }

            if (s[0] == '#')
            {
                Directive(s, startLine);
                return;
            }

            if (active)
            {
                result.Add((startLine, s));
            }
        }

        void Directive(string s, int at)
        {
            var parts = s[1..].Trim().Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries);
            var word = parts.Length > 0 ? parts[0] : "";
            var arg = parts.Length > 1 ? parts[1].Trim() : "";
            switch (word)
            {
                case "ifdef" or "ifndef":
                    if (arg.Length == 0)
                    {
                        throw new ScriptException(at, $"#{word} needs a symbol");
                    }

                    conditions.Push((active, active));
                    active = active && (Defines.Contains(arg) == (word == "ifdef"));
                    break;
                case "else":
                    if (conditions.Count == 0)
                    {
                        throw new ScriptException(at, "#else without #ifdef");
                    }

                    var top = conditions.Pop();
                    conditions.Push((!top.Active, top.ParentActive));
                    active = top.ParentActive && !top.Active;
                    break;
                case "endif":
                    if (conditions.Count == 0)
                    {
                        throw new ScriptException(at, "#endif without #ifdef");
                    }

                    active = conditions.Pop().ParentActive;
                    break;
                default:
                    throw new ScriptException(at, $"unknown preprocessor directive #{word}");
            }
        }

        while (i < text.Length)
        {
            var c = text[i];
            if (sb.Length == 0 && !char.IsWhiteSpace(c))
            {
                startLine = line;
            }

            if (c == '\n')
            {
                line++;
                i++;
                if (depth <= 0)
                {
                    Flush();
                }
                else
                {
                    sb.Append(' ');
                }

                continue;
            }

            if (c == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }

                continue;
            }

            if (c == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                var open = line;
                i += 2;
                while (i < text.Length && !(text[i] == '*' && i + 1 < text.Length && text[i + 1] == '/'))
                {
                    if (text[i] == '\n')
                    {
                        line++;
                    }

                    i++;
                }

                if (i >= text.Length)
                {
                    throw new ScriptException(open, "unterminated /* comment");
                }

                i += 2;
                sb.Append(' ');
                continue;
            }

            if (c is '`' or '"')
            {
                var open = line;
                sb.Append(c);
                i++;
                while (i < text.Length && text[i] != c)
                {
                    if (text[i] == '\n')
                    {
                        if (c == '"')
                        {
                            throw new ScriptException(open, "unterminated string");
                        }

                        line++;
                    }

                    sb.Append(text[i]);
                    i++;
                }

                if (i >= text.Length)
                {
                    throw new ScriptException(open, c == '`' ? "unterminated backtick command" : "unterminated string");
                }

                sb.Append(c);
                i++;
                continue;
            }

            if (c == '%' && i + 1 < text.Length && text[i + 1] == '{')
            {
                var open = line;
                var end = text.IndexOf("}%", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    throw new ScriptException(open, "unterminated %{ block");
                }

                var body = text[i..(end + 2)];
                line += body.Count(ch => ch == '\n');
                sb.Append(body);
                i = end + 2;
                continue;
            }

            if (c is '(' or '{' or '[')
            {
                depth++;
            }
            else if (c is ')' or '}' or ']')
            {
                depth--;
            }

            sb.Append(c);
            i++;
        }

        Flush();
        if (conditions.Count > 0)
        {
            throw new ScriptException(line, "missing #endif");
        }

        return result;
    }

    private static void ParseStatement(PacketdrillScript script, int line, string s)
    {
        if (s.StartsWith("--", StringComparison.Ordinal))
        {
            if (script.Events.Count > 0)
            {
                throw new ScriptException(line, $"option {s} after the first event");
            }

            var eq = s.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? s[2..] : s[2..eq];
            var value = eq < 0 ? "" : s[(eq + 1)..].Trim();
            if (name.Length == 0 || name.Any(char.IsWhiteSpace))
            {
                throw new ScriptException(line, $"bad option {s}");
            }

            script.Options[name] = value;
            return;
        }

        var c = new Cursor(s, line);
        var timing = ParseTiming(ref c);
        c.SkipSpaces();
        script.Events.Add(ParseAction(ref c, timing));
    }

    // ---------------------------------------------------------------- time

    private static EventTiming ParseTiming(ref Cursor c)
    {
        c.SkipSpaces();
        if (c.Peek() == '*')
        {
            c.Next();
            return new EventTiming(new ScriptTime(TimeKind.Any, 0));
        }

        if (!(c.Peek() == '+' || char.IsAsciiDigit(c.Peek()) || (c.Peek() == '.' && char.IsAsciiDigit(c.PeekAt(1)))))
        {
            // A command without a time (e.g. a shell line) happens right after the previous event.
            return new EventTiming(new ScriptTime(TimeKind.Relative, 0));
        }

        var start = ParseTimeValue(ref c);
        c.SkipSpaces();
        if (c.Peek() == '~')
        {
            c.Next();
            c.SkipSpaces();
            var end = ParseTimeValue(ref c);
            return new EventTiming(start, RangeEnd: end);
        }

        if (c.TryConsume("..."))
        {
            var end = ParseTimeValue(ref c);
            return new EventTiming(start, BlockEnd: end);
        }

        return new EventTiming(start);
    }

    private static ScriptTime ParseTimeValue(ref Cursor c)
    {
        var kind = TimeKind.Absolute;
        if (c.Peek() == '+')
        {
            c.Next();
            c.SkipSpaces();
            kind = TimeKind.Relative;
        }

        var begin = c.Position;
        while (char.IsAsciiDigit(c.Peek()))
        {
            c.Next();
        }

        if (c.Peek() == '.' && c.PeekAt(1) != '.')
        {
            c.Next();
            while (char.IsAsciiDigit(c.Peek()))
            {
                c.Next();
            }
        }

        var text = c.Slice(begin);
        if (text.Length == 0 || text == "." || !decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) || seconds > 1_000_000_000m)
        {
            throw new ScriptException(c.Line, $"bad time '{text}'");
        }

        return new ScriptTime(kind, (long)(seconds * 1_000_000m));
    }

    // ---------------------------------------------------------------- actions

    private static ScriptEvent ParseAction(ref Cursor c, EventTiming timing)
    {
        var ch = c.Peek();
        if (ch is '<' or '>')
        {
            return ParsePacket(ref c, timing);
        }

        if (ch == '`')
        {
            c.Next();
            var begin = c.Position;
            while (!c.AtEnd && c.Peek() != '`')
            {
                c.Next();
            }

            if (c.AtEnd)
            {
                throw new ScriptException(c.Line, "unterminated backtick command");
            }

            var cmd = c.Slice(begin);
            c.Next();
            c.ExpectEnd();
            return new ShellEvent(c.Line, timing, cmd.Trim());
        }

        if (ch == '%' && c.PeekAt(1) == '{')
        {
            var rest = c.Rest;
            var end = rest.LastIndexOf("}%", StringComparison.Ordinal);
            if (end < 2)
            {
                throw new ScriptException(c.Line, "unterminated %{ block");
            }

            var code = rest[2..end];
            c.Advance(end + 2);
            c.ExpectEnd();
            return new CodeEvent(c.Line, timing, code);
        }

        if (char.IsAsciiLetter(ch) || ch == '_')
        {
            return ParseSyscall(ref c, timing);
        }

        throw new ScriptException(c.Line, $"syntax error at '{Excerpt(c.Rest)}'");
    }

    private static string Excerpt(string s) => s.Length > 24 ? s[..24] + "..." : s;

    // ---------------------------------------------------------------- packets

    private static ScriptEvent ParsePacket(ref Cursor c, EventTiming timing)
    {
        var inbound = c.Next() == '<';
        var ip = new IpSpec();
        ParseIpDecorations(ref c, ip);
        c.SkipSpaces();
        if (c.TryConsumeWord("icmp"))
        {
            return ParseIcmp(ref c, timing, inbound, ip);
        }

        var flagsBegin = c.Position;
        while (c.Peek() is 'S' or 'F' or 'R' or 'P' or '.' or 'U' or 'E' or 'W' or 'A' && !(c.Peek() == '.' && c.PeekAt(1) == '.'))
        {
            c.Next();
        }

        var flags = c.Slice(flagsBegin);
        if (flags.Length == 0 || flags.Distinct().Count() != flags.Length)
        {
            throw new ScriptException(c.Line, $"bad TCP flags at '{Excerpt(c.Rest)}'");
        }

        c.SkipSpaces();
        uint? start;
        uint end;
        if (c.TryConsume("..."))
        {
            start = null;
            c.SkipSpaces();
            c.Expect('(');
            var len = ParseUInt32(ref c);
            c.Expect(')');
            end = 0;
            flagsBegin = (int)len;
        }
        else
        {
            start = ParseUInt32(ref c);
            c.Expect(':');
            end = ParseUInt32(ref c);
            c.Expect('(');
            flagsBegin = (int)ParseUInt32(ref c);
            c.Expect(')');
            if (unchecked(end - start.Value) != (uint)flagsBegin)
            {
                throw new ScriptException(c.Line, $"inconsistent TCP sequence numbers and payload length: {start}:{end}({flagsBegin})");
            }
        }

        var length = flagsBegin;
        if (length > 65535)
        {
            throw new ScriptException(c.Line, $"TCP payload length {length} too large");
        }

        var absolute = false;
        c.SkipSpaces();
        if (c.Peek() == '!')
        {
            c.Next();
            absolute = true;
        }

        uint? ack = null, win = null, urg = null;
        List<TcpOptionSpec>? options = null;
        var any = false;
        (ushort, ushort)? udp = null;
        while (true)
        {
            c.SkipSpaces();
            if (c.AtEnd)
            {
                break;
            }

            if (c.TryConsumeWord("ack"))
            {
                ack = ParseUInt32(ref c);
            }
            else if (c.TryConsumeWord("win"))
            {
                win = ParseUInt32(ref c);
            }
            else if (c.TryConsumeWord("urg"))
            {
                urg = ParseUInt32(ref c);
            }
            else if (c.Peek() == '<')
            {
                c.Next();
                (options, any) = ParseTcpOptions(ref c);
            }
            else if (c.Peek() == '/')
            {
                udp = ParseUdpSuffix(ref c);
            }
            else if (c.Peek() is '[' or '(')
            {
                ParseIpDecorations(ref c, ip);
            }
            else
            {
                throw new ScriptException(c.Line, $"syntax error in packet at '{Excerpt(c.Rest)}'");
            }
        }

        return new TcpPacketEvent(c.Line, timing, new TcpSegmentSpec
        {
            Inbound = inbound,
            Flags = flags,
            Start = start,
            End = end,
            Length = length,
            AbsoluteSeq = absolute,
            Ack = ack,
            Window = win,
            Urgent = urg,
            Options = options,
            AnyOptions = any,
            Ip = ip,
            Udp = udp,
        });
    }

    private static (ushort, ushort) ParseUdpSuffix(ref Cursor c)
    {
        c.Expect('/');
        if (!c.TryConsumeWord("udp"))
        {
            throw new ScriptException(c.Line, $"expected udp(...) at '{Excerpt(c.Rest)}'");
        }

        c.Expect('(');
        var src = ParseUInt32(ref c);
        c.Expect('>');
        var dst = ParseUInt32(ref c);
        c.Expect(')');
        if (src > 65535 || dst > 65535)
        {
            throw new ScriptException(c.Line, "UDP port out of range");
        }

        return ((ushort)src, (ushort)dst);
    }

    private static void ParseIpDecorations(ref Cursor c, IpSpec ip)
    {
        while (true)
        {
            c.SkipSpaces();
            if (c.Peek() == '[')
            {
                c.Next();
                var word = c.Word().ToLowerInvariant();
                c.Expect(']');
                ip.Ecn = word switch
                {
                    "noecn" => EcnSpec.NoEcn,
                    "ect0" => EcnSpec.Ect0,
                    "ect1" => EcnSpec.Ect1,
                    "ce" => EcnSpec.Ce,
                    "ect01" => EcnSpec.Ect01,
                    _ => throw new ScriptException(c.Line, $"unknown ECN codepoint [{word}]"),
                };
            }
            else if (c.Peek() == '(')
            {
                c.Next();
                while (true)
                {
                    c.SkipSpaces();
                    var word = c.Word();
                    var value = ParseUInt32(ref c);
                    switch (word)
                    {
                        case "tos" or "class":
                            ip.Tos = value <= 255 ? (int)value : throw new ScriptException(c.Line, $"{word} {value} out of range");
                            break;
                        case "ttl" or "hlim":
                            ip.Ttl = value <= 255 ? (int)value : throw new ScriptException(c.Line, $"{word} {value} out of range");
                            break;
                        case "flowlabel" or "id":
                            break;
                        default:
                            throw new ScriptException(c.Line, $"unknown IP field '{word}'");
                    }

                    c.SkipSpaces();
                    if (c.Peek() == ',')
                    {
                        c.Next();
                        continue;
                    }

                    c.Expect(')');
                    break;
                }
            }
            else
            {
                return;
            }
        }
    }

    private static (List<TcpOptionSpec>?, bool) ParseTcpOptions(ref Cursor c)
    {
        c.SkipSpaces();
        if (c.TryConsume("..."))
        {
            c.SkipSpaces();
            c.Expect('>');
            return (null, true);
        }

        var list = new List<TcpOptionSpec>();
        c.SkipSpaces();
        if (c.Peek() == '>')
        {
            c.Next();
            return (list, false);
        }

        while (true)
        {
            c.SkipSpaces();
            var word = c.Word();
            switch (word.ToLowerInvariant())
            {
                case "nop":
                    list.Add(new TcpOptionSpec("nop"));
                    break;
                case "eol":
                    list.Add(new TcpOptionSpec("eol"));
                    break;
                case "mss":
                    list.Add(new TcpOptionSpec("mss", Bounded(ref c, 65535)));
                    break;
                case "wscale":
                    list.Add(new TcpOptionSpec("wscale", Bounded(ref c, 255)));
                    break;
                case "sackok":
                    list.Add(new TcpOptionSpec("sackOK"));
                    break;
                case "ts":
                    c.SkipSpaces();
                    if (!c.TryConsumeWord("val"))
                    {
                        throw new ScriptException(c.Line, "expected 'val' after TS");
                    }

                    var val = ParseUInt32(ref c);
                    c.SkipSpaces();
                    if (!c.TryConsumeWord("ecr"))
                    {
                        throw new ScriptException(c.Line, "expected 'ecr' in TS option");
                    }

                    list.Add(new TcpOptionSpec("TS", val, ParseUInt32(ref c)));
                    break;
                case "sack":
                    var blocks = new List<(uint, uint)>();
                    while (true)
                    {
                        c.SkipSpaces();
                        if (!char.IsAsciiDigit(c.Peek()))
                        {
                            break;
                        }

                        var l = ParseUInt32(ref c);
                        c.Expect(':');
                        blocks.Add((l, ParseUInt32(ref c)));
                    }

                    if (blocks.Count > 4)
                    {
                        throw new ScriptException(c.Line, "too many SACK blocks");
                    }

                    list.Add(new TcpOptionSpec("sack", Blocks: blocks));
                    break;
                case "md5":
                    c.SkipSpaces();
                    var how = c.Word();
                    list.Add(new TcpOptionSpec("md5", how == "valid" ? 1 : how == "invalid" ? 0 : throw new ScriptException(c.Line, $"md5 expects valid or invalid, got '{how}'")));
                    break;
                case "fo":
                    c.SkipSpaces();
                    byte[] cookie = [];
                    if (char.IsAsciiHexDigit(c.Peek()))
                    {
                        var hex = c.Word();
                        if (hex.Length % 2 != 0 || hex.Length > 32 || !hex.All(char.IsAsciiHexDigit))
                        {
                            throw new ScriptException(c.Line, $"bad TCP fast open cookie '{hex}'");
                        }

                        cookie = Convert.FromHexString(hex);
                    }

                    list.Add(new TcpOptionSpec("FO", Bytes: cookie));
                    break;
                default:
                    throw new ScriptException(c.Line, $"unknown TCP option '{word}'");
            }

            c.SkipSpaces();
            if (c.Peek() == ',')
            {
                c.Next();
                continue;
            }

            c.Expect('>');
            return (list, false);
        }
    }

    private static long Bounded(ref Cursor c, long max)
    {
        var v = ParseUInt32(ref c);
        return v <= max ? v : throw new ScriptException(c.Line, $"value {v} out of range (max {max})");
    }

    private static IcmpPacketEvent ParseIcmp(ref Cursor c, EventTiming timing, bool inbound, IpSpec ip)
    {
        c.SkipSpaces();
        var type = c.Word();
        if (type.Length == 0)
        {
            throw new ScriptException(c.Line, "expected an ICMP type");
        }

        string? code = null;
        int? mtu = null;
        c.SkipSpaces();
        if (char.IsAsciiLetter(c.Peek()) && !c.Rest.StartsWith("mtu", StringComparison.Ordinal))
        {
            code = c.Word();
        }

        c.SkipSpaces();
        if (c.TryConsumeWord("mtu"))
        {
            var m = ParseUInt32(ref c);
            mtu = m <= 65535 ? (int)m : throw new ScriptException(c.Line, "mtu out of range");
        }

        c.SkipSpaces();
        c.Expect('[');
        c.SkipSpaces();
        var start = ParseUInt32(ref c);
        c.Expect(':');
        var end = ParseUInt32(ref c);
        c.Expect('(');
        var len = ParseUInt32(ref c);
        c.Expect(')');
        if (len > 65535 || unchecked(end - start) != len)
        {
            throw new ScriptException(c.Line, $"inconsistent quoted segment {start}:{end}({len})");
        }

        (ushort, ushort)? udp = null;
        c.SkipSpaces();
        if (c.Peek() == '/')
        {
            udp = ParseUdpSuffix(ref c);
        }

        c.SkipSpaces();
        c.Expect(']');
        c.ExpectEnd();
        return new IcmpPacketEvent(c.Line, timing, new IcmpSpec
        {
            Inbound = inbound,
            Type = type,
            Code = code,
            Mtu = mtu,
            Start = start,
            End = end,
            Length = (int)len,
            Ip = ip,
            Udp = udp,
        });
    }

    // ---------------------------------------------------------------- system calls

    private static SyscallEvent ParseSyscall(ref Cursor c, EventTiming timing)
    {
        var name = c.Word();
        c.SkipSpaces();
        c.Expect('(');
        var args = new List<Expr>();
        c.SkipSpaces();
        if (c.Peek() != ')')
        {
            while (true)
            {
                args.Add(ParseExpr(ref c, 0));
                c.SkipSpaces();
                if (c.Peek() == ',')
                {
                    c.Next();
                    continue;
                }

                break;
            }
        }

        c.Expect(')');
        c.SkipSpaces();
        c.Expect('=');
        c.SkipSpaces();
        var result = ParseSignedInteger(ref c);
        string? errno = null;
        c.SkipSpaces();
        if (char.IsAsciiLetterUpper(c.Peek()))
        {
            errno = c.Word();
        }

        c.SkipSpaces();
        if (c.Peek() == '(')
        {
            // Free text such as "(Operation now in progress)" or "(flags O_RDWR)".
            var depth = 0;
            while (!c.AtEnd)
            {
                var ch = c.Next();
                depth += ch == '(' ? 1 : ch == ')' ? -1 : 0;
                if (depth == 0)
                {
                    break;
                }
            }

            if (depth != 0)
            {
                throw new ScriptException(c.Line, "unbalanced parentheses after the result");
            }
        }

        c.ExpectEnd();
        if (result < 0 && errno is null)
        {
            throw new ScriptException(c.Line, $"{name}: a negative result needs an errno name");
        }

        return new SyscallEvent(c.Line, timing, name, args, result, errno);
    }

    private static Expr ParseExpr(ref Cursor c, int depth)
    {
        if (depth > 32)
        {
            throw new ScriptException(c.Line, "expression nested too deeply");
        }

        var first = ParsePrimary(ref c, depth);
        c.SkipSpaces();
        if (c.Peek() != '|')
        {
            return first;
        }

        var terms = new List<Expr> { first };
        while (c.Peek() == '|')
        {
            c.Next();
            terms.Add(ParsePrimary(ref c, depth));
            c.SkipSpaces();
        }

        return new OrExpr(terms);
    }

    private static Expr ParsePrimary(ref Cursor c, int depth)
    {
        c.SkipSpaces();
        var ch = c.Peek();
        if (c.TryConsume("..."))
        {
            return new EllipsisExpr();
        }

        if (ch == '[')
        {
            c.Next();
            var items = new List<Expr>();
            c.SkipSpaces();
            while (c.Peek() != ']')
            {
                items.Add(ParseExpr(ref c, depth + 1));
                c.SkipSpaces();
                if (c.Peek() == ',')
                {
                    c.Next();
                    c.SkipSpaces();
                }
                else if (c.Peek() != ']')
                {
                    throw new ScriptException(c.Line, $"expected ',' or ']' at '{Excerpt(c.Rest)}'");
                }
            }

            c.Next();
            return new ListExpr(items);
        }

        if (ch == '{')
        {
            c.Next();
            var fields = new List<(string, Expr)>();
            c.SkipSpaces();
            while (c.Peek() != '}')
            {
                var field = c.Word();
                if (field.Length == 0)
                {
                    throw new ScriptException(c.Line, $"expected a field name at '{Excerpt(c.Rest)}'");
                }

                c.SkipSpaces();
                c.Expect('=');
                fields.Add((field, ParseExpr(ref c, depth + 1)));
                c.SkipSpaces();
                if (c.Peek() == ',')
                {
                    c.Next();
                    c.SkipSpaces();
                }
                else if (c.Peek() != '}')
                {
                    throw new ScriptException(c.Line, $"expected ',' or '}}' at '{Excerpt(c.Rest)}'");
                }
            }

            c.Next();
            return new StructExpr(fields);
        }

        if (ch == '"')
        {
            c.Next();
            var begin = c.Position;
            while (!c.AtEnd && c.Peek() != '"')
            {
                c.Next();
            }

            if (c.AtEnd)
            {
                throw new ScriptException(c.Line, "unterminated string");
            }

            var s = c.Slice(begin);
            c.Next();
            return new StringExpr(s);
        }

        if (char.IsAsciiDigit(ch) || ch == '-')
        {
            return new IntExpr(ParseSignedInteger(ref c));
        }

        if (char.IsAsciiLetter(ch) || ch == '_')
        {
            return new NameExpr(c.Word());
        }

        throw new ScriptException(c.Line, $"syntax error in system call argument at '{Excerpt(c.Rest)}'");
    }

    private static long ParseSignedInteger(ref Cursor c)
    {
        var negative = false;
        if (c.Peek() == '-')
        {
            c.Next();
            negative = true;
        }

        var begin = c.Position;
        if (c.Peek() == '0' && c.PeekAt(1) is 'x' or 'X')
        {
            c.Next();
            c.Next();
            var hexBegin = c.Position;
            while (char.IsAsciiHexDigit(c.Peek()))
            {
                c.Next();
            }

            var hex = c.Slice(hexBegin);
            if (hex.Length == 0 || hex.Length > 15)
            {
                throw new ScriptException(c.Line, $"bad hex number '{c.Slice(begin)}'");
            }

            var hv = long.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            return negative ? -hv : hv;
        }

        while (char.IsAsciiDigit(c.Peek()))
        {
            c.Next();
        }

        var text = c.Slice(begin);
        if (text.Length == 0 || !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
        {
            throw new ScriptException(c.Line, $"expected a number at '{Excerpt(c.Rest)}'");
        }

        return negative ? -v : v;
    }

    private static uint ParseUInt32(ref Cursor c)
    {
        c.SkipSpaces();
        var v = ParseSignedInteger(ref c);
        if (v is < 0 or > uint.MaxValue)
        {
            throw new ScriptException(c.Line, $"number {v} out of range");
        }

        return (uint)v;
    }

    /// <summary>A position in one statement.</summary>
    private struct Cursor(string text, int line)
    {
        private readonly string _text = text;

        public int Position { get; private set; }

        public readonly int Line { get; } = line;

        public readonly bool AtEnd => Position >= _text.Length;

        public readonly string Rest => _text[Position..];

        public readonly char Peek() => Position < _text.Length ? _text[Position] : '\0';

        public readonly char PeekAt(int offset) => Position + offset < _text.Length ? _text[Position + offset] : '\0';

        public char Next() => Position < _text.Length ? _text[Position++] : '\0';

        public void Advance(int count) => Position = Math.Min(_text.Length, Position + count);

        public readonly string Slice(int begin) => _text[begin..Position];

        public void SkipSpaces()
        {
            while (Position < _text.Length && char.IsWhiteSpace(_text[Position]))
            {
                Position++;
            }
        }

        public bool TryConsume(string s)
        {
            if (string.CompareOrdinal(_text, Position, s, 0, s.Length) == 0 && Position + s.Length <= _text.Length)
            {
                Position += s.Length;
                return true;
            }

            return false;
        }

        public bool TryConsumeWord(string word)
        {
            var save = Position;
            if (TryConsume(word) && !(char.IsAsciiLetterOrDigit(Peek()) || Peek() == '_'))
            {
                return true;
            }

            Position = save;
            return false;
        }

        public string Word()
        {
            SkipSpaces();
            var begin = Position;
            while (Position < _text.Length && (char.IsAsciiLetterOrDigit(_text[Position]) || _text[Position] == '_'))
            {
                Position++;
            }

            return _text[begin..Position];
        }

        public void Expect(char ch)
        {
            SkipSpaces();
            if (Peek() != ch)
            {
                throw new ScriptException(Line, AtEnd ? $"expected '{ch}' at end of line" : $"expected '{ch}' at '{Excerpt(Rest)}'");
            }

            Position++;
        }

        public void ExpectEnd()
        {
            SkipSpaces();
            if (!AtEnd)
            {
                throw new ScriptException(Line, $"unexpected '{Excerpt(Rest)}'");
            }
        }
    }
}
