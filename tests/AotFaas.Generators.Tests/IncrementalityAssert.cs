using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace AotFaas.Generators.Tests;

/// <summary>
/// The check NetEscapades.EnumGenerators runs for every test input (its TestHelpers): a second run of the
/// generator over the same input makes equal outputs, every tracked step Cached or Unchanged; and nothing
/// a step outputs reaches a compilation, symbol, syntax node or location, which would keep the compiler's
/// data alive and make the cache compare by reference.
/// </summary>
internal static class IncrementalityAssert
{
    private static readonly Type[] Banned =
    [
        typeof(Compilation), typeof(ISymbol), typeof(SyntaxNode), typeof(SyntaxTree), typeof(SemanticModel),
        typeof(Location), typeof(AdditionalText), typeof(Delegate), typeof(MemberInfo),
    ];

    /// <summary>The generator's own steps (<see cref="TrackingNames"/>); the driver's input steps hold Roslyn objects by design.</summary>
    private static readonly string[] Steps = typeof(TrackingNames)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(field => (string)field.GetValue(null)!)
        .ToArray();

    /// <summary>Compares the tracked steps of <paramref name="first"/> and of <paramref name="second"/>, a run over the same input.</summary>
    public static void SecondRunIsCached(GeneratorDriverRunResult first, GeneratorDriverRunResult second)
    {
        GeneratorRunResult before = Assert.Single(first.Results);
        GeneratorRunResult after = Assert.Single(second.Results);
        Assert.NotEmpty(Steps);
        foreach (string name in Steps)
        {
            ImmutableArray<IncrementalGeneratorRunStep> runsBefore = before.TrackedSteps.GetValueOrDefault(name, []);
            ImmutableArray<IncrementalGeneratorRunStep> runsAfter = after.TrackedSteps.GetValueOrDefault(name, []);
            Assert.Equal(runsBefore.Length, runsAfter.Length);
            for (int i = 0; i < runsBefore.Length; i++)
            {
                Assert.Equal(runsBefore[i].Outputs.Select(output => output.Value), runsAfter[i].Outputs.Select(output => output.Value));
                Assert.All(runsAfter[i].Outputs, output => Assert.True(
                    output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                    $"step {name} ran again on the same input: {output.Reason}"));
                HoldsValuesOnly(runsBefore[i].Outputs.Select(output => output.Value), name);
            }
        }

        Assert.All(after.TrackedOutputSteps.SelectMany(step => step.Value).SelectMany(run => run.Outputs), output =>
            Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    /// <summary>Walks every field reachable from the outputs of step <paramref name="name"/> and fails on a banned type.</summary>
    public static void HoldsValuesOnly(IEnumerable<object> outputs, string name)
    {
        var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (object value in outputs)
        {
            Visit(value);
        }

        void Visit(object? node)
        {
            if (node is null || !visited.Add(node))
            {
                return;
            }

            Type type = node.GetType();
            Type? banned = Banned.FirstOrDefault(b => b.IsInstanceOfType(node));
            Assert.True(banned is null, $"step {name} holds a {type.FullName}, which is a {banned?.Name}");
            if (type.IsPrimitive || type.IsEnum || type == typeof(string))
            {
                return;
            }

            if (node is Array array)
            {
                foreach (object? element in array)
                {
                    Visit(element);
                }

                return;
            }

            for (Type? declaring = type; declaring is not null; declaring = declaring.BaseType)
            {
                foreach (FieldInfo field in declaring.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                {
                    Visit(field.GetValue(node));
                }
            }
        }
    }
}
