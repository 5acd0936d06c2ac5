using Sluice.Stack.Sockets;

namespace Sluice.Stack.Tcp;

public sealed partial class TcpStack
{
    /// <summary>
    /// net.inet.tcp.drop (sysctl_drop in tcp_subr.c): drops the connection between <paramref name="local"/> and
    /// <paramref name="foreign"/>. A connection in TIME_WAIT is removed silently (tcp_twclose); any other is dropped
    /// with tcp_drop, which sends RST once a SYN was received, and its socket sees ECONNABORTED.
    /// </summary>
    /// <returns>None, or ESRCH when no connection has exactly these endpoints (a listener is never dropped).</returns>
    public Errno Drop(InetEndpoint local, InetEndpoint foreign)
    {
        if (!_connections.TryGetValue(new TcpConnectionKey(local.Address, local.Port, foreign.Address, foreign.Port), out var tcb))
        {
            return Errno.ESRCH;
        }

        if (tcb.State == TcpState.TimeWait)
        {
            TcpFunctionBlockBase.CloseTimeWait(tcb);
        }
        else if (tcb.State != TcpState.Closed)
        {
            tcb.FunctionBlock.Drop(tcb, Errno.ECONNABORTED);
        }

        return Errno.None;
    }
}
