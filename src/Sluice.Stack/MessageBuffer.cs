using System.Text;

namespace Sluice.Stack;

/// <summary>
/// The VNET's kernel message buffer (msgbuf(9)): what the kernel's log(9) and printf(9) write, kept as a bounded ring of
/// lines with their syslog priority, read by <c>dmesg</c> and the <c>kern.msgbuf</c> sysctl.
/// </summary>
/// <remarks>
/// As in FreeBSD, the oldest lines are overwritten when the buffer is full. Messages are written on the slow path only
/// (firewall logging with net.inet.ip.fw.verbose=1 is bounded by its log limits), so a line is an ordinary string.
/// </remarks>
public sealed class MessageBuffer
{
    /// <summary>LOG_KERN: the facility of kernel printf(9) messages, the only ones <c>dmesg</c> shows without -a.</summary>
    public const int FacilityKernel = 0;

    /// <summary>LOG_SECURITY (13 &lt;&lt; 3): the facility ipfw and pf use for their log lines.</summary>
    public const int FacilitySecurity = 13 << 3;

    /// <summary>LOG_NOTICE.</summary>
    public const int Notice = 5;

    /// <summary>LOG_INFO.</summary>
    public const int Info = 6;

    private readonly Queue<(int Priority, string Text)> _lines = new();
    private int _characters;

    /// <summary>Creates a buffer holding at most <paramref name="capacity"/> characters of text (FreeBSD's default msgbuf is 96 KiB).</summary>
    public MessageBuffer(int capacity = 96 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    /// <summary>Most characters kept.</summary>
    public int Capacity { get; }

    /// <summary>Lines written since the stack started (including those overwritten since).</summary>
    public long Written { get; private set; }

    /// <summary>Lines currently held.</summary>
    public int Count => _lines.Count;

    /// <summary>log(9): writes one line (without its newline) with syslog priority <paramref name="priority"/> (facility | level).</summary>
    public void Log(int priority, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        _lines.Enqueue((priority, text));
        _characters += text.Length + 1;
        Written++;
        while (_characters > Capacity && _lines.Count > 1)
        {
            _characters -= _lines.Dequeue().Text.Length + 1;
        }
    }

    /// <summary>The buffer's text, oldest line first; kernel-facility lines only unless <paramref name="all"/> (dmesg -a).</summary>
    public string Read(bool all)
    {
        var sb = new StringBuilder();
        foreach (var (priority, text) in _lines)
        {
            if (all || (priority & ~7) == FacilityKernel)
            {
                sb.Append(text).Append('\n');
            }
        }

        return sb.ToString();
    }

    /// <summary>Empties the buffer (dmesg -c, kern.msgbuf_clear=1).</summary>
    public void Clear()
    {
        _lines.Clear();
        _characters = 0;
    }
}
