namespace Sluice.Stack.Sysctl;

/// <summary>Outcome of <see cref="SysctlTree.TrySet"/>.</summary>
public enum SysctlSetStatus
{
    /// <summary>The value was changed.</summary>
    Ok,

    /// <summary>No OID has that name.</summary>
    UnknownOid,

    /// <summary>The OID is an interior node.</summary>
    NotALeaf,

    /// <summary>The OID cannot be written.</summary>
    ReadOnly,

    /// <summary>The text is not a valid value (not an integer, or rejected by a string setter).</summary>
    InvalidValue,

    /// <summary>The integer is outside the OID's range.</summary>
    OutOfRange,
}

/// <summary>
/// The result of setting an OID, with what sysctl(8) needs to print it: <c>name: old -&gt; new</c> on success,
/// otherwise <c>sysctl: </c> + <see cref="Message"/> on stderr.
/// </summary>
/// <param name="Status">What happened.</param>
/// <param name="Name">The OID name as given.</param>
/// <param name="Value">The value text as given.</param>
/// <param name="OldValue">The formatted value before the call (null for an unknown OID or interior node).</param>
/// <param name="NewValue">The formatted value after a successful set, otherwise null.</param>
/// <param name="Error">
/// For a rejected value, the text the kernel's errno or sysctl's parser gives: <c>empty numeric value</c>,
/// <c>invalid integer 'x'</c>, or a strerror text such as <c>Invalid argument</c>.
/// </param>
public sealed record SysctlSetResult(SysctlSetStatus Status, string Name, string Value, string? OldValue, string? NewValue, string? Error)
{
    internal const string EmptyNumericValue = "empty numeric value";
    internal const string InvalidArgument = "Invalid argument";

    /// <summary>True when the value was changed.</summary>
    public bool Succeeded => Status == SysctlSetStatus.Ok;

    /// <summary>
    /// True when sysctl(8) prints <c>name: old</c> and a newline on stdout before the error: the value parsed, and
    /// the kernel rejected it (out of range, or refused by a string OID's setter).
    /// </summary>
    public bool ShowsOldValue => Status == SysctlSetStatus.OutOfRange || (Status == SysctlSetStatus.InvalidValue && !IsParseError);

    /// <summary>The line sysctl(8) prints on stdout for a success (<c>name: old -&gt; new</c>), otherwise null.</summary>
    public string? Line => Succeeded ? $"{Name}: {OldValue} -> {NewValue}" : null;

    /// <summary>The warning sysctl(8) prints after <c>sysctl: </c>, or null on success.</summary>
    public string? Message => Status switch
    {
        SysctlSetStatus.Ok => null,
        SysctlSetStatus.UnknownOid => $"unknown oid '{Name}'",
        SysctlSetStatus.NotALeaf => $"oid '{Name}' isn't a leaf node",
        SysctlSetStatus.ReadOnly => $"oid '{Name}' is read only",
        _ when IsParseError => Error,
        _ => $"{Name}={Value}: {Error}",
    };

    /// <summary>True when sysctl(8) itself rejected the text before asking the kernel (empty or not a number).</summary>
    public bool IsParseError { get; init; }
}
