using System.Globalization;

namespace Sluice.Stack.Sysctl;

/// <summary>The sysctl namespace of one VNET: integer and string OIDs under dotted names.</summary>
/// <remarks>
/// Registration (<c>Add*</c>) throws <see cref="ArgumentException"/> on a malformed or duplicate name, or a leaf
/// under a leaf: those are programming errors. <see cref="Find"/>, <see cref="Enumerate"/> and <see cref="TrySet"/>
/// take user input and never throw on any name or value. Not thread-safe: owned by the stack's event loop.
/// </remarks>
public sealed class SysctlTree
{
    private readonly SysctlBranch _root = new(string.Empty);
    private readonly Dictionary<string, SysctlNode> _byName = new(StringComparer.Ordinal);

    /// <summary>Number of leaves.</summary>
    public int Count { get; private set; }

    /// <summary>Registers an integer OID holding values in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public SysctlInt AddInt(string name, string description, long initial, long min = long.MinValue, long max = long.MaxValue, bool readOnly = false)
    {
        if (min > max)
        {
            throw new ArgumentException($"Empty range [{min}, {max}] for {name}.", nameof(min));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(initial, min);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(initial, max);
        return Register(new SysctlInt(name, description, initial, min, max, readOnly));
    }

    /// <summary>Registers a string OID; <paramref name="set"/> (null for read-only) returns an error text or null.</summary>
    /// <remarks>The error text is what sysctl(8) prints after <c>name=value: </c>, normally a strerror text such as <c>Invalid argument</c>.</remarks>
    public SysctlNode AddString(string name, string description, Func<string> get, Func<string, string?>? set = null)
    {
        ArgumentNullException.ThrowIfNull(get);
        return Register(new SysctlStringNode(name, description, get, set));
    }

    /// <summary>Registers a read-only string OID computed on every read (e.g. <c>net.inet.tcp.functions_available</c>).</summary>
    public SysctlNode AddComputed(string name, string description, Func<string> get) => AddString(name, description, get);

    /// <summary>The leaf or interior node named <paramref name="name"/>, or null.</summary>
    public SysctlNode? Find(string? name) => name is not null && _byName.TryGetValue(name, out var node) ? node : null;

    /// <summary>
    /// Leaves named <paramref name="prefix"/> or under <c>prefix.</c> (all leaves for null or empty), ordered by name
    /// component by component.
    /// </summary>
    public IEnumerable<SysctlNode> Enumerate(string? prefix = null)
    {
        SysctlNode? start = string.IsNullOrEmpty(prefix) ? _root : Find(prefix);
        return start switch
        {
            null => [],
            SysctlBranch branch => Walk(branch),
            _ => [start],
        };
    }

    /// <summary>Sets the OID <paramref name="name"/> from text; integers take decimal or 0x hex with an optional sign.</summary>
    public SysctlSetResult TrySet(string? name, string? value)
    {
        name ??= string.Empty;
        value ??= string.Empty;
        var node = Find(name);
        if (node is null)
        {
            return new SysctlSetResult(SysctlSetStatus.UnknownOid, name, value, null, null, null);
        }

        if (node.Kind == SysctlKind.Node)
        {
            return new SysctlSetResult(SysctlSetStatus.NotALeaf, name, value, null, null, null);
        }

        if (!node.IsWritable)
        {
            return new SysctlSetResult(SysctlSetStatus.ReadOnly, name, value, node.FormatValue(), null, null);
        }

        return node.Apply(value);
    }

    /// <summary>Parses decimal or <c>0x</c> hex, with an optional sign, into a <see cref="long"/>; false on anything else or overflow.</summary>
    public static bool TryParseInteger(ReadOnlySpan<char> text, out long value)
    {
        value = 0;
        var negative = false;
        if (text.Length > 0 && (text[0] == '-' || text[0] == '+'))
        {
            negative = text[0] == '-';
            text = text[1..];
        }

        var hex = text.Length > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
        if (hex)
        {
            text = text[2..];
        }

        if (text.Length == 0)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (hex ? !char.IsAsciiHexDigit(c) : !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        if (!ulong.TryParse(text, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out var magnitude))
        {
            return false;
        }

        if (negative)
        {
            if (magnitude > 1UL << 63)
            {
                return false;
            }

            value = (long)(0UL - magnitude);
            return true;
        }

        if (magnitude > long.MaxValue)
        {
            return false;
        }

        value = (long)magnitude;
        return true;
    }

    /// <summary>True for a well-formed OID name: dot-separated, non-empty components of <c>[a-z0-9_%]</c>.</summary>
    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name[0] == '.' || name[^1] == '.')
        {
            return false;
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            var ok = c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '%' || (c == '.' && name[i - 1] != '.');
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    private T Register<T>(T leaf)
        where T : SysctlNode
    {
        var name = leaf.Name;
        if (!IsValidName(name))
        {
            throw new ArgumentException($"Invalid sysctl name '{name}'.", nameof(leaf));
        }

        if (_byName.ContainsKey(name))
        {
            throw new ArgumentException($"sysctl '{name}' is already registered.", nameof(leaf));
        }

        // Check the whole path before changing anything, so a failed registration leaves the tree as it was.
        var components = name.Split('.');
        for (var i = 1; i < components.Length; i++)
        {
            var path = string.Join('.', components, 0, i);
            if (_byName.TryGetValue(path, out var existing) && existing is not SysctlBranch)
            {
                throw new ArgumentException($"sysctl '{path}' is a leaf; '{name}' cannot go under it.", nameof(leaf));
            }
        }

        var branch = _root;
        for (var i = 0; i < components.Length - 1; i++)
        {
            if (!branch.Children.TryGetValue(components[i], out var child))
            {
                child = new SysctlBranch(string.Join('.', components, 0, i + 1));
                branch.Children.Add(components[i], child);
                _byName.Add(child.Name, child);
            }

            branch = (SysctlBranch)child;
        }

        branch.Children.Add(components[^1], leaf);
        _byName.Add(name, leaf);
        Count++;
        return leaf;
    }

    private static IEnumerable<SysctlNode> Walk(SysctlBranch branch)
    {
        foreach (var child in branch.Children.Values)
        {
            if (child is SysctlBranch inner)
            {
                foreach (var leaf in Walk(inner))
                {
                    yield return leaf;
                }
            }
            else
            {
                yield return child;
            }
        }
    }
}
