namespace Sluice.Pf;

/// <summary>Assembly marker.</summary>
internal static class AssemblyMarker
{
}
