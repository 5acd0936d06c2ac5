using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Sluice.Benchmarks;

/// <summary>Adds a Mpps column: millions of operations (packets) per second, from the mean time per operation.</summary>
public sealed class PacketRateConfig : ManualConfig
{
    public PacketRateConfig() => AddColumn(new RateColumn("Mpps", "Millions of packets per second (1000 / Mean in ns)", static (_, ns) => 1_000 / ns));
}

/// <summary>Adds a GB/s column: the benchmark's <c>Size</c> parameter (bytes) divided by the mean time per operation.</summary>
public sealed class ByteRateConfig : ManualConfig
{
    public ByteRateConfig() => AddColumn(new RateColumn("GB/s", "Gigabytes (10^9) summed per second (Size / Mean in ns)",
        static (benchmarkCase, ns) => Convert.ToDouble(benchmarkCase.Parameters["Size"], CultureInfo.InvariantCulture) / ns));
}

/// <summary>A numeric column derived from a benchmark's mean time per operation (BenchmarkDotNet already divides by OperationsPerInvoke).</summary>
public sealed class RateColumn(string name, string legend, Func<BenchmarkCase, double, double> fromMeanNanoseconds) : IColumn
{
    public string Id => nameof(RateColumn) + "." + name;

    public string ColumnName => name;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => legend;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        return mean is double ns && ns > 0 ? fromMeanNanoseconds(benchmarkCase, ns).ToString("F2", CultureInfo.InvariantCulture) : "NA";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
