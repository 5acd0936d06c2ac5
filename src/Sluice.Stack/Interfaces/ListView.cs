using System.Collections;

namespace Sluice.Stack.Interfaces;

/// <summary>
/// A read-only view of a list whose <c>foreach</c> uses the list's struct enumerator, so walking it on the packet
/// path allocates nothing (an <see cref="IReadOnlyList{T}"/> property would box an enumerator per loop).
/// </summary>
public readonly struct ListView<T> : IReadOnlyList<T>
{
    private readonly List<T> _list;

    internal ListView(List<T> list) => _list = list;

    /// <inheritdoc />
    public int Count => _list.Count;

    /// <inheritdoc />
    public T this[int index] => _list[index];

    /// <summary>The allocation-free enumerator used by <c>foreach</c>.</summary>
    public List<T>.Enumerator GetEnumerator() => _list.GetEnumerator();

    IEnumerator<T> IEnumerable<T>.GetEnumerator() => _list.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _list.GetEnumerator();
}
