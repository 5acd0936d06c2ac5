using System.Globalization;
using System.Text;
using Sluice.Stack.Sockets;
using Sluice.Stack.Tcp;

namespace Sluice.Cli.Packetdrill;

internal sealed partial class PacketdrillRunner
{
    /// <summary>
    /// FreeBSD's defaults for sysctls the scripts reset that Sluice's tree does not (yet) have: setting one to its
    /// default on a fresh stack changes nothing, so it passes; any other value fails with the missing name.
    /// </summary>
    internal static readonly Dictionary<string, string> FreeBsdDefaults = new(StringComparer.Ordinal)
    {
        ["net.inet.tcp.blackhole"] = "0",
        ["net.inet.udp.blackhole"] = "0",
        ["kern.ipc.maxsockbuf"] = "2097152",
        ["net.inet.tcp.insecure_rst"] = "0",
        ["net.inet.tcp.insecure_syn"] = "0",
        ["net.inet.tcp.rexmit_drop_options"] = "0",
        ["net.inet.tcp.syncookies_only"] = "0",
        ["net.inet.tcp.icmp_may_rst"] = "1",
        ["net.inet.tcp.drop_synfin"] = "0",
        ["net.inet.tcp.ecn.maxretries"] = "1",
        ["net.inet.tcp.path_mtu_discovery"] = "1",
        ["net.inet.tcp.pmtud_blackhole_detection"] = "0",
        ["net.inet.tcp.pmtud_blackhole_mss"] = "1200",
        ["net.inet.tcp.v6pmtud_blackhole_mss"] = "1220",
        ["net.inet.tcp.v6mssdflt"] = "1220",
        ["net.inet.tcp.tolerate_missing_ts"] = "1",
        ["net.inet.tcp.udp_tunneling_port"] = "0",
        ["net.inet.tcp.udp_tunneling_overhead"] = "8",
        ["net.inet.tcp.rfc3042"] = "1",
        ["net.inet.tcp.rfc3390"] = "1",
        ["net.inet.tcp.abc_l_var"] = "2",
        ["net.inet.tcp.nolocaltimewait"] = "1",
        ["net.inet.tcp.do_tcpdrain"] = "1",
        ["net.inet.tcp.hostcache.enable"] = "1",
        ["net.inet.tcp.minmss"] = "216",
        ["net.inet.tcp.tso"] = "1",
    };

    /// <summary>Sysctls that are actions on a kernel (flush a cache): a fresh stack has nothing to flush.</summary>
    internal static readonly HashSet<string> NoOpActions = new(StringComparer.Ordinal)
    {
        "net.inet.tcp.hostcache.purgenow", "net.inet.tcp.hostcache.purge",
    };

    private void RunShell(ShellEvent ev)
    {
        if (!TrySplitList(ev.Command, out var items, out var syntax))
        {
            throw new ScriptException(ev.Line, $"non-zero status 2 from shell command `{ev.Command.Trim()}`: interpreter: {syntax}");
        }

        // sh(1) lists: `a || b` runs b when a failed, `a && b` when it succeeded; each `;`-separated part must succeed.
        var status = 0;
        string? why = null;
        var last = "";
        var execute = true;
        foreach (var (text, op) in items)
        {
            if (execute)
            {
                status = RunPipeline(text, out why);
                last = text;
            }

            execute = op switch
            {
                "&&" => status == 0,
                "||" => status != 0,
                _ => true,
            };
            if (op is ";" or "" && status != 0)
            {
                throw new ScriptException(ev.Line, $"non-zero status {status} from shell command `{last}`{(why is null ? "" : ": " + why)}");
            }
        }
    }

    /// <summary>Splits a command line at unquoted <c>;</c>, <c>&amp;&amp;</c> and <c>||</c> into (pipeline, following operator).</summary>
    internal static bool TrySplitList(string command, out List<(string Text, string Op)> items, out string? error)
    {
        items = [];
        error = null;
        var sb = new StringBuilder();
        var quote = '\0';
        for (var i = 0; i < command.Length; i++)
        {
            var c = command[i];
            if (quote != '\0')
            {
                if (c == quote)
                {
                    quote = '\0';
                }

                sb.Append(c);
                continue;
            }

            string? op = null;
            if (c is '\'' or '"')
            {
                quote = c;
            }
            else if (c == ';')
            {
                op = ";";
            }
            else if (c == '&' && i + 1 < command.Length && command[i + 1] == '&')
            {
                op = "&&";
            }
            else if (c == '|' && i + 1 < command.Length && command[i + 1] == '|')
            {
                op = "||";
            }

            if (op is null)
            {
                sb.Append(c);
                continue;
            }

            i += op.Length - 1;
            var text = sb.ToString().Trim();
            sb.Clear();
            if (text.Length == 0)
            {
                if (op == ";" && items.Count > 0 && items[^1].Op == ";")
                {
                    continue; // `a; ; b` is an error in sh, but a trailing or doubled ';' is harmless here
                }

                error = $"syntax error near unexpected token '{op}'";
                return false;
            }

            items.Add((text, op));
        }

        if (quote != '\0')
        {
            error = $"unterminated {quote} quote";
            return false;
        }

        var rest = sb.ToString().Trim();
        if (rest.Length > 0)
        {
            items.Add((rest, ""));
        }
        else if (items.Count > 0 && items[^1].Op is "&&" or "||")
        {
            error = $"syntax error: '{items[^1].Op}' at the end";
            return false;
        }

        return true;
    }

    /// <summary>Splits a pipeline at unquoted <c>|</c>.</summary>
    private static List<string> SplitPipeline(string text)
    {
        var stages = new List<string>();
        var sb = new StringBuilder();
        var quote = '\0';
        foreach (var c in text)
        {
            if (quote != '\0')
            {
                quote = c == quote ? '\0' : quote;
            }
            else if (c is '\'' or '"')
            {
                quote = c;
            }
            else if (c == '|')
            {
                stages.Add(sb.ToString().Trim());
                sb.Clear();
                continue;
            }

            sb.Append(c);
        }

        stages.Add(sb.ToString().Trim());
        return stages;
    }

    private int RunPipeline(string command, out string? why)
    {
        why = null;
        var stages = SplitPipeline(command);
        List<string>? lines = null;
        var status = 0;
        foreach (var stage in stages)
        {
            if (stage.Length == 0)
            {
                why = "interpreter: unsupported shell syntax (empty pipeline stage)";
                return 2;
            }

            if (!ShellWords.TrySplit(stage, out var words, out var error) || words.Count == 0)
            {
                why = $"interpreter: {error ?? "empty command"}";
                return 2;
            }

            status = RunStage(words, lines, out lines, out why, stages.Count > 1);
            if (status is 2 or 127 && why is not null && why.StartsWith("interpreter:", StringComparison.Ordinal))
            {
                return status;
            }
        }

        if (status != 0 && why is null && lines is not null)
        {
            why = $"output was: {string.Join(" / ", lines)}";
        }

        return status;
    }

    /// <summary>Modules the stack has built in, as <c>kldstat -m</c> sees them.</summary>
    private static readonly HashSet<string> KernelModules = new(StringComparer.Ordinal) { "tcpmd5" };

    private int RunStage(List<string> w, List<string>? input, out List<string> output, out string? why, bool piped)
    {
        why = null;
        output = [];
        switch (w[0])
        {
            case "sysctl":
                if (piped)
                {
                    why = "interpreter: sysctl output in a pipeline is not supported";
                    return 2;
                }

                return Sysctl(w, out why);
            case "sockstat":
                output = Sockstat(w);
                return 0;
            case "grep":
                (output, var grepStatus) = Grep(w, input ?? []);
                return grepStatus;
            case "echo":
                output = [.. string.Join(' ', w.Skip(1).Where(a => a != "-n")).Split('\n')];
                return 0;
            case "true":
                return 0;
            case "false":
                return 1;
            case "kldstat":
            {
                // kldstat -q -m NAME / -n NAME: status 0 when the module is in the kernel.
                var name = w.SkipWhile(a => a is not ("-m" or "-n")).Skip(1).FirstOrDefault();
                return name is not null && KernelModules.Contains(name) ? 0 : 1;
            }

            case "kldload":
                if (w.Count == 2 && KernelModules.Contains(w[1]))
                {
                    return 0; // built into Sluice's stack
                }

                why = $"kldload: can't load {(w.Count > 1 ? w[1] : "")}: No such file or directory";
                return 1;
            case "setkey":
            {
                using var o = new StringWriter();
                using var e = new StringWriter();
                var st = Setkey.Execute(_stack, w.Skip(1).ToArray(), new StringReader(input is null ? "" : string.Join('\n', input)), o, e);
                output = [.. o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)];
                if (st != 0)
                {
                    why = e.ToString().Trim().Replace('\n', ' ');
                }

                return st;
            }

            case "tcpdrop":
            {
                // tcpdrop(8) through net.inet.tcp.drop, as the lab tool; its output feeds the pipeline.
                using var o = new StringWriter(CultureInfo.InvariantCulture);
                using var e = new StringWriter(CultureInfo.InvariantCulture);
                var st = global::Sluice.Cli.Tcpdrop.Run(_tcp, w.Skip(1).ToArray(), o, e);
                output = [.. o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)];
                if (st != 0)
                {
                    why = e.ToString().Trim().Replace('\n', ' ');
                }

                return st;
            }

            default:
                why = $"interpreter: unsupported shell command '{w[0]}' (only sysctl, sockstat, grep, echo, setkey, tcpdrop, kldstat, kldload are emulated)";
                return 127;
        }
    }

    private int Sysctl(List<string> words, out string? why)
    {
        why = null;
        foreach (var w in words.Skip(1))
        {
            if (w.StartsWith('-'))
            {
                continue;
            }

            var eq = w.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                if (_stack.Sysctl.Find(w) is null)
                {
                    why = $"unknown oid '{w}'";
                    return 1;
                }

                continue;
            }

            var name = w[..eq];
            var value = w[(eq + 1)..];
            if (NoOpActions.Contains(name))
            {
                continue;
            }

            if (_stack.Sysctl.Find(name) is null)
            {
                if (FreeBsdDefaults.TryGetValue(name, out var def) && def == value)
                {
                    continue;
                }

                why = $"stack: sysctl {name} is not implemented by Sluice (FreeBSD default {(FreeBsdDefaults.TryGetValue(name, out var d) ? d : "?")}, script wants {value})";
                return 1;
            }

            var r = _stack.Sysctl.TrySet(name, value);
            if (!r.Succeeded)
            {
                why = $"sysctl: {r.Message}";
                return 1;
            }
        }

        return 0;
    }

    private List<string> Sockstat(List<string> words)
    {
        bool want4 = false, want6 = false;
        var ports = new HashSet<int>();
        for (var i = 1; i < words.Count; i++)
        {
            switch (words[i])
            {
                case "-4":
                    want4 = true;
                    break;
                case "-6":
                    want6 = true;
                    break;
                case "-p" when i + 1 < words.Count:
                    foreach (var p in words[++i].Split(','))
                    {
                        if (int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
                        {
                            ports.Add(port);
                        }
                    }

                    break;
                case "-P" when i + 1 < words.Count:
                    i++;
                    break;
            }
        }

        if (!want4 && !want6)
        {
            want4 = want6 = true;
        }

        var lines = new List<string> { "USER     COMMAND    PID   FD  PROTO  LOCAL ADDRESS         FOREIGN ADDRESS       PATH STATE   CONN STATE" };
        foreach (var c in _tcp.Connections())
        {
            var v6 = c.Local.Address.IsIPv6;
            if ((v6 && !want6) || (!v6 && !want4))
            {
                continue;
            }

            if (ports.Count > 0 && !ports.Contains(c.Local.Port) && !ports.Contains(c.Foreign.Port))
            {
                continue;
            }

            lines.Add($"root     packetdril 1     3   tcp{(v6 ? "6" : "4")}   {c.Local,-21} {c.Foreign,-21} {TcpStateNames.Of(c.State)}");
        }

        return lines;
    }

    private static (List<string>, int) Grep(List<string> w, List<string> input)
    {
        var count = false;
        var invert = false;
        string? pattern = null;
        foreach (var arg in w.Skip(1))
        {
            if (arg.StartsWith('-') && pattern is null && arg.Length > 1)
            {
                count |= arg.Contains('c', StringComparison.Ordinal);
                invert |= arg.Contains('v', StringComparison.Ordinal);
                continue;
            }

            pattern ??= arg;
        }

        pattern ??= "";
        var selected = input.Where(l => l.Contains(pattern, StringComparison.Ordinal) != invert).ToList();
        if (count)
        {
            return ([selected.Count.ToString(CultureInfo.InvariantCulture)], selected.Count > 0 ? 0 : 1);
        }

        return (selected, selected.Count > 0 ? 0 : 1);
    }

    // ---------------------------------------------------------------- %{ }% blocks

    private void RunCode(CodeEvent ev)
    {
        var socket = _current ?? throw new ScriptException(ev.Line, "%{ }% block before any socket exists");
        var info = socket.GetInfo();
        var lineNo = ev.Line;
        foreach (var raw in ev.Code.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                lineNo++;
                continue;
            }

            if (!TcpInfoExpression.TryEvaluateStatement(line, info, out var ok, out var error))
            {
                throw new ScriptException(lineNo, $"%{{ }}% block: {error}");
            }

            if (!ok)
            {
                throw new ScriptException(lineNo, $"assertion failed: {line} ({TcpInfoExpression.Explain(line, info)})");
            }

            lineNo++;
        }
    }
}
