using Sluice.Stack.Buffers;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Sysctl;
using Sluice.Stack.Time;
using Sluice.Wire;

namespace Sluice.Stack;

/// <summary>MLD listener state of one group on one interface (struct in6_multi, the MLD part).</summary>
internal sealed class MldGroup(IPv6Address address, bool reported)
{
    public IPv6Address Address { get; } = address;

    /// <summary>in6_joingroup references (one per address that needs the group, plus explicit joins).</summary>
    public int References;

    /// <summary>False for ff02::1 and interface-local groups (mld_is_addr_reported): never reported.</summary>
    public bool Reported { get; } = reported;

    public MldGroupState State = MldGroupState.Reporting;

    /// <summary>Current-state timer in fast ticks (0 = stopped): MLDv1 report or MLDv2 group query response.</summary>
    public int Timer;

    /// <summary>State-change retransmission timer in fast ticks (0 = stopped).</summary>
    public int StateChangeTimer;

    /// <summary>State-change reports still to send (in6m_scrv).</summary>
    public int StateChangeRemaining;

    /// <summary>The pending state-change record: TO_EX after a join, TO_IN after the last leave.</summary>
    public MldRecordType StateChangeRecord;
}

/// <summary>The states of mld6.c that Sluice uses (no source filters: every group is an any-source exclude-mode group).</summary>
internal enum MldGroupState
{
    /// <summary>Never reported (MLD_SILENT_MEMBER).</summary>
    Silent,
    /// <summary>Our report is pending or we sent the last one (MLD_REPORTING_MEMBER / MLD_IDLE_MEMBER).</summary>
    Reporting,
    /// <summary>Another listener reported it under MLDv1: no Done on leave (MLD_LAZY_MEMBER).</summary>
    Lazy,
    /// <summary>A group-specific MLDv2 query response is pending (MLD_G_QUERY_PENDING_MEMBER).</summary>
    QueryPending,
    /// <summary>Left; TO_IN retransmissions still pending (MLD_LEAVING_MEMBER).</summary>
    Leaving,
}

/// <summary>Per-interface MLD state (struct mld_ifsoftc).</summary>
internal sealed class MldInterface
{
    public readonly Dictionary<IPv6Address, MldGroup> Groups = [];

    /// <summary>While now &lt; this, an MLDv1 querier is present: MLDv1 host compatibility mode (RFC 3810 §8.2.1).</summary>
    public long V1Until = long.MinValue;

    /// <summary>Robustness variable (mli_rv), learned from MLDv2 queries.</summary>
    public int Robustness = 2;

    /// <summary>Query interval in seconds (mli_qi).</summary>
    public int QueryInterval = 125;

    /// <summary>Query response interval in seconds (mli_qri).</summary>
    public int QueryResponseInterval = 10;

    /// <summary>Pending general query response, in fast ticks (mli_v2_timer; 0 = none).</summary>
    public int GeneralQueryTimer;
}

public sealed partial class NetStack
{
    // PR_FASTHZ: mld_fasttimo runs five times a second; MLD's report timers count these ticks.
    private const int MldFastHz = 5;
    private const long MldTick = Nanos.PerSecond / MldFastHz;

    // mld6_var.h: MLD_URI_INIT (unsolicited report interval, s) and MLD_V1_MAX_RI (MLDv1 maximum report interval, s).
    private const int MldUnsolicitedReportInterval = 3, MldV1MaxReportInterval = 10;

    private static readonly IPv6Address AllMldv2Routers = new(0xff02_0000_0000_0000UL, 0x16UL);
    private static readonly IPv6Address InterfaceLocalAllNodes = new(0xff01_0000_0000_0000UL, 1UL);

    private readonly Dictionary<NetworkInterface, MldInterface> _mld = [];

    // MLD's report delays draw from their own generator (seeded from the stack's seed) so that the reports of every
    // IPv6 interface do not shift the stack's other random choices (ports, ISNs) in existing labs.
    private Random? _mldRandomField;
    private Timer? _mldTimer;
    private readonly List<IPv6Address> _mldRecords = [];
    private readonly List<MldRecordType> _mldRecordTypes = [];

    internal SysctlInt SysctlMldV1Enable = null!;
    internal SysctlInt SysctlMldV2Enable = null!;

    private void RegisterMldSysctls(SysctlTree t)
    {
        SysctlMldV1Enable = t.AddInt("net.inet6.mld.v1enable", "Enable fallback to MLDv1", 1, 0, 1);
        SysctlMldV2Enable = t.AddInt("net.inet6.mld.v2enable", "Enable MLDv2", 1, 0, 1);
    }

    /// <summary>The IPv6 multicast groups joined on <paramref name="ifp"/> (ifmcstat), in no particular order.</summary>
    public IReadOnlyCollection<IPv6Address> MulticastGroups(NetworkInterface ifp) =>
        _mld.TryGetValue(ifp, out var state) ? [.. state.Groups.Values.Where(g => g.State != MldGroupState.Leaving).Select(g => g.Address)] : [];

    /// <summary>The MLD version <paramref name="ifp"/> speaks: 1 while an MLDv1 querier is present, else 2.</summary>
    public int MldVersion(NetworkInterface ifp) =>
        _mld.TryGetValue(ifp, out var state) && Loop.Now < state.V1Until ? 1 : 2;

    /// <summary>Joins <paramref name="group"/> on <paramref name="ifp"/> (in6_joingroup): a new group is reported by MLD.</summary>
    public void JoinGroup(NetworkInterface ifp, IPv6Address group)
    {
        if (!group.IsMulticast)
        {
            return;
        }

        if (!_mld.TryGetValue(ifp, out var state))
        {
            state = new MldInterface();
            _mld.Add(ifp, state);
        }

        if (state.Groups.TryGetValue(group, out var g) && g.State != MldGroupState.Leaving)
        {
            g.References++;
            return;
        }

        // mld_is_addr_reported: never ff02::1, never interface-local groups; loopback is MLIF_SILENT.
        var reported = !ifp.IsLoopback && group != IPv6Address.AllNodesMulticast && (group.High >> 48 & 0xff0f) != 0xff01;
        if (g is null)
        {
            g = new MldGroup(group, reported);
            state.Groups.Add(group, g);
        }

        g.References = 1;
        g.Timer = 0;
        if (!reported)
        {
            g.State = MldGroupState.Silent;
            return;
        }

        g.State = MldGroupState.Reporting;
        if (MldVersion(ifp) == 1)
        {
            // mld_initial_join (MLDv1): one report at once, the group becomes the idle last reporter.
            g.StateChangeTimer = 0;
            g.StateChangeRemaining = 0;
            SendMldV1(ifp, IcmpV6Type.MulticastListenerReport, group);
            return;
        }

        // mld_initial_join (MLDv2): a TO_EX state-change record at the next fast timeout, robustness times.
        g.StateChangeRecord = MldRecordType.ChangeToExcludeMode;
        g.StateChangeRemaining = state.Robustness;
        g.StateChangeTimer = 1;
        ArmMldTimer();
    }

    /// <summary>Leaves <paramref name="group"/> on <paramref name="ifp"/> (in6_leavegroup): the last reference sends a Done or TO_IN.</summary>
    public void LeaveGroup(NetworkInterface ifp, IPv6Address group)
    {
        if (!_mld.TryGetValue(ifp, out var state) || !state.Groups.TryGetValue(group, out var g) || g.State == MldGroupState.Leaving
            || --g.References > 0)
        {
            return;
        }

        // mld_final_leave.
        g.Timer = 0;
        if (!g.Reported)
        {
            state.Groups.Remove(group);
            return;
        }

        if (MldVersion(ifp) == 1)
        {
            if (g.State is MldGroupState.Reporting or MldGroupState.QueryPending)
            {
                SendMldV1(ifp, IcmpV6Type.MulticastListenerDone, group); // we were the last reporter (RFC 2710 §4)
            }

            state.Groups.Remove(group);
            return;
        }

        g.State = MldGroupState.Leaving;
        g.StateChangeRecord = MldRecordType.ChangeToIncludeMode;
        g.StateChangeRemaining = state.Robustness;
        g.StateChangeTimer = 1;
        ArmMldTimer();
    }

    /// <summary>True when <paramref name="group"/> is joined on <paramref name="ifp"/> (in6m_lookup), for ip6_input.</summary>
    private bool IsJoined6(NetworkInterface ifp, IPv6Address group) =>
        _mld.TryGetValue(ifp, out var state) && state.Groups.TryGetValue(group, out var g) && g.State != MldGroupState.Leaving;

    /// <summary>in6_update_ifa_join_mc: the solicited-node, link-local and interface-local all-nodes groups of a new address.</summary>
    private void JoinAddressGroups(NetworkInterface ifp, IPv6InterfaceAddress ifa)
    {
        JoinGroup(ifp, IPv6Address.SolicitedNodeMulticast(ifa.Address));
        JoinGroup(ifp, IPv6Address.AllNodesMulticast);
        JoinGroup(ifp, InterfaceLocalAllNodes);
    }

    private void LeaveAddressGroups(NetworkInterface ifp, IPv6InterfaceAddress ifa)
    {
        LeaveGroup(ifp, IPv6Address.SolicitedNodeMulticast(ifa.Address));
        LeaveGroup(ifp, IPv6Address.AllNodesMulticast);
        LeaveGroup(ifp, InterfaceLocalAllNodes);
    }

    /// <summary>mld_domifdetach: forgets the interface's MLD state without sending anything.</summary>
    private void MldDetach(NetworkInterface ifp) => _mld.Remove(ifp);

    /// <summary>mld_input for a query or an MLDv1 report (icmp6_input has checked length and code). Does not take the packet.</summary>
    private void MldInput(NetworkInterface ifp, Span<byte> message, IPv6Address source, IPv6Address destination)
    {
        if (!MldMessage.TryCreate(message, out var mld))
        {
            Icmp6.BadLength++; // a v2 query whose source list does not fit (FreeBSD: EMSGSIZE)
            return;
        }

        if (ifp.IsLoopback)
        {
            return;
        }

        switch (mld.Type)
        {
            case IcmpV6Type.MulticastListenerQuery when message.Length == MldMessage.Length:
                MldV1Query(ifp, mld, source, destination);
                break;
            case IcmpV6Type.MulticastListenerQuery when mld.IsV2Query:
                MldV2Query(ifp, mld, source);
                break;
            case IcmpV6Type.MulticastListenerReport:
                MldV1Report(ifp, mld, source, destination);
                break;
        }
    }

    private void MldV1Query(NetworkInterface ifp, in MldMessage mld, IPv6Address source, IPv6Address destination)
    {
        // RFC 3810 §6.2 (mld_v1_input_query): queries come from a router's link-local address.
        if (SysctlMldV1Enable.Value == 0 || !source.IsLinkLocal)
        {
            return;
        }

        var group = mld.MulticastAddress;
        if (group.IsUnspecified ? destination != IPv6Address.AllNodesMulticast : !group.IsMulticast)
        {
            return;
        }

        if (!_mld.TryGetValue(ifp, out var state))
        {
            return;
        }

        // mld_set_version: MLDv1 host compatibility mode for the Older Version Querier Present Timeout (RFC 3810 §9.12).
        if (Loop.Now >= state.V1Until)
        {
            foreach (var g in state.Groups.Values)
            {
                g.StateChangeTimer = 0;
                g.StateChangeRemaining = 0;
                if (g.State == MldGroupState.QueryPending)
                {
                    g.State = MldGroupState.Reporting;
                }
            }

            state.GeneralQueryTimer = 0;
        }

        state.V1Until = Loop.Now + (((long)state.Robustness * state.QueryInterval) + state.QueryResponseInterval) * Nanos.PerSecond;
        var timer = Math.Max(1, mld.MaximumResponse * MldFastHz / 1000);
        foreach (var g in state.Groups.Values)
        {
            if (!g.Reported || g.State == MldGroupState.Leaving || (!group.IsUnspecified && g.Address != group))
            {
                continue;
            }

            // mld_v1_update_group: keep a running timer that is already due sooner.
            if (g.State == MldGroupState.Reporting && g.Timer != 0 && g.Timer <= timer)
            {
                continue;
            }

            g.State = MldGroupState.Reporting;
            g.Timer = MldRandomDelay(timer);
        }

        ArmMldTimer();
    }

    private void MldV2Query(NetworkInterface ifp, in MldMessage mld, IPv6Address source)
    {
        if (SysctlMldV2Enable.Value == 0 || !source.IsLinkLocal || !_mld.TryGetValue(ifp, out var state))
        {
            return;
        }

        var maxDelay = MldMessage.DecodeMaximumResponseCode(mld.MaximumResponse);
        var timer = Math.Max(1, (int)((long)maxDelay * MldFastHz / 1000));
        var group = mld.MulticastAddress;
        if (group.IsUnspecified ? mld.SourceCount > 0 : !group.IsMulticast)
        {
            return; // a general query with sources is undefined: discarded
        }

        // RFC 3810 §8.2.1: stay in MLDv1 mode while the older querier is present.
        if (Loop.Now < state.V1Until)
        {
            return;
        }

        var robustness = mld.QuerierRobustness;
        state.Robustness = robustness < 2 ? 2 : robustness;
        state.QueryInterval = MldMessage.DecodeQueryIntervalCode(mld.QueryIntervalCode);
        state.QueryResponseInterval = Math.Max(1, maxDelay / 1000);
        if (group.IsUnspecified)
        {
            if (state.GeneralQueryTimer == 0 || state.GeneralQueryTimer >= timer)
            {
                state.GeneralQueryTimer = MldRandomDelay(timer);
            }
        }
        else if (state.Groups.TryGetValue(group, out var g) && g.Reported
                 && g.State is MldGroupState.Reporting or MldGroupState.QueryPending
                 && (state.GeneralQueryTimer == 0 || state.GeneralQueryTimer >= timer))
        {
            // mld_v2_process_group_query (no source filters: a source-specific query is answered like a group query).
            if (g.State == MldGroupState.QueryPending)
            {
                timer = Math.Min(g.Timer, timer);
            }

            g.State = MldGroupState.QueryPending;
            g.Timer = MldRandomDelay(timer);
        }

        ArmMldTimer();
    }

    private void MldV1Report(NetworkInterface ifp, in MldMessage mld, IPv6Address source, IPv6Address destination)
    {
        // mld_v1_input_report: from a link-local or unspecified source, about the group it is sent to, not our own.
        var group = mld.MulticastAddress;
        if (SysctlMldV1Enable.Value == 0 || (!source.IsLinkLocal && !source.IsUnspecified) || !group.IsMulticast || group != destination
            || IsLocalAddress(source, ifp.Index) || !_mld.TryGetValue(ifp, out var state) || !state.Groups.TryGetValue(group, out var g))
        {
            return;
        }

        if (Loop.Now < state.V1Until && g.State is MldGroupState.Reporting or MldGroupState.QueryPending)
        {
            // RFC 2710 §4: another listener answered; stop our timer and let it send the Done.
            g.Timer = 0;
            g.State = MldGroupState.Lazy;
        }
    }

    /// <summary>MLD_RANDOM_DELAY: 1 to <paramref name="ticks"/> fast ticks, uniformly.</summary>
    private int MldRandomDelay(int ticks) => MldRandom.Next(ticks) + 1;

    private void ArmMldTimer()
    {
        _mldTimer ??= new Timer(MldTicks);
        if (!_mldTimer.IsScheduled)
        {
            Loop.ScheduleAfter(_mldTimer, MldTick);
        }
    }

    private sealed class MldTickHandler(NetStack stack) : ITimerHandler
    {
        public void OnTimer(Timer timer) => stack.MldFastTimeout();
    }

    private Random MldRandom => _mldRandomField ??= new Random(_seed ^ 0x4d4c44);

    private MldTickHandler? _mldTickHandlerField;

    private MldTickHandler MldTicks => _mldTickHandlerField ??= new MldTickHandler(this);

    /// <summary>mld_fasttimo: advances every running timer by one tick and sends what fell due, one report per interface and kind.</summary>
    private void MldFastTimeout()
    {
        var running = false;
        foreach (var (ifp, state) in _mld)
        {
            var v1 = Loop.Now < state.V1Until;
            var generalDue = state.GeneralQueryTimer > 0 && --state.GeneralQueryTimer == 0;
            running |= state.GeneralQueryTimer > 0;

            // Current-state records: the general query response, or group query responses.
            _mldRecords.Clear();
            _mldRecordTypes.Clear();
            List<IPv6Address>? gone = null;
            foreach (var g in state.Groups.Values)
            {
                if (!g.Reported)
                {
                    continue;
                }

                var due = g.Timer > 0 && --g.Timer == 0;
                running |= g.Timer > 0;
                if (v1)
                {
                    if (due && g.State == MldGroupState.Reporting)
                    {
                        SendMldV1(ifp, IcmpV6Type.MulticastListenerReport, g.Address);
                    }

                    continue;
                }

                if ((generalDue && g.State != MldGroupState.Leaving) || (due && g.State == MldGroupState.QueryPending))
                {
                    if (g.State == MldGroupState.QueryPending)
                    {
                        g.State = MldGroupState.Reporting;
                    }

                    _mldRecords.Add(g.Address);
                    _mldRecordTypes.Add(MldRecordType.ModeIsExclude);
                }
            }

            SendMldV2Reports(ifp);

            // State-change records (and their retransmissions).
            foreach (var g in state.Groups.Values)
            {
                if (v1 || g.StateChangeTimer == 0 || --g.StateChangeTimer > 0)
                {
                    running |= g.StateChangeTimer > 0;
                    continue;
                }

                _mldRecords.Add(g.Address);
                _mldRecordTypes.Add(g.StateChangeRecord);
                if (--g.StateChangeRemaining > 0)
                {
                    g.StateChangeTimer = MldRandomDelay(MldUnsolicitedReportInterval * MldFastHz);
                    running = true;
                }
                else if (g.State == MldGroupState.Leaving)
                {
                    (gone ??= []).Add(g.Address);
                }
            }

            SendMldV2Reports(ifp);
            if (gone is not null)
            {
                foreach (var address in gone)
                {
                    state.Groups.Remove(address);
                }
            }
        }

        if (running)
        {
            ArmMldTimer();
        }
    }

    /// <summary>Sends the collected records as MLDv2 reports, as many records per packet as the MTU allows.</summary>
    private void SendMldV2Reports(NetworkInterface ifp)
    {
        var perPacket = Math.Max(1, (ifp.Mtu - IPv6Packet.HeaderLength - MldRouterAlert.Length - MldV2Report.HeaderLength) / MldV2Report.RecordHeaderLength);
        for (var first = 0; first < _mldRecords.Count; first += perPacket)
        {
            var count = Math.Min(perPacket, _mldRecords.Count - first);
            var length = MldV2Report.LengthFor(count);
            var packet = RentMld(length);
            var message = packet.Data[(IPv6Packet.HeaderLength + MldRouterAlert.Length)..];
            MldV2Report.EmitHeader(message, count);
            for (var i = 0; i < count; i++)
            {
                MldV2Report.EmitRecord(message, i, _mldRecordTypes[first + i], _mldRecords[first + i]);
            }

            MldOutput(ifp, packet, AllMldv2Routers, IcmpV6Type.MulticastListenerReportV2);
        }

        _mldRecords.Clear();
        _mldRecordTypes.Clear();
    }

    /// <summary>mld_v1_transmit_report: a report to the group itself, a Done to ff02::2 (RFC 2710 §3).</summary>
    private void SendMldV1(NetworkInterface ifp, IcmpV6Type type, IPv6Address group)
    {
        var packet = RentMld(MldMessage.Length);
        new MldRepr(type, 0, group).Emit(packet.Data[(IPv6Packet.HeaderLength + MldRouterAlert.Length)..]);
        MldOutput(ifp, packet, type == IcmpV6Type.MulticastListenerDone ? IPv6Address.AllRoutersMulticast : group, type);
    }

    private Packet RentMld(int messageLength) => Pool.Rent(IPv6Packet.HeaderLength + MldRouterAlert.Length + messageLength);

    /// <summary>
    /// Sends an MLD message (mld_dispatch_packet with mld_po): hop limit 1, the Router Alert hop-by-hop header, from the
    /// interface's ready link-local address or :: when it has none yet (RFC 3810 §5.2.13). Takes ownership.
    /// </summary>
    private void MldOutput(NetworkInterface ifp, Packet packet, IPv6Address destination, IcmpV6Type type)
    {
        if (!ifp.IsUp || ifp.IsLoopback || (ifp.Nd6Flags & Nd6Flags.IfDisabled) != 0)
        {
            packet.Release();
            return;
        }

        var source = IPv6Address.Any;
        foreach (var a in ifp.IPv6Addresses)
        {
            if (a.Address.IsLinkLocal && (a.Flags & (IPv6AddressFlags.Tentative | IPv6AddressFlags.Duplicated)) == 0)
            {
                source = a.Address;
                break;
            }
        }

        var span = packet.Data;
        var messageLength = span.Length - IPv6Packet.HeaderLength - MldRouterAlert.Length;
        new IPv6Header(source, destination, IPProtocol.HopByHop, MldRouterAlert.Length + messageLength, 1).Emit(span);
        MldRouterAlert.Emit(span[IPv6Packet.HeaderLength..], IPProtocol.IcmpV6);
        IcmpV6Packet.CreateUnchecked(span[(IPv6Packet.HeaderLength + MldRouterAlert.Length)..]).FillChecksum(source, destination);
        Icmp6.OutHistogram[(byte)type]++;
        Ip6.LocalOut++;
        if (!RunOutputFilter(packet, ifp, ipv6: true, out _))
        {
            return;
        }

        if (!source.IsUnspecified)
        {
            CountOutput6(ifp, packet);
        }

        EthernetOutput(ifp, packet, MacAddress.FromIPv6Multicast(destination), EtherType.IPv6);
    }
}
