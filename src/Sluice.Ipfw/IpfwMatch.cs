using System.Globalization;
using System.Text;
using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Pfil;
using Sluice.Wire;

namespace Sluice.Ipfw;

/// <summary>What the matchers see of a packet (read once per packet).</summary>
internal struct PacketContext
{
    public FlowId Id;
    public bool IPv6;
    public int Ttl;
    public bool Fragment;
    public byte TcpFlags;
    public int IcmpType;
    public int Length;
    public PfilDirection Direction;
    public NetworkInterface Interface;
    public int ReceiveInterfaceIndex;
    public int Tag;
    public NetStack Stack;
    public IpfwInstance Ipfw;
}

/// <summary>One item of a rule body.</summary>
public abstract class IpfwMatch
{
    /// <summary>Negated (not / !).</summary>
    public bool Not { get; internal set; }

    /// <summary>ORed with the next item (inside { ... or ... }).</summary>
    public bool OrNext { get; internal set; }

    /// <summary>The item as ipfw prints it.</summary>
    public abstract string Format();

    internal abstract bool Evaluate(ref PacketContext ctx);
}

/// <summary>An address item: any, me, me6, prefix, or table.</summary>
public readonly record struct IpfwAddress(IpfwAddressKind Kind, UInt128 Address, int PrefixLength, string? Table)
{
    /// <summary>Formats like ipfw.</summary>
    public override string ToString() => Kind switch
    {
        IpfwAddressKind.Any => "any",
        IpfwAddressKind.Me => "me",
        IpfwAddressKind.Me6 => "me6",
        IpfwAddressKind.Table => $"table({Table})",
        IpfwAddressKind.V4 => PrefixLength == 32
            ? new IPv4Address((uint)Address).ToString()
            : $"{new IPv4Address((uint)Address)}/{PrefixLength}",
        _ => PrefixLength == 128
            ? V6(Address)
            : $"{V6(Address)}/{PrefixLength}",
    };

    /// <summary>Formats a 128-bit IPv6 address.</summary>
    public static string V6(UInt128 a) => new IPv6Address((ulong)(a >> 64), (ulong)a).ToString();
}

/// <summary>Address kinds.</summary>
public enum IpfwAddressKind
{
    Any,
    Me,
    Me6,
    V4,
    V6,
    Table,
}

/// <summary>from/to address list (src-ip/dst-ip).</summary>
public sealed class AddressMatch(bool source, IReadOnlyList<IpfwAddress> items, string? keyword = null) : IpfwMatch
{
    /// <summary>Source side.</summary>
    public bool Source { get; } = source;

    /// <summary>The alternatives.</summary>
    public IReadOnlyList<IpfwAddress> Items { get; } = items;

    /// <inheritdoc/>
    public override string Format() => (keyword is null ? string.Empty : keyword + " ") + string.Join(",", Items);

    internal override bool Evaluate(ref PacketContext ctx)
    {
        var a = Source ? ctx.Id.Source : ctx.Id.Destination;
        var items = Items;
        for (var i = 0; i < items.Count; i++) // not foreach: that would box the list's enumerator per packet
        {
            var item = items[i];
            switch (item.Kind)
            {
                case IpfwAddressKind.Any:
                    return true;
                case IpfwAddressKind.Me:
                    if (!ctx.IPv6 && ctx.Stack.IsLocalAddress(new IPv4Address((uint)a)))
                    {
                        return true;
                    }

                    break;
                case IpfwAddressKind.Me6:
                    if (ctx.IPv6 && IsLocal6(ctx.Stack, a))
                    {
                        return true;
                    }

                    break;
                case IpfwAddressKind.V4:
                    if (!ctx.IPv6 && (((uint)a ^ (uint)item.Address) & Mask32(item.PrefixLength)) == 0)
                    {
                        return true;
                    }

                    break;
                case IpfwAddressKind.V6:
                    if (ctx.IPv6 && ((a ^ item.Address) & Mask128(item.PrefixLength)) == 0)
                    {
                        return true;
                    }

                    break;
                default:
                    if (ctx.Ipfw.TableLookup(item.Table!, a, ctx.IPv6))
                    {
                        return true;
                    }

                    break;
            }
        }

        return false;
    }

    internal static uint Mask32(int len) => len <= 0 ? 0 : len >= 32 ? uint.MaxValue : ~(uint.MaxValue >> len);

    internal static UInt128 Mask128(int len) => len <= 0 ? UInt128.Zero : len >= 128 ? UInt128.MaxValue : ~(UInt128.MaxValue >> len);

    private static bool IsLocal6(NetStack stack, UInt128 a)
    {
        var addr = new IPv6Address((ulong)(a >> 64), (ulong)a);
        foreach (var ifp in stack.Interfaces)
        {
            foreach (var x in ifp.IPv6Addresses)
            {
                if (x.Address == addr)
                {
                    return true;
                }
            }
        }

        return false;
    }
}

/// <summary>Port list or ranges; also used for ipttl, tagged, iplen.</summary>
public sealed class RangeMatch(RangeField field, IReadOnlyList<(int Low, int High)> ranges) : IpfwMatch
{
    /// <summary>Field compared.</summary>
    public RangeField Field { get; } = field;

    /// <summary>Ranges.</summary>
    public IReadOnlyList<(int Low, int High)> Ranges { get; } = ranges;

    /// <inheritdoc/>
    public override string Format()
    {
        var prefix = Field switch
        {
            RangeField.IpTtl => "ipttl ",
            RangeField.Tagged => "tagged ",
            RangeField.IpLen => "iplen ",
            RangeField.SrcPortOption => "src-port ",
            RangeField.DstPortOption => "dst-port ",
            _ => string.Empty,
        };
        return prefix + string.Join(",", Ranges.Select(r => r.Low == r.High
            ? r.Low.ToString(CultureInfo.InvariantCulture)
            : $"{r.Low.ToString(CultureInfo.InvariantCulture)}-{r.High.ToString(CultureInfo.InvariantCulture)}"));
    }

    internal override bool Evaluate(ref PacketContext ctx)
    {
        int v;
        switch (Field)
        {
            case RangeField.SrcPort or RangeField.SrcPortOption:
            case RangeField.DstPort or RangeField.DstPortOption:
                if (ctx.Fragment || ctx.Id.Protocol is not (6 or 17 or 132))
                {
                    return false;
                }

                v = Field is RangeField.SrcPort or RangeField.SrcPortOption ? ctx.Id.SourcePort : ctx.Id.DestinationPort;
                break;
            case RangeField.IpTtl:
                v = ctx.Ttl;
                break;
            case RangeField.Tagged:
                v = ctx.Tag;
                if (v == 0)
                {
                    return false;
                }

                break;
            default:
                v = ctx.Length;
                break;
        }

        // An index loop: foreach over the IReadOnlyList would box its enumerator on every packet.
        var ranges = Ranges;
        for (var i = 0; i < ranges.Count; i++)
        {
            var (lo, hi) = ranges[i];
            if (v >= lo && v <= hi)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Fields of <see cref="RangeMatch"/>.</summary>
public enum RangeField
{
    SrcPort,
    DstPort,
    SrcPortOption,
    DstPortOption,
    IpTtl,
    Tagged,
    IpLen,
}

/// <summary>Options without a value or with a simple one.</summary>
public sealed class OptionMatch(OptionKind kind, int value = 0, int value2 = 0, string? text = null) : IpfwMatch
{
    /// <summary>Which option.</summary>
    public OptionKind Kind { get; } = kind;

    /// <inheritdoc/>
    public override string Format() => Kind switch
    {
        OptionKind.In => "in",
        OptionKind.Out => "out",
        OptionKind.Via => "via " + text,
        OptionKind.Recv => "recv " + text,
        OptionKind.Xmit => "xmit " + text,
        OptionKind.Established => "established",
        OptionKind.Setup => "setup",
        OptionKind.Frag => "frag",
        OptionKind.TcpFlags => "tcpflags " + text,
        OptionKind.IcmpTypes => "icmptypes " + text,
        OptionKind.IpVer => "ipver " + value.ToString(CultureInfo.InvariantCulture),
        OptionKind.Proto => "proto " + text,
        OptionKind.Ip4 => "ip4",
        _ => "ip6",
    };

    internal override bool Evaluate(ref PacketContext ctx)
    {
        switch (Kind)
        {
            case OptionKind.In:
                return ctx.Direction == PfilDirection.In;
            case OptionKind.Out:
                return ctx.Direction == PfilDirection.Out;
            case OptionKind.Via:
                return NameMatches(ctx.Interface.Name) || (ctx.Direction == PfilDirection.Out && RecvMatches(ref ctx));
            case OptionKind.Recv:
                return ctx.Direction == PfilDirection.In ? NameMatches(ctx.Interface.Name) : RecvMatches(ref ctx);
            case OptionKind.Xmit:
                return ctx.Direction == PfilDirection.Out && NameMatches(ctx.Interface.Name);
            case OptionKind.Established:
                return ctx.Id.Protocol == 6 && !ctx.Fragment && (ctx.TcpFlags & 0x14) != 0;
            case OptionKind.Setup:
                return ctx.Id.Protocol == 6 && !ctx.Fragment && (ctx.TcpFlags & 0x12) == 0x02;
            case OptionKind.Frag:
                return ctx.Fragment;
            case OptionKind.TcpFlags:
                return ctx.Id.Protocol == 6 && !ctx.Fragment && (ctx.TcpFlags & value) == value && (ctx.TcpFlags & value2) == 0;
            case OptionKind.IcmpTypes:
                return ctx.Id.Protocol == 1 && !ctx.Fragment && ctx.IcmpType is >= 0 and < 32 && ((value >> ctx.IcmpType) & 1) != 0;
            case OptionKind.IpVer:
                return value == (ctx.IPv6 ? 6 : 4);
            case OptionKind.Proto:
                return value == 256 ? !ctx.IPv6 : value == 257 ? ctx.IPv6 : ctx.Id.Protocol == value;
            case OptionKind.Ip4:
                return !ctx.IPv6;
            default:
                return ctx.IPv6;
        }
    }

    private bool RecvMatches(ref PacketContext ctx)
    {
        if (ctx.ReceiveInterfaceIndex == 0)
        {
            return false;
        }

        var r = ctx.Stack.InterfaceByIndex(ctx.ReceiveInterfaceIndex);
        return r is not null && NameMatches(r.Name);
    }

    private bool NameMatches(string name)
    {
        if (text == "any")
        {
            return true;
        }

        if (text!.EndsWith('*'))
        {
            return name.StartsWith(text[..^1], StringComparison.Ordinal);
        }

        return name == text;
    }
}

/// <summary>Option kinds.</summary>
public enum OptionKind
{
    In,
    Out,
    Via,
    Recv,
    Xmit,
    Established,
    Setup,
    Frag,
    TcpFlags,
    IcmpTypes,
    IpVer,
    Proto,
    Ip4,
    Ip6,
}

internal static class FormatHelpers
{
    public static string TcpFlagsText(int set, int clear)
    {
        var sb = new StringBuilder();
        string[] names = ["fin", "syn", "rst", "psh", "ack", "urg"];
        for (var i = 0; i < names.Length; i++)
        {
            if ((set & (1 << i)) != 0)
            {
                sb.Append(sb.Length > 0 ? "," : string.Empty).Append(names[i]);
            }

            if ((clear & (1 << i)) != 0)
            {
                sb.Append(sb.Length > 0 ? ",!" : "!").Append(names[i]);
            }
        }

        return sb.ToString();
    }
}
