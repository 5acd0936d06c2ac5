using System.Buffers.Binary;
using Sluice.Dummynet;
using Sluice.Stack;
using Sluice.Stack.Buffers;
using Sluice.Stack.Pfil;
using Sluice.Stack.Time;
using Timer = Sluice.Stack.Time.Timer;

namespace Sluice.Ipfw.Tests;

/// <summary>Traffic and pipes for the AQM tests (CoDel, FQ-CoDel, RED, PIE, FQ-PIE), driven on virtual time straight into dummynet.</summary>
internal static class AqmHarness
{
    /// <summary>
    /// Flows into one pipe: each packet carries (flow, sequence, send time); a "bulk" flow is a tiny Reno (window +1/W per
    /// delivery, halved on a sequence gap, i.e. a drop, with the acknowledgement arriving as the packet leaves the
    /// pipe); a "sparse" flow sends a small packet at a fixed interval. With an ECN-capable <c>tos</c> the bulk flow
    /// also halves on a CE mark (RFC 3168: once per round trip, as for a loss).
    /// </summary>
    internal sealed class Traffic : IDummynetClient, ITimerHandler
    {
        private readonly DummynetInstance _dn;
        private readonly Timer _sparseTimer;
        private readonly long _sparseInterval;
        private double _window = 2;
        private int _inFlight;
        private uint _bulkSeq;
        private uint _bulkExpected;
        private long _lastHalving;

        private readonly bool _queue;
        private readonly byte _tos;

        /// <summary>Traffic into <c>pipe 1</c>, or <c>queue 1</c> with <paramref name="queue"/>; IPv4 TOS <paramref name="tos"/>.</summary>
        public Traffic(DummynetInstance dn, long sparseInterval, bool queue = false, byte tos = 0)
        {
            _dn = dn;
            _queue = queue;
            _tos = tos;
            _sparseInterval = sparseInterval;
            _sparseTimer = new Timer(this);
            dn.Stack.Loop.ScheduleAfter(_sparseTimer, sparseInterval);
            FillWindow();
        }

        public List<(long At, long Delay)> Bulk { get; } = [];

        public List<(long At, long Delay)> Sparse { get; } = [];

        /// <summary>Packets delivered with CE set.</summary>
        public long CeDelivered { get; private set; }

        /// <summary>Delivered packets whose IPv4 header checksum no longer verified (a bad CE rewrite).</summary>
        public long BadChecksums { get; private set; }

        private void Send(int flow, int length, uint seq)
        {
            var p = _dn.Stack.Pool.Rent(length);
            var d = p.Data;
            d.Clear();
            d[0] = 0x45;
            d[1] = _tos;
            BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)length);
            d[8] = 64;
            d[9] = 17;
            BinaryPrimitives.WriteUInt32BigEndian(d[12..], 0xc0000202u + (uint)flow);
            BinaryPrimitives.WriteUInt32BigEndian(d[16..], 0xcb007105u);
            BinaryPrimitives.WriteUInt16BigEndian(d[10..], Sluice.Wire.Checksum.Compute(d[..20]));
            BinaryPrimitives.WriteUInt16BigEndian(d[20..], (ushort)(5000 + flow));
            BinaryPrimitives.WriteUInt16BigEndian(d[22..], 9);
            BinaryPrimitives.WriteUInt32BigEndian(d[28..], seq);
            BinaryPrimitives.WriteInt64BigEndian(d[32..], _dn.Stack.Loop.Now);
            _dn.Enqueue(1, _queue, p, new DnPacketInfo(PfilDirection.Out, 1, false, (uint)flow), this);
        }

        private void FillWindow()
        {
            while (_inFlight < (int)_window)
            {
                _inFlight++;
                Send(0, 1500, _bulkSeq++);
            }
        }

        public void Reinject(Packet packet, in DnPacketInfo info)
        {
            var d = packet.Data;
            var seq = BinaryPrimitives.ReadUInt32BigEndian(d[28..]);
            var delay = _dn.Stack.Loop.Now - BinaryPrimitives.ReadInt64BigEndian(d[32..]);
            var ce = (d[1] & 3) == 3;
            CeDelivered += ce ? 1 : 0;
            BadChecksums += Sluice.Wire.Checksum.Compute(d[..20]) != 0 ? 1 : 0;
            packet.Release();
            var now = _dn.Stack.Loop.Now;
            if (info.Cookie == 1)
            {
                Sparse.Add((now, delay));
                return;
            }

            Bulk.Add((now, delay));
            var lost = (int)(seq - _bulkExpected);
            _bulkExpected = seq + 1;
            _inFlight -= 1 + lost;
            if ((lost > 0 || ce) && now - _lastHalving > delay)
            {
                // One halving per round trip, as NewReno's recovery does.
                _window = Math.Max(2, _window / 2);
                _lastHalving = now;
            }
            else if (lost == 0 && !ce)
            {
                _window += 1 / _window;
            }

            FillWindow();
        }

        public void OnTimer(Timer timer)
        {
            Send(1, 100, 0);
            _dn.Stack.Loop.ScheduleAfter(_sparseTimer, _sparseInterval);
        }
    }

    public static (DummynetInstance Dn, EventLoop Loop) Pipe(params string[][] configs)
    {
        var loop = EventLoop.CreateVirtual(new PacketPool(new PacketPoolOptions { Diagnostic = true }));
        var dn = DummynetInstance.Of(new NetStack(loop));
        foreach (var c in configs)
        {
            var kind = c[0] switch { "sched" => DnObjectKind.Sched, "queue" => DnObjectKind.Queue, _ => DnObjectKind.Pipe };
            Assert.True(dn.TryConfigure(kind, c.AsSpan(1), out var e), e?.Message);
        }

        return (dn, loop);
    }

    public static double Percentile(IEnumerable<long> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, p * sorted.Length)];
    }
}
