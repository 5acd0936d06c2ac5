namespace Sluice.Wire;

/// <summary>Placeholder; replaced by the Wire implementation.</summary>
public readonly record struct MacAddress(ulong Value);
