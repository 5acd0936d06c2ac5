using Sluice.Pf.Config;
using Sluice.Stack;

namespace Sluice.Pf;

/// <summary>A run-time pf table: its definition flags and its current addresses.</summary>
public sealed class PfTable
{
    /// <summary>Creates a table named <paramref name="name"/>.</summary>
    public PfTable(string name, bool persist, bool isConst)
    {
        Name = name;
        Persist = persist;
        Const = isConst;
    }

    public string Name { get; }
    public bool Persist { get; }
    public bool Const { get; }

    /// <summary>The entries, in insertion order.</summary>
    public List<PfTableEntry> Entries { get; } = [];
}

/// <summary>
/// pf of one VNET: enabled flag, the active rule set (swapped whole on a successful load) and the tables.
/// </summary>
/// <remarks>Single-threaded like the stack it belongs to; <see cref="Active"/> is replaced, never mutated.</remarks>
public sealed class PfInstance
{
    /// <summary>The instance of <paramref name="stack"/> (created on first use).</summary>
    public static PfInstance Of(NetStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        return stack.Feature(static s => new PfInstance(s));
    }

    private PfInstance(NetStack stack)
    {
        Stack = stack;
    }

    /// <summary>The VNET this instance filters.</summary>
    public NetStack Stack { get; }

    /// <summary>True after <c>pfctl -e</c>.</summary>
    public bool Enabled { get; private set; }

    /// <summary>The loaded rule set.</summary>
    public PfRuleset Active { get; private set; } = PfRuleset.Empty;

    /// <summary>Anchors loaded with <c>-a</c>, by path.</summary>
    public Dictionary<string, PfRuleset> Anchors { get; } = new(StringComparer.Ordinal);

    /// <summary>Tables by name.</summary>
    public Dictionary<string, PfTable> Tables { get; } = new(StringComparer.Ordinal);

    /// <summary><c>set debug</c> level name.</summary>
    public string Debug { get; set; } = "urgent";

    /// <summary>Enables pf; false when it already was.</summary>
    public bool Enable()
    {
        if (Enabled)
        {
            return false;
        }

        Enabled = true;
        Engine.Attach();
        return true;
    }

    /// <summary>Disables pf; false when it was not enabled.</summary>
    public bool Disable()
    {
        if (!Enabled)
        {
            return false;
        }

        Enabled = false;
        Engine.Detach();
        return true;
    }

    /// <summary>Commits <paramref name="ruleset"/> (into anchor <paramref name="anchor"/> when given) and its tables.</summary>
    public void Commit(PfRuleset ruleset, string? anchor = null)
    {
        ArgumentNullException.ThrowIfNull(ruleset);
        if (!string.IsNullOrEmpty(anchor))
        {
            Anchors[anchor] = ruleset;
        }
        else
        {
            Active = ruleset;
            foreach (var opt in ruleset.Statements.OfType<PfOptionStatement>().Where(o => o.Name == "debug"))
            {
                Debug = opt.Text["set debug ".Length..];
            }
        }

        foreach (var t in ruleset.Tables)
        {
            var table = new PfTable(t.Name, t.Persist, t.Const);
            table.Entries.AddRange(t.Entries);
            Tables[t.Name] = table;
        }

        // pf_ioctl: a rule's overload table is attached and marked active when the rule is loaded.
        foreach (var r in ruleset.AllRules)
        {
            if (r.StateOptions.OverloadTable is { } name && !Tables.ContainsKey(name))
            {
                Tables[name] = new PfTable(name, persist: false, isConst: false);
            }
        }

        TablesChanged();
        Engine.Reload();
    }

    /// <summary>Flushes the filter rules (<c>-F rules</c>).</summary>
    public void FlushRules(string? anchor = null)
    {
        if (!string.IsNullOrEmpty(anchor))
        {
            Anchors.Remove(anchor);
            Engine.Reload();
            return;
        }

        Active = Active with { Scrub = [], Filter = [] };
        Engine.Reload();
    }

    /// <summary>Flushes the translation rules (<c>-F nat</c>).</summary>
    public void FlushNat()
    {
        Active = Active with { Nat = [], Rdr = [], Binat = [] };
        Engine.Reload();
    }

    /// <summary>The packet-filtering engine (compiled rules, states); attached to the stack's pfil hooks while enabled.</summary>
    public Engine.PfEngine Engine => _engine ??= new Engine.PfEngine(this);

    private Engine.PfEngine? _engine;

    /// <summary>Bumped whenever a table or its entries change; the engine re-indexes tables lazily.</summary>
    public int TablesVersion { get; private set; }

    /// <summary>Tells the engine that <see cref="Tables"/> or an entry list changed.</summary>
    public void TablesChanged() => TablesVersion++;
}

/// <summary>Answers the parser's interface questions from a <see cref="NetStack"/>.</summary>
public sealed class PfStackInterfaces(NetStack stack) : IPfInterfaceResolver
{
    /// <inheritdoc/>
    public IReadOnlyList<PfInterfaceAddress>? Addresses(string name)
    {
        var ifp = stack.FindInterface(name);
        return ifp is null ? null : Of(ifp);
    }

    /// <inheritdoc/>
    public IReadOnlyList<PfInterfaceAddress> AllAddresses() => stack.Interfaces.SelectMany(Of).ToList();

    private static List<PfInterfaceAddress> Of(Sluice.Stack.Interfaces.NetworkInterface ifp)
    {
        var list = new List<PfInterfaceAddress>();
        foreach (var a in ifp.IPv4Addresses)
        {
            PfIp? bcast = a.Broadcast is { } b ? new PfIp(PfFamily.Inet, b.Value) : null;
            list.Add(new PfInterfaceAddress(new PfIp(PfFamily.Inet, a.Address.Value), a.PrefixLength, bcast, null, ifp.IsLoopback));
        }

        foreach (var a in ifp.IPv6Addresses)
        {
            var bits = ((UInt128)a.Address.High << 64) | a.Address.Low;
            list.Add(new PfInterfaceAddress(new PfIp(PfFamily.Inet6, bits), a.PrefixLength, null, null, ifp.IsLoopback));
        }

        return list;
    }
}
