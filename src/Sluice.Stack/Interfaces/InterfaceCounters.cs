namespace Sluice.Stack.Interfaces;

/// <summary>Per-interface counters as `netstat -i` and `ifconfig -v` show them (struct if_data).</summary>
public sealed class InterfaceCounters
{
    public long InputPackets;
    public long InputErrors;
    public long InputDrops;
    public long InputBytes;
    public long InputMulticast;
    public long InputUnknownProtocol;
    public long OutputPackets;
    public long OutputErrors;
    public long OutputDrops;
    public long OutputBytes;
    public long OutputMulticast;
    public long Collisions;

    /// <summary>Sets every counter to zero.</summary>
    public void Clear()
    {
        InputPackets = InputErrors = InputDrops = InputBytes = InputMulticast = InputUnknownProtocol = 0;
        OutputPackets = OutputErrors = OutputDrops = OutputBytes = OutputMulticast = Collisions = 0;
    }
}
