using System.Collections.Immutable;
using System.Globalization;

namespace Sluice.Pf.Config;

public sealed partial class PfParser
{
    /// <summary>
    /// <c>ether (pass|block|match) [in|out] [quick] [on ifspec] [bridge-to if] [proto etherspec] [all | [from macspec] [to macspec]]
    /// [l3 fromto] [label|ridentifier|queue|tag|tagged|dnpipe|dnqueue …]</c> (pf.conf(5) "Ethernet Filtering").
    /// </summary>
    private void EtherRule(RulesetBuilder rs)
    {
        var line = Advance().Line; // ether
        var r = new PfEtherRule { Line = line };
        if (Accept("pass"))
        {
            r = r with { Action = PfAction.Pass };
        }
        else if (Accept("match"))
        {
            r = r with { Action = PfAction.Match };
        }
        else if (T.Is("block"))
        {
            Advance();
            var dummy = new RuleSpec();
            _ = BlockSpec(dummy.Rule, dummy); // accepted as for filter rules; a layer-2 block always drops
            r = r with { Action = PfAction.Block };
        }
        else
        {
            throw Syntax();
        }

        if (Accept("in"))
        {
            r = r with { Direction = PfDirection.In };
        }
        else if (Accept("out"))
        {
            r = r with { Direction = PfDirection.Out };
        }

        if (Accept("quick"))
        {
            r = r with { Quick = true };
        }

        var ifs = new RuleSpec();
        Interfaces(ifs);
        if (Accept("bridge-to"))
        {
            r = r with { BridgeTo = ExpectString() };
        }

        var protos = new List<int> { 0 };
        if (Accept("proto"))
        {
            protos = [];
            if (AcceptPunct("{"))
            {
                SkipNewlines();
                while (!T.IsPunct("}"))
                {
                    protos.Add(EtherProto());
                    SkipComma();
                    if (T.Kind == PfTokenKind.Eof)
                    {
                        throw Syntax();
                    }
                }

                Advance();
                if (protos.Count == 0)
                {
                    throw Syntax();
                }
            }
            else
            {
                protos.Add(EtherProto());
            }
        }

        List<PfEtherAddr?> srcs = [null], dsts = [null];
        if (!Accept("all"))
        {
            if (Accept("from"))
            {
                srcs = [.. MacSpec()];
            }

            if (Accept("to"))
            {
                dsts = [.. MacSpec()];
            }
        }

        var l3 = new RuleSpec();
        if (Accept("l3"))
        {
            FromTo(l3);
        }

        while (!AtEndOfStatement)
        {
            var t = T;
            if (t.IsPunct("!"))
            {
                Advance();
                Expect("tagged");
                r = r with { Tagged = ExpectString(), TaggedNegated = true };
                continue;
            }

            switch (t.Kind == PfTokenKind.Word ? t.Text : string.Empty)
            {
                case "label":
                    {
                        Advance();
                        var label = ExpectString();
                        if (label.Length >= 64)
                        {
                            throw Fail("rule label too long (max 63 chars)");
                        }

                        if (r.Labels.Length >= 5)
                        {
                            throw Fail("Too many labels");
                        }

                        r = r with { Labels = r.Labels.Add(label) };
                        break;
                    }

                case "ridentifier":
                    Advance();
                    r = r with { Ridentifier = ExpectNumber() };
                    break;
                case "queue":
                    Advance();
                    if (AcceptPunct("("))
                    {
                        r = r with { Queue = ExpectString() };
                        ExpectPunct(")");
                    }
                    else
                    {
                        r = r with { Queue = ExpectString() };
                    }

                    break;
                case "tag":
                    Advance();
                    r = r with { Tag = ExpectString() };
                    break;
                case "tagged":
                    Advance();
                    r = r with { Tagged = ExpectString(), TaggedNegated = false };
                    break;
                case "dnpipe" or "dnqueue":
                    Advance();
                    r = r with { DnPipe = (int)ExpectNumber(65535), DnIsPipe = t.Text == "dnpipe" };
                    break;
                default:
                    throw Syntax();
            }
        }

        if (r.Tag is { Length: >= 64 } || r.Tagged is { Length: >= 64 })
        {
            throw Fail("tag too long, max 63 chars");
        }

        // expand_eth_rule: interfaces × protocols × sources × destinations × l3 sources × l3 destinations.
        foreach (var (ifname, ifnot) in ifs.Interfaces)
        {
            foreach (var proto in protos)
            {
                foreach (var src in srcs)
                {
                    foreach (var dst in dsts)
                    {
                        foreach (var ipsrc in l3.Src)
                        {
                            foreach (var ipdst in l3.Dst)
                            {
                                rs.Ether.Add(r with
                                {
                                    Interface = ifname,
                                    InterfaceNegated = ifnot,
                                    Proto = proto,
                                    Source = src,
                                    Destination = dst,
                                    IpSource = ipsrc.Addr,
                                    IpDestination = ipdst.Addr,
                                });
                            }
                        }
                    }
                }
            }
        }
    }

    private int EtherProto()
    {
        if (!T.IsString)
        {
            throw Syntax();
        }

        var line = T.Line;
        var s = Advance().Text;
        uint v;
        if (s.Length > 0 && s.All(char.IsAsciiDigit))
        {
            v = ParseUInt(s, out var ok);
            if (!ok || v > 65535)
            {
                throw Fail("protocol outside range", line);
            }
        }
        else if (s.StartsWith("0x", StringComparison.Ordinal))
        {
            // sscanf("0x%4x"): up to four hex digits.
            var digits = s[2..].TakeWhile(char.IsAsciiHexDigit).Take(4).ToArray();
            if (digits.Length == 0)
            {
                throw Fail("invalid EtherType hex", line);
            }

            v = uint.Parse(new string(digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        }
        else
        {
            throw Fail("Symbolic EtherType not yet supported", line);
        }

        if (v == 0)
        {
            throw Fail("proto 0 cannot be used", line);
        }

        return (int)v;
    }

    /// <summary><c>[!] mac | [!] { mac, … }</c> where mac is <c>xx:xx:xx:xx:xx:xx[/len | &amp;mask]</c>.</summary>
    private List<PfEtherAddr> MacSpec()
    {
        var not = AcceptPunct("!");
        var list = new List<PfEtherAddr>();
        if (AcceptPunct("{"))
        {
            SkipNewlines();
            while (!T.IsPunct("}"))
            {
                var itemNot = AcceptPunct("!");
                list.Add(MacItem() with { Negated = not || itemNot });
                SkipComma();
                if (T.Kind == PfTokenKind.Eof)
                {
                    throw Syntax();
                }
            }

            Advance();
            return list.Count == 0 ? throw Syntax() : list;
        }

        list.Add(MacItem() with { Negated = not });
        return list;
    }

    private PfEtherAddr MacItem()
    {
        if (!T.IsString)
        {
            throw Syntax();
        }

        var line = T.Line;
        var s = Advance().Text;
        byte[] mask;
        var amp = s.IndexOf('&', StringComparison.Ordinal);
        if (amp >= 0)
        {
            mask = ParseMac(s[(amp + 1)..]) ?? throw Fail("invalid MAC address", line);
            s = s[..amp];
        }
        else if (AcceptPunct("/"))
        {
            var len = ExpectNumber();
            if (len > 48)
            {
                throw Fail("invalid mask length", line);
            }

            mask = new byte[6];
            for (var i = 0; i < len; i++)
            {
                mask[i / 8] |= (byte)(1 << (i % 8));
            }
        }
        else
        {
            mask = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        }

        var addr = ParseMac(s) ?? throw Fail("invalid MAC address", line);
        return new PfEtherAddr([.. addr], [.. mask], false);
    }

    private static byte[]? ParseMac(string s)
    {
        var parts = s.Split(':');
        if (parts.Length != 6)
        {
            return null;
        }

        var b = new byte[6];
        for (var i = 0; i < 6; i++)
        {
            var p = parts[i];
            if (p.Length is < 1 or > 2 || !p.All(char.IsAsciiHexDigit))
            {
                return null;
            }

            b[i] = byte.Parse(p, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        }

        return b;
    }
}
