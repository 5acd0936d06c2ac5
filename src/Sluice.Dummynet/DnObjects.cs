namespace Sluice.Dummynet;

/// <summary>A dummynet link (the <c>bw</c>/<c>delay</c>/<c>burst</c> half of a pipe).</summary>
public sealed class DnLink
{
    internal DnLink(int number, DnLinkConfig config)
    {
        Number = number;
        Config = config;
    }

    /// <summary>The pipe number.</summary>
    public int Number { get; }

    /// <summary>Bandwidth, delay and burst.</summary>
    public DnLinkConfig Config { get; internal set; }
}

/// <summary>A flowset (<c>queue N</c>, or the internal flowset N+131072 of <c>pipe N</c>).</summary>
public sealed class DnFlowset
{
    internal DnFlowset(int number, DnFlowsetConfig config)
    {
        Number = number;
        Config = config;
    }

    /// <summary>The flowset number.</summary>
    public int Number { get; }

    /// <summary>Parameters.</summary>
    public DnFlowsetConfig Config { get; internal set; }

    /// <summary>Weight as the schedulers use it (1 when unset).</summary>
    public int Weight => Config.Weight > 0 ? Config.Weight : 1;

    /// <summary>Priority as PRIO uses it (0 when unset).</summary>
    public int Priority => Config.Priority > 0 ? Config.Priority : 0;

    /// <summary>Queues (flows) of this flowset in all scheduler instances.</summary>
    public int Flows { get; internal set; }
}

/// <summary>A scheduler (<c>sched N</c>, or the internal FIFO N+65536 of <c>pipe N</c>) with its instances.</summary>
public sealed class DnScheduler
{
    internal DnScheduler(int number, DnSchedulerType type, DnSchedConfig config)
    {
        Number = number;
        Type = type;
        Config = config;
    }

    /// <summary>The scheduler number.</summary>
    public int Number { get; }

    /// <summary>The algorithm.</summary>
    public DnSchedulerType Type { get; internal set; }

    /// <summary>Mask, buckets, flags and fq parameters.</summary>
    public DnSchedConfig Config { get; internal set; }

    internal Dictionary<FlowId, DnSchedInstance> Instances { get; } = [];

    /// <summary>Number of instances (one per masked flow; one without a mask).</summary>
    public int ActiveInstances => Instances.Count;

    /// <summary>The link number this scheduler transmits on (N for both sched N and its FIFO twin N+65536).</summary>
    public int LinkNumber => Number > DummynetParser.MaxId ? Number - DummynetParser.MaxId : Number;
}
