using Sluice.Stack.Sockets;

namespace Sluice.Stack.Tcp;

/// <summary>TCP accessors on <see cref="NetStack"/>.</summary>
public static class TcpNetStackExtensions
{
    extension(NetStack stack)
    {
        /// <summary>This VNET's TCP (created and registered on first use).</summary>
        public TcpStack Tcp => TcpStack.Attach(stack);

        /// <summary>socket(AF_INET|AF_INET6, SOCK_STREAM, 0).</summary>
        public TcpSocket OpenTcp(bool ipv6 = false) => TcpStack.Attach(stack).Open(ipv6);
    }
}
