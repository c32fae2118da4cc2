using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace AotFaas.Operations;

/// <summary>
/// The Prometheus text exposition format (version 0.0.4) for the instruments of one meter, read with a
/// <see cref="MeterListener"/>: counters add up, histograms count into fixed buckets, observable
/// instruments are asked for their values at each scrape. A few hundred lines instead of an exporter
/// library: OpenTelemetry's Prometheus exporter or prometheus-net would bring their own pipelines,
/// hundreds of KiB of code and start-up work for the same text (see the commit that added this).
/// Names follow the OpenTelemetry-to-Prometheus rules: dots become underscores, the unit is a suffix
/// (<c>s</c> is <c>_seconds</c>, <c>By</c> is <c>_bytes</c>), counters end in <c>_total</c>.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>The Content-Type of the exposition format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Upper bounds of the duration buckets, in seconds: from a fast spawn to the longest sensible timeout.</summary>
    public static readonly double[] Buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Family> _families = new();
    private readonly Lock _scraping = new();

    public PrometheusExporter(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                _families[instrument] = new Family(instrument);
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Find(instrument)?.Add(value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Find(instrument)?.Add(value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Find(instrument)?.Add(value, tags));
        _listener.Start();
    }

    /// <summary>Every family in the text format, observable instruments asked for their values now.</summary>
    public string Scrape()
    {
        // One scrape at a time: observable families are cleared and refilled for each.
        lock (_scraping)
        {
            foreach (Family family in _families.Values)
            {
                if (family.IsObservable)
                {
                    family.Clear();
                }
            }

            _listener.RecordObservableInstruments();
            var text = new StringBuilder(4096);
            foreach (Family family in _families.Values.OrderBy(f => f.Name, StringComparer.Ordinal))
            {
                family.WriteTo(text);
            }

            return text.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();

    private Family? Find(Instrument instrument) => _families.TryGetValue(instrument, out Family? family) ? family : null;

    /// <summary>The label set of a measurement in exposition syntax, <c>function="cat",status="200"</c>, sorted by name.</summary>
    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return string.Empty;
        }

        KeyValuePair<string, object?>[] sorted = tags.ToArray();
        Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var text = new StringBuilder();
        foreach (KeyValuePair<string, object?> tag in sorted)
        {
            text.Append(text.Length == 0 ? string.Empty : ",").Append(tag.Key).Append("=\"");
            foreach (char c in Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? string.Empty)
            {
                text.Append(c switch { '\\' => "\\\\", '"' => "\\\"", '\n' => "\\n", _ => c.ToString() });
            }

            text.Append('"');
        }

        return text.ToString();
    }

    private static string Number(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// A measurement's tags as a dictionary key, compared by value (a boxed status code equals another of the
    /// same number). The server's instruments carry at most two tags; more fall back to their label text.
    /// </summary>
    private readonly record struct LabelSet(string? Key1, object? Value1, string? Key2, object? Value2)
    {
        public static LabelSet Of(ReadOnlySpan<KeyValuePair<string, object?>> tags) => tags.Length switch
        {
            0 => default,
            1 => new(tags[0].Key, tags[0].Value, null, null),
            // In name order, as the label text is: the same two tags in either order are one series.
            2 when string.CompareOrdinal(tags[0].Key, tags[1].Key) > 0 => new(tags[1].Key, tags[1].Value, tags[0].Key, tags[0].Value),
            2 => new(tags[0].Key, tags[0].Value, tags[1].Key, tags[1].Value),
            _ => new(null, Labels(tags), null, null),
        };
    }

    /// <summary>One instrument: its metric family and its series, one per label set.</summary>
    private sealed class Family
    {
        private readonly ConcurrentDictionary<LabelSet, Series> _series = new();
        private readonly string _type;
        private readonly string _help;

        public Family(Instrument instrument)
        {
            string baseName = instrument.Name.Replace('.', '_');
            string unit = instrument.Unit switch { "s" => "_seconds", "By" => "_bytes", _ => string.Empty };
            if (unit.Length > 0 && !baseName.EndsWith(unit, StringComparison.Ordinal))
            {
                baseName += unit;
            }

            bool counter = instrument is Counter<long> or Counter<double> or ObservableCounter<long> or ObservableCounter<double>;
            IsHistogram = instrument is Histogram<double> or Histogram<long>;
            IsObservable = instrument.IsObservable;
            _type = counter ? "counter" : IsHistogram ? "histogram" : "gauge";
            Name = counter ? baseName + "_total" : baseName;
            _help = instrument.Description ?? string.Empty;
        }

        public string Name { get; }

        public bool IsObservable { get; }

        public bool IsHistogram { get; }

        public void Add(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            // Every invocation records here: the label text is built once per label set, not per measurement.
            LabelSet key = LabelSet.Of(tags);
            if (!_series.TryGetValue(key, out Series? series))
            {
                series = _series.GetOrAdd(key, new Series(Labels(tags), IsHistogram));
            }

            if (IsHistogram)
            {
                series.Observe(value);
            }
            else if (IsObservable)
            {
                series.Set(value);
            }
            else
            {
                series.Add(value);
            }
        }

        public void Clear() => _series.Clear();

        public void WriteTo(StringBuilder text)
        {
            text.Append("# HELP ").Append(Name).Append(' ').Append(_help.Replace("\\", "\\\\").Replace("\n", "\\n")).Append('\n');
            text.Append("# TYPE ").Append(Name).Append(' ').Append(_type).Append('\n');
            foreach (Series series in _series.Values.OrderBy(s => s.Labels, StringComparer.Ordinal))
            {
                if (IsHistogram)
                {
                    series.WriteHistogram(text, Name);
                }
                else
                {
                    Sample(text, Name, series.Labels, series.Value);
                }
            }
        }

        private static void Sample(StringBuilder text, string name, string labels, double value)
        {
            text.Append(name);
            if (labels.Length > 0)
            {
                text.Append('{').Append(labels).Append('}');
            }

            text.Append(' ').Append(Number(value)).Append('\n');
        }

        /// <summary>The value of one label set: a sum, a last value, or a histogram's buckets.</summary>
        private sealed class Series(string labels, bool histogram)
        {
            /// <summary>The label set in exposition syntax, <c>function="cat",status="200"</c>.</summary>
            public string Labels { get; } = labels;

            private readonly long[]? _buckets = histogram ? new long[Buckets.Length] : null;
            private readonly Lock _lock = new();
            private long _count;
            private double _value;

            public double Value
            {
                get
                {
                    lock (_lock)
                    {
                        return _value;
                    }
                }
            }

            public void Add(double value)
            {
                lock (_lock)
                {
                    _value += value;
                }
            }

            public void Set(double value)
            {
                lock (_lock)
                {
                    _value = value;
                }
            }

            public void Observe(double value)
            {
                lock (_lock)
                {
                    // The first bucket whose upper bound is at least the value; above the last, only +Inf counts it.
                    int bucket = Array.BinarySearch(Buckets, value);
                    bucket = bucket < 0 ? ~bucket : bucket;
                    if (bucket < Buckets.Length)
                    {
                        _buckets![bucket]++;
                    }

                    _count++;
                    _value += value;
                }
            }

            public void WriteHistogram(StringBuilder text, string name)
            {
                string labels = Labels;
                long[] buckets;
                long count;
                double sum;
                lock (_lock)
                {
                    buckets = (long[])_buckets!.Clone();
                    count = _count;
                    sum = _value;
                }

                string prefix = labels.Length > 0 ? labels + "," : string.Empty;
                long cumulative = 0;
                for (int i = 0; i < Buckets.Length; i++)
                {
                    cumulative += buckets[i];
                    Sample(text, name + "_bucket", prefix + "le=\"" + Number(Buckets[i]) + "\"", cumulative);
                }

                Sample(text, name + "_bucket", prefix + "le=\"+Inf\"", count);
                Sample(text, name + "_sum", labels, sum);
                Sample(text, name + "_count", labels, count);
            }
        }
    }
}
