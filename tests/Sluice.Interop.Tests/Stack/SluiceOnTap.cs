using Sluice.Interop.Tests.Infrastructure;
using Sluice.Stack;
using Sluice.Stack.Interfaces;
using Sluice.Stack.Links;
using Sluice.Wire;

namespace Sluice.Interop.Tests.Stack;

/// <summary>
/// A Sluice stack with one interface (192.0.2.2/24, 2001:db8::2/64) on a TAP device whose Linux side
/// (192.0.2.1/24, 2001:db8::1/64) sits in a fresh namespace; the loop runs on its own thread for a bounded time.
/// </summary>
/// <remarks>Dispose order: loop stopped, TAP closed (the Linux device goes), namespace deleted — also on failure.</remarks>
public sealed class SluiceOnTap : IDisposable
{
    public static readonly IPv4Address SluiceV4 = new(192, 0, 2, 2);
    public static readonly IPv4Address LinuxV4 = new(192, 0, 2, 1);
    public static readonly IPv6Address SluiceV6 = ParseV6("2001:db8::2");
    public static readonly IPv6Address LinuxV6 = ParseV6("2001:db8::1");

    private readonly List<IDisposable> _owned = [];

    private SluiceOnTap(ITestOutputHelper output)
    {
        try
        {
            Namespace = NetNamespace.Create(output);
            _owned.Add(Namespace);
            Loop = new RealTimeLoop(TimeSpan.FromSeconds(90));
            Tap = TapLink.Open(NetNamespace.NewDeviceName(), Loop.Loop);
            _owned.Add(Tap);
            _owned.Add(Loop);

            // Built before the loop thread starts; from then on the stack is touched only through Loop.InvokeAsync.
            Stack = new NetStack(Loop.Loop, new NetStackOptions { Name = "interop" });
            Interface = Stack.CreateInterface("tap0", Tap, "tap");
            Interface.AddAddress(SluiceV4, 24);
            Interface.AddAddress(SluiceV6, 64, IPv6AddressFlags.NoDad);
            Interface.SetUp(true);
            Loop.Start();

            Namespace.AdoptAndConfigure(Tap.LinuxName, "192.0.2.1/24", "2001:db8::1/64");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public NetNamespace Namespace { get; } = null!;

    public RealTimeLoop Loop { get; } = null!;

    public TapLink Tap { get; } = null!;

    public NetStack Stack { get; } = null!;

    public NetworkInterface Interface { get; } = null!;

    public static SluiceOnTap Start(ITestOutputHelper output) => new(output);

    public void Dispose()
    {
        // Reverse order of creation: loop, TAP, namespace.
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                _owned[i].Dispose();
            }
            catch (Exception e)
            {
                Command.Log(null, $"[interop] cleanup: {e.Message}");
            }
        }

        _owned.Clear();
    }

    private static IPv6Address ParseV6(string text) =>
        IPv6Address.TryParse(text, out var address) ? address : throw new FormatException(text);
}
