namespace Sluice.Testing;

/// <summary>
/// Allocation assertions for the data path. A window of steady-state work runs several times and the bytes each run
/// allocates on the test thread are recorded; the assertion needs one window with none.
/// </summary>
/// <remarks>
/// A per-packet allocation shows in every window, so the assertion fails on it. A one-off allocation by the runtime on
/// the test thread shows in one window only. Examples are JIT, tiering and type loading; CI once saw 7.9 KB in a single
/// window of a TCP transfer on a loaded machine, and no local run reproduced it. Such an allocation is not a property of
/// the code under test.
/// </remarks>
internal static class SteadyStateAllocation
{
    /// <summary>Windows per measurement.</summary>
    public const int Windows = 3;

    /// <summary>Runs <paramref name="window"/> <paramref name="windows"/> times; the bytes each run allocated on this thread.</summary>
    public static long[] Measure(Action window, int windows = Windows)
    {
        ArgumentNullException.ThrowIfNull(window);
        var bytes = new long[windows];
        for (var i = 0; i < windows; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            window();
            bytes[i] = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        return bytes;
    }

    /// <summary>True when some window allocated nothing.</summary>
    public static bool AnyClean(long[] bytes) => Array.IndexOf(bytes, 0L) >= 0;

    /// <summary>The windows' allocations, e.g. <c>0 B, 24 B, 0 B</c>.</summary>
    public static string Describe(long[] bytes) => string.Join(", ", bytes.Select(b => $"{b} B"));

    /// <summary>Asserts that <paramref name="window"/> allocates nothing in steady state; <paramref name="what"/> names the work.</summary>
    public static void AssertNone(Action window, string what)
    {
        var bytes = Measure(window);
        Assert.True(AnyClean(bytes), $"{what}: every window allocated ({Describe(bytes)})");
    }
}
