using System.Globalization;
using System.Text.RegularExpressions;

namespace AotFaas.Tests.Operations;

/// <summary>
/// A strict reader of the Prometheus text exposition format (0.0.4): every line must be a HELP, a TYPE
/// or a sample; a family's TYPE comes once and before its samples, which are contiguous; counters end in
/// _total; histogram buckets are cumulative and end with +Inf equal to _count; no series repeats.
/// </summary>
public static partial class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public static IReadOnlyList<Sample> Parse(string text)
    {
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        var samples = new List<Sample>();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var closed = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        foreach (string line in text[..^1].Split('\n'))
        {
            Match help = HelpLine().Match(line);
            Match type = TypeLine().Match(line);
            if (help.Success || type.Success)
            {
                string family = help.Success ? help.Groups[1].Value : type.Groups[1].Value;
                Assert.False(closed.Contains(family) && family != current, $"family {family} is split: {line}");
                if (type.Success)
                {
                    Assert.True(types.TryAdd(family, type.Groups[2].Value), "TYPE given twice: " + line);
                    Assert.DoesNotContain(samples, s => FamilyOf(s.Name, types) == family);
                }

                SwitchFamily(ref current, family, closed);
                continue;
            }

            Match sample = SampleLine().Match(line);
            Assert.True(sample.Success, "not a valid line: '" + line + "'");
            string name = sample.Groups[1].Value;
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match label in Label().Matches(sample.Groups[2].Value))
            {
                Assert.True(labels.TryAdd(label.Groups[1].Value, Regex.Unescape(label.Groups[2].Value)), "label repeated: " + line);
            }

            Assert.Equal(sample.Groups[2].Value.Length, Label().Matches(sample.Groups[2].Value).Sum(m => m.Length) + Math.Max(0, labels.Count - 1));
            double value = sample.Groups[3].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                string v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            string familyName = FamilyOf(name, types);
            Assert.True(types.ContainsKey(familyName), "sample before its TYPE: " + line);
            Assert.False(closed.Contains(familyName) && familyName != current, "family split: " + line);
            SwitchFamily(ref current, familyName, closed);
            Assert.True(seen.Add(name + "{" + string.Join(",", labels.OrderBy(l => l.Key).Select(l => l.Key + "=" + l.Value)) + "}"), "series repeated: " + line);
            if (types[familyName] == "counter")
            {
                Assert.EndsWith("_total", name, StringComparison.Ordinal);
                Assert.True(value >= 0, "negative counter: " + line);
            }

            samples.Add(new Sample(name, labels, value));
        }

        CheckHistograms(samples, types);
        return samples;
    }

    /// <summary>The value of the one sample named <paramref name="name"/> with exactly <paramref name="labels"/>, or null.</summary>
    public static double? Value(IReadOnlyList<Sample> samples, string name, params (string Key, string Value)[] labels)
        => samples.SingleOrDefault(s => s.Name == name && s.Labels.Count == labels.Length && labels.All(l => s.Labels.TryGetValue(l.Key, out string? v) && v == l.Value))?.Value;

    private static void SwitchFamily(ref string? current, string family, HashSet<string> closed)
    {
        if (current != family)
        {
            if (current is not null)
            {
                closed.Add(current);
            }

            current = family;
        }
    }

    private static string FamilyOf(string name, Dictionary<string, string> types)
    {
        foreach (string suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && types.TryGetValue(name[..^suffix.Length], out string? type) && type == "histogram")
            {
                return name[..^suffix.Length];
            }
        }

        return name;
    }

    private static void CheckHistograms(List<Sample> samples, Dictionary<string, string> types)
    {
        foreach (string family in types.Where(t => t.Value == "histogram").Select(t => t.Key))
        {
            foreach (IGrouping<string, Sample> series in samples.Where(s => s.Name == family + "_bucket").GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key).Select(l => l.Key + "=" + l.Value))))
            {
                Sample[] buckets = [.. series];
                Assert.Equal("+Inf", buckets[^1].Labels["le"]);
                for (int i = 1; i < buckets.Length; i++)
                {
                    Assert.True(buckets[i].Value >= buckets[i - 1].Value, $"{family} buckets are not cumulative");
                    Assert.True(double.Parse(buckets[i - 1].Labels["le"], CultureInfo.InvariantCulture) < (buckets[i].Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(buckets[i].Labels["le"], CultureInfo.InvariantCulture)));
                }

                Dictionary<string, string> labels = buckets[^1].Labels.Where(l => l.Key != "le").ToDictionary(l => l.Key, l => l.Value);
                Sample count = samples.Single(s => s.Name == family + "_count" && SameLabels(s.Labels, labels));
                Assert.Equal(buckets[^1].Value, count.Value);
                Assert.Single(samples, s => s.Name == family + "_sum" && SameLabels(s.Labels, labels));
            }
        }
    }

    private static bool SameLabels(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
        => a.Count == b.Count && a.All(l => b.TryGetValue(l.Key, out string? v) && v == l.Value);

    [GeneratedRegex("^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$")]
    private static partial Regex HelpLine();

    [GeneratedRegex("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})? ([-+]?(?:[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN)|\\+Inf|-Inf|NaN)$")]
    private static partial Regex SampleLine();

    [GeneratedRegex("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\\\n]|\\\\[\\\\\"n])*)\"")]
    private static partial Regex Label();
}
