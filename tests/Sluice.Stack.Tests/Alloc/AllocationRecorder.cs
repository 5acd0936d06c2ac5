using System.Diagnostics.Tracing;

namespace Sluice.Stack.Tests.Alloc;

/// <summary>
/// Names the types being allocated while it is listening: the runtime's GCAllocationTick events (one per ~100 KB
/// allocated, Verbose level of Microsoft-Windows-DotNETRuntime) carry the type of the allocation that crossed the
/// threshold, so a steady per-packet allocation shows up by name after a few thousand packets.
/// </summary>
internal sealed class AllocationRecorder : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly Dictionary<string, int> _samples = [];
    private readonly Lock _lock = new();

    /// <summary>Sampled type names with how often each was sampled, most frequent first.</summary>
    public string Describe()
    {
        lock (_lock)
        {
            return _samples.Count == 0
                ? "(no allocation tick sampled)"
                : string.Join(", ", _samples.OrderByDescending(p => p.Value).Select(p => $"{p.Key} x{p.Value}"));
        }
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventName is null || !eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.PayloadNames is null)
        {
            return;
        }

        var index = eventData.PayloadNames.IndexOf("TypeName");
        var name = index >= 0 ? eventData.Payload?[index] as string ?? "?" : "?";
        lock (_lock)
        {
            _samples[name] = _samples.GetValueOrDefault(name) + 1;
        }
    }
}
