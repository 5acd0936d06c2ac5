using Sluice.Stack;
using Sluice.Stack.Interfaces;

namespace Sluice.Cli;

/// <summary>Moves an interface between VNET stacks (if_vmove): it leaves its addresses and routes behind.</summary>
internal static class VnetMove
{
    public static void Move(NetworkInterface ifp, NetStack from, NetStack to)
    {
        from.DetachInterface(ifp);
        to.AttachInterface(ifp);
    }
}
