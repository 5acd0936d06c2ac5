using Sluice.Pf.Config;

namespace Sluice.Pf.Engine;

/// <summary>
/// pf's <c>pf_rule_actions</c>: what the matching <c>match</c> rules and the deciding rule ask to be done to a packet
/// and kept in its state (pf_kstate.act): scrub options, queue, rtable, log, dummynet pipes, set prio, allow-opts.
/// </summary>
/// <remarks>A value type with no per-packet allocation; the queue names are references to the rule's strings.</remarks>
internal struct PfRuleActions
{
    /// <summary>PFSTATE_NODF, PFSTATE_RANDOMID, PFSTATE_SETTOS, PFSTATE_SCRUB_TCP, PFSTATE_SETPRIO, PFSTATE_DN_IS_PIPE.</summary>
    public const byte NoDf = 1, RandomId = 2, SetTos = 4, ScrubTcp = 8, SetPrio = 0x10, DnIsPipe = 0x20, AllowOpts = 0x40;

    /// <summary>Log bits as pf_krule.log: PF_LOG, PF_LOG_ALL, PF_LOG_MATCHES.</summary>
    public const byte LogOn = 0x01, LogAll = 0x02, LogMatches = 0x10;

    public byte Flags;
    public byte MinTtl;
    public byte Tos;
    public ushort MaxMss;
    public byte Log;
    public byte Prio0, Prio1; // set prio (first, second)
    public ushort DnPipe, DnRPipe;
    public string? Queue, PriorityQueue; // ALTQ qid/pqid by name
    private short _rtable; // rtable + 1; 0 = none (pf's rtableid -1)

    /// <summary>The routing table (FIB) asked for, or -1.</summary>
    public readonly int Rtable => _rtable - 1;

    /// <summary>True when pf_scrub has something to do (no-df, random-id, set-tos, min-ttl, max-mss, reassemble tcp).</summary>
    public readonly bool HasScrub => (Flags & (NoDf | RandomId | SetTos | ScrubTcp)) != 0 || MinTtl != 0 || MaxMss != 0;

    /// <summary>A rule's actions (pfctl: scrub_flags, min_ttl, max_mss, set_tos, qname/pqname, rtable, log, dnpipe, set prio).</summary>
    public static PfRuleActions From(PfRule r)
    {
        var a = From(r.Scrub);
        a.Queue = r.Queue;
        a.PriorityQueue = r.PriorityQueue;
        a._rtable = (short)(r.Rtable is >= 0 and < short.MaxValue ? r.Rtable + 1 : 0);
        if (r.Log.Enabled)
        {
            a.Log = (byte)(LogOn | (r.Log.All ? LogAll : 0) | (r.Log.Matches ? LogMatches : 0));
        }

        a.DnPipe = (ushort)Math.Clamp(r.DnPipe, 0, 65535);
        a.DnRPipe = (ushort)Math.Clamp(r.DnRPipe, 0, 65535);
        if (r.DnIsPipe && (a.DnPipe | a.DnRPipe) != 0)
        {
            a.Flags |= DnIsPipe;
        }

        if (r.SetPrio is { } p)
        {
            a.Flags |= SetPrio;
            a.Prio0 = (byte)p.A;
            a.Prio1 = (byte)p.B;
        }

        if (r.AllowOpts)
        {
            a.Flags |= AllowOpts;
        }

        return a;
    }

    /// <summary>The normalization options of a <c>scrub</c> rule or a <c>scrub (...)</c> clause.</summary>
    public static PfRuleActions From(PfScrubOptions o)
    {
        var a = default(PfRuleActions);
        if (o.NoDf)
        {
            a.Flags |= NoDf;
        }

        if (o.RandomId)
        {
            a.Flags |= RandomId;
        }

        if (o.ReassembleTcp)
        {
            a.Flags |= ScrubTcp;
        }

        if (o.SetTos is { } tos)
        {
            a.Flags |= SetTos;
            a.Tos = (byte)tos;
        }

        a.MinTtl = (byte)Math.Clamp(o.MinTtl, 0, 255);
        a.MaxMss = (ushort)Math.Clamp(o.MaxMss, 0, 65535);
        return a;
    }

    /// <summary>
    /// pf_rule_to_actions: a later rule's set values replace earlier ones (tos, queues, rtable, min-ttl, max-mss, pipes,
    /// prio), flags and log bits accumulate; a rule with pipes decides whether they are pipes or queues.
    /// </summary>
    public void Merge(in PfRuleActions r)
    {
        Flags |= (byte)(r.Flags & (NoDf | RandomId | ScrubTcp | SetPrio | SetTos | AllowOpts));
        if ((r.Flags & SetTos) != 0)
        {
            Tos = r.Tos;
        }

        if (r.Queue is not null)
        {
            Queue = r.Queue;
        }

        if (r.PriorityQueue is not null)
        {
            PriorityQueue = r.PriorityQueue;
        }

        if (r._rtable != 0)
        {
            _rtable = r._rtable;
        }

        Log |= r.Log;
        if (r.MinTtl != 0)
        {
            MinTtl = r.MinTtl;
        }

        if (r.MaxMss != 0)
        {
            MaxMss = r.MaxMss;
        }

        if (r.DnPipe != 0)
        {
            DnPipe = r.DnPipe;
        }

        if (r.DnRPipe != 0)
        {
            DnRPipe = r.DnRPipe;
        }

        if ((r.DnPipe | r.DnRPipe) != 0)
        {
            Flags = (byte)((Flags & ~DnIsPipe) | (r.Flags & DnIsPipe));
        }

        if ((r.Flags & SetPrio) != 0)
        {
            Prio0 = r.Prio0;
            Prio1 = r.Prio1;
        }
    }
}
