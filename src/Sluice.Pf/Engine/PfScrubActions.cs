using Sluice.Pf.Config;

namespace Sluice.Pf.Engine;

/// <summary>
/// The normalization part of pf's <c>pf_rule_actions</c>: what the <c>scrub (...)</c> options of the match rules and
/// the deciding rule ask for, kept in the state and applied to every packet of it (pf_scrub).
/// </summary>
internal struct PfScrubActions
{
    public const byte NoDf = 1, RandomId = 2, SetTos = 4, ScrubTcp = 8;

    public byte Flags;
    public byte MinTtl;
    public byte Tos;
    public ushort MaxMss;

    /// <summary>True when nothing is to be done.</summary>
    public readonly bool IsEmpty => Flags == 0 && MinTtl == 0 && MaxMss == 0;

    /// <summary>A rule's options as actions (pfctl: scrub_flags, min_ttl, max_mss, set_tos).</summary>
    public static PfScrubActions From(PfScrubOptions o)
    {
        var a = default(PfScrubActions);
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

    /// <summary>pf_rule_to_actions: a later rule's set values replace earlier ones, flags accumulate.</summary>
    public void Merge(in PfScrubActions r)
    {
        if ((r.Flags & SetTos) != 0)
        {
            Tos = r.Tos;
        }

        if (r.MinTtl != 0)
        {
            MinTtl = r.MinTtl;
        }

        if (r.MaxMss != 0)
        {
            MaxMss = r.MaxMss;
        }

        Flags |= r.Flags;
    }
}
