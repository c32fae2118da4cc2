namespace AotFaas.EndToEnd;

/// <summary>The native binary, published once for the whole suite from e2e.faas with publish.sh.</summary>
public sealed class PublishedBinary
{
    public PublishedBinary()
    {
        string output = System.IO.Path.Combine(Repo.Root, "artifacts", "e2e", "bin");
        (int exitCode, string log) = Repo.Publish(Repo.E2eManifest, "-o", output);
        Assert.True(exitCode == 0, "publish.sh failed:\n" + log);
        PublishLog = log;
        Path = System.IO.Path.Combine(output, "aotfaas");
    }

    /// <summary>The executable.</summary>
    public string Path { get; }

    /// <summary>What publish.sh printed.</summary>
    public string PublishLog { get; }
}

[CollectionDefinition(nameof(PublishedBinary))]
public sealed class PublishedBinaryCollection : ICollectionFixture<PublishedBinary>;
