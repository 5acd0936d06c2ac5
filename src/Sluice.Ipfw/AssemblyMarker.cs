namespace Sluice.Ipfw;

/// <summary>Assembly marker.</summary>
internal static class AssemblyMarker
{
}
