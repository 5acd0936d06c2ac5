namespace Sluice.Stack.Tcp;

/// <summary>
/// TCP counters of one VNET with the field names of FreeBSD's struct tcpstat (sys/netinet/tcp_var.h), for
/// `netstat -s -p tcp`; RACK and TLP counters follow the rack stack's sysctl names.
/// </summary>
/// <remarks>Written on the event loop only.</remarks>
public sealed class TcpStatistics
{
#pragma warning disable CA1707, SA1310, IDE1006 // FreeBSD's field names
    public long tcps_connattempt;     // connections initiated
    public long tcps_accepts;         // connections accepted
    public long tcps_connects;        // connections established
    public long tcps_drops;           // connections dropped
    public long tcps_conndrops;       // embryonic connections dropped
    public long tcps_closed;          // conn. closed (includes drops)
    public long tcps_segstimed;       // segs where we tried to get rtt
    public long tcps_rttupdated;      // times we succeeded
    public long tcps_delack;          // delayed acks sent
    public long tcps_timeoutdrop;     // conn. dropped in rxmt timeout
    public long tcps_rexmttimeo;      // retransmit timeouts
    public long tcps_persisttimeo;    // persist timeouts
    public long tcps_keeptimeo;       // keepalive timeouts
    public long tcps_keepprobe;       // keepalive probes sent
    public long tcps_keepdrops;       // connections dropped in keepalive
    public long tcps_sndtotal;        // total packets sent
    public long tcps_sndpack;         // data packets sent
    public long tcps_sndbyte;         // data bytes sent
    public long tcps_sndrexmitpack;   // data packets retransmitted
    public long tcps_sndrexmitbyte;   // data bytes retransmitted
    public long tcps_sndacks;         // ack-only packets sent
    public long tcps_sndprobe;        // window probes sent
    public long tcps_sndwinup;        // window update-only packets sent
    public long tcps_sndurg;          // packets sent only for the urgent pointer
    public long tcps_sndctrl;         // control (SYN|FIN|RST) packets sent
    public long tcps_rcvtotal;        // total packets received
    public long tcps_rcvpack;         // packets received in sequence
    public long tcps_rcvbyte;         // bytes received in sequence
    public long tcps_rcvbadsum;       // packets received with ccksum errs
    public long tcps_rcvbadoff;       // packets received with bad offset
    public long tcps_rcvshort;        // packets received too short
    public long tcps_rcvduppack;      // duplicate-only packets received
    public long tcps_rcvdupbyte;      // duplicate-only bytes received
    public long tcps_rcvpartduppack;  // packets with some duplicate data
    public long tcps_rcvpartdupbyte;  // dup. bytes in part-dup. packets
    public long tcps_rcvoopack;       // out-of-order packets received
    public long tcps_rcvoobyte;       // out-of-order bytes received
    public long tcps_rcvpackafterwin; // packets with data after window
    public long tcps_rcvbyteafterwin; // bytes rcvd after window
    public long tcps_rcvafterclose;   // packets rcvd after "close"
    public long tcps_rcvwinprobe;     // rcvd window probe packets
    public long tcps_rcvdupack;       // rcvd duplicate acks
    public long tcps_rcvacktoomuch;   // rcvd acks for unsent data
    public long tcps_rcvackpack;      // rcvd ack packets
    public long tcps_rcvackbyte;      // bytes acked by rcvd acks
    public long tcps_rcvwinupd;       // rcvd window update packets
    public long tcps_pawsdrop;        // segments dropped due to PAWS
    public long tcps_predack;         // times hdr predict ok for acks
    public long tcps_predetdat;       // times hdr predict ok for data pkts
    public long tcps_persistdrop;     // timeout in persist state
    public long tcps_badsyn;          // bogus SYN, e.g. premature ACK
    public long tcps_listendrop;      // listen queue overflows
    public long tcps_badrst;          // ignored RSTs in the window
    public long tcps_sc_added;        // entry added to syncache
    public long tcps_sc_retransmitted; // syncache entry was retransmitted
    public long tcps_sc_dupsyn;       // duplicate SYN packet
    public long tcps_sc_dropped;      // could not reply to packet
    public long tcps_sc_completed;    // successful extraction of entry
    public long tcps_sc_reset;        // RST removed entry from cache
    public long tcps_sc_stale;        // timed out or listen socket gone
    public long tcps_sc_aborted;      // syncache entry aborted
    public long tcps_sc_badack;       // removed due to bad ACK
    public long tcps_sc_sendcookie;   // SYN cookie sent
    public long tcps_sc_recvcookie;   // SYN cookie received
    public long tcps_sc_zonefail;     // zalloc() failed
    public long tcps_sack_recovery_episode; // SACK recovery episodes
    public long tcps_sack_rexmits;    // SACK rexmit segments
    public long tcps_sack_rexmit_bytes; // SACK rexmit bytes
    public long tcps_sack_rcv_blocks; // SACK blocks (options) received
    public long tcps_sack_send_blocks; // SACK blocks (options) sent
    public long tcps_ecn_rcwnd;       // # times ECN reduced the cwnd
    public long tcps_sndrexmitbad;    // unnecessary packet retransmissions
    public long tcps_badrxtwin;       // window update after spurious rxmt
    public long tcps_ecn_ce;          // ECN Congestion Experienced
    public long tcps_ecn_ect0;        // ECN Capable Transport
    public long tcps_challenge_ack;   // RFC 5961 challenge ACKs sent (FreeBSD: tcps_rcvghostack/... counted here)
    public long tcps_noport;          // no socket on port (RST sent)
    public long tcps_finwait2_drops;  // FIN_WAIT_2 timed out
    public long tcps_dsack_count;     // DSACK packets received
    public long tcps_dsack_bytes;     // DSACK bytes received
    public long tcps_dsack_tlp_bytes; // DSACK bytes received for TLPs sent
    public long tcps_tlpresends;      // TLPs that retransmitted data
    public long tcps_tlpresend_bytes; // bytes those TLPs retransmitted

    // TCP_SIGNATURE (RFC 2385, sys/netipsec/xform_tcp.c).
    public long tcps_sig_rcvgoodsig;  // total matching signature received
    public long tcps_sig_rcvbadsig;   // total bad signature received
    public long tcps_sig_err_buildsig; // failed to make signature (no SA)
    public long tcps_sig_err_sigopt;  // no signature expected by socket
    public long tcps_sig_err_nosigopt; // no signature provided by segment
    public long tcps_mturesent;       // resends due to an MTU decrease (tcp_mtudisc)
    public long tcps_tw_resets;       // RSTs sent from TIME_WAIT (UDP encapsulation changed)
    public long tcps_tunneled_pkts;   // segments received over UDP (TCP over UDP)
    public long tcps_tunneled_errs;   // such segments too short to hold a TCP header
    public long tcps_pmtud_blackhole_activated;         // black hole detection lowered the MSS to pmtud_blackhole_mss
    public long tcps_pmtud_blackhole_activated_min_mss; // black hole detection lowered the MSS to mssdflt
    public long tcps_pmtud_blackhole_failed;            // black hole detection gave up and restored the MSS

    // rack stack (net.inet.tcp.rack.*): loss detection and probes.
    public long rack_tlp_sent;        // tail loss probes sent
    public long rack_tlp_new;         // TLPs that sent new data
    public long rack_tlp_retran;      // TLPs that retransmitted
    public long rack_tlp_recovered;   // losses repaired after a TLP
    public long rack_to_tot;          // RTOs on rack connections
    public long rack_reorder_seen;    // reordering detected
    public long rack_loss_marked;     // segments marked lost by RACK
    public long rack_prr_sndcnt;      // bytes PRR allowed
    public long rack_recovery_reverted; // recoveries undone because DSACKs covered every retransmission (Sluice's count; rack only logs it)
#pragma warning restore CA1707, SA1310, IDE1006

    /// <summary>Every counter as (FreeBSD field name, value), in declaration order.</summary>
    public IEnumerable<(string Name, long Value)> Enumerate()
    {
        foreach (var f in typeof(TcpStatistics).GetFields())
        {
            yield return (f.Name, (long)f.GetValue(this)!);
        }
    }
}
