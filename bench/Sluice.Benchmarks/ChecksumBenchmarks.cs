using BenchmarkDotNet.Attributes;
using Sluice.Wire;

namespace Sluice.Benchmarks;

/// <summary>The Internet checksum (<see cref="Checksum.Add"/>) over buffers of several sizes; the GB/s column is Size / Mean.</summary>
[MemoryDiagnoser]
[Config(typeof(ByteRateConfig))]
public class ChecksumBenchmarks
{
    private byte[] _data = [];

    /// <summary>Bytes summed per operation.</summary>
    [Params(64, 1500, 9000, 65535)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(42).NextBytes(_data);
    }

    [Benchmark]
    public uint Add() => Checksum.Add(_data);
}
