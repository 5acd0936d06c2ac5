namespace Sluice.Dummynet;

/// <summary>Assembly marker.</summary>
internal static class AssemblyMarker
{
}
