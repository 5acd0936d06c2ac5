using System.Globalization;
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
        foreach (var command in ev.Command.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var status = RunPipeline(ev, command, out var why);
            if (status != 0)
            {
                throw new ScriptException(ev.Line, $"non-zero status {status} from shell command `{command}`{(why is null ? "" : ": " + why)}");
            }
        }
    }

    private int RunPipeline(ShellEvent ev, string command, out string? why)
    {
        why = null;
        var stages = command.Split('|', StringSplitOptions.TrimEntries);
        if (stages.Any(s => s.Length == 0))
        {
            why = "interpreter: unsupported shell syntax (||, empty pipeline stage)";
            return 2;
        }

        var first = Words(stages[0]);
        List<string> lines;
        var status = 0;
        switch (first[0])
        {
            case "sysctl":
                if (stages.Length > 1)
                {
                    why = "interpreter: sysctl output in a pipeline is not supported";
                    return 2;
                }

                return Sysctl(first, out why);
            case "sockstat":
                lines = Sockstat(first);
                break;
            case "tcpdrop":
            {
                // tcpdrop(8) through net.inet.tcp.drop, as the lab tool; its output feeds the pipeline.
                using var stdout = new StringWriter(CultureInfo.InvariantCulture);
                using var stderr = new StringWriter(CultureInfo.InvariantCulture);
                status = global::Sluice.Cli.Tcpdrop.Run(_tcp, first.Skip(1).ToArray(), stdout, stderr);
                lines = [.. stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)];
                if (status != 0)
                {
                    why = stderr.ToString().Trim().Replace('\n', ' ');
                    return status;
                }

                break;
            }

            case "true":
                return 0;
            case "false":
                return 1;
            default:
                why = $"interpreter: unsupported shell command '{first[0]}' (only sysctl, tcpdrop and sockstat | grep are emulated)";
                return 127;
        }

        for (var i = 1; i < stages.Length; i++)
        {
            var w = Words(stages[i]);
            if (w[0] != "grep")
            {
                why = $"interpreter: unsupported pipeline command '{w[0]}' (only grep)";
                return 127;
            }

            (lines, status) = Grep(w, lines);
        }

        if (status != 0)
        {
            why = $"output was: {string.Join(" / ", lines)}";
        }

        return status;
    }

    private static List<string> Words(string s) => [.. s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(w => w.Trim('\'', '"'))];

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
