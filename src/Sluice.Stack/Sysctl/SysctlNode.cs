namespace Sluice.Stack.Sysctl;

/// <summary>What a sysctl OID holds.</summary>
public enum SysctlKind
{
    /// <summary>A signed integer (sysctl(8) type name <c>integer</c>).</summary>
    Integer,

    /// <summary>A string (type name <c>string</c>).</summary>
    String,

    /// <summary>An interior node that only has children (type name <c>node</c>).</summary>
    Node,
}

/// <summary>One OID of a <see cref="SysctlTree"/>: a leaf (integer or string) or an interior node.</summary>
public abstract class SysctlNode
{
    private protected SysctlNode(string name, string description)
    {
        Name = name;
        Description = description;
    }

    /// <summary>The full dotted name, e.g. <c>net.inet.ip.forwarding</c>.</summary>
    public string Name { get; }

    /// <summary>The text <c>sysctl -d</c> prints.</summary>
    public string Description { get; }

    /// <summary>What the OID holds.</summary>
    public abstract SysctlKind Kind { get; }

    /// <summary>True when <see cref="SysctlTree.TrySet"/> may change the value.</summary>
    public abstract bool IsWritable { get; }

    /// <summary>The type name <c>sysctl -t</c> prints: <c>integer</c>, <c>string</c> or <c>node</c>.</summary>
    public string TypeName => Kind switch
    {
        SysctlKind.Integer => "integer",
        SysctlKind.String => "string",
        _ => "node",
    };

    /// <summary>The value as sysctl(8) prints it after <c>name: </c>; empty for an interior node.</summary>
    public abstract string FormatValue();

    /// <summary>Parses and applies <paramref name="value"/>; the node is known to be writable.</summary>
    internal abstract SysctlSetResult Apply(string value);

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>An integer OID with an inclusive range; the packet path reads <see cref="Value"/> directly.</summary>
public sealed class SysctlInt : SysctlNode
{
    private readonly bool _readOnly;

    internal SysctlInt(string name, string description, long initial, long minimum, long maximum, bool readOnly)
        : base(name, description)
    {
        Value = initial;
        Minimum = minimum;
        Maximum = maximum;
        _readOnly = readOnly;
    }

    /// <summary>The current value. Code may assign it directly (no range check, no <see cref="Changed"/> call).</summary>
    public long Value { get; set; }

    /// <summary>Smallest value <see cref="SysctlTree.TrySet"/> accepts.</summary>
    public long Minimum { get; }

    /// <summary>Largest value <see cref="SysctlTree.TrySet"/> accepts.</summary>
    public long Maximum { get; }

    /// <summary>Called with the new value after a successful <see cref="SysctlTree.TrySet"/>.</summary>
    public Action<long>? Changed { get; set; }

    /// <inheritdoc />
    public override SysctlKind Kind => SysctlKind.Integer;

    /// <inheritdoc />
    public override bool IsWritable => !_readOnly;

    /// <inheritdoc />
    public override string FormatValue() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    internal override SysctlSetResult Apply(string value)
    {
        var old = FormatValue();
        if (value.Length == 0)
        {
            return new SysctlSetResult(SysctlSetStatus.InvalidValue, Name, value, old, null, SysctlSetResult.EmptyNumericValue) { IsParseError = true };
        }

        if (!SysctlTree.TryParseInteger(value, out var parsed))
        {
            return new SysctlSetResult(SysctlSetStatus.InvalidValue, Name, value, old, null, $"invalid {TypeName} '{value}'") { IsParseError = true };
        }

        if (parsed < Minimum || parsed > Maximum)
        {
            return new SysctlSetResult(SysctlSetStatus.OutOfRange, Name, value, old, null, SysctlSetResult.InvalidArgument);
        }

        Value = parsed;
        Changed?.Invoke(parsed);
        return new SysctlSetResult(SysctlSetStatus.Ok, Name, value, old, FormatValue(), null);
    }
}

/// <summary>A string OID backed by a getter and an optional setter.</summary>
internal sealed class SysctlStringNode(string name, string description, Func<string> get, Func<string, string?>? set)
    : SysctlNode(name, description)
{
    public override SysctlKind Kind => SysctlKind.String;

    public override bool IsWritable => set is not null;

    public override string FormatValue() => get();

    internal override SysctlSetResult Apply(string value)
    {
        var old = get();
        var error = set!(value);
        return error is null
            ? new SysctlSetResult(SysctlSetStatus.Ok, Name, value, old, get(), null)
            : new SysctlSetResult(SysctlSetStatus.InvalidValue, Name, value, old, null, error);
    }
}

/// <summary>An interior node: a name prefix with children.</summary>
internal sealed class SysctlBranch(string name) : SysctlNode(name, string.Empty)
{
    public SortedList<string, SysctlNode> Children { get; } = new(StringComparer.Ordinal);

    public override SysctlKind Kind => SysctlKind.Node;

    public override bool IsWritable => false;

    public override string FormatValue() => string.Empty;

    internal override SysctlSetResult Apply(string value) => throw new InvalidOperationException("An interior node has no value.");
}
