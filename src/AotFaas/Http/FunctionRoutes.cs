using System.Collections.Concurrent;
using AotFaas.Functions;
using AotFaas.Security;

namespace AotFaas.Http;

/// <summary>A function as the endpoint serves it: its policy, and the check its <c>auth</c> option asks for.</summary>
public sealed class FunctionRoute
{
    private FunctionRoute(FunctionPolicy policy, FunctionAuth? auth, string? authError, UnverifiedBodies unverified)
    {
        Policy = policy;
        Auth = auth;
        AuthError = authError;
        Unverified = unverified;
    }

    public FunctionPolicy Policy { get; }

    /// <summary>The check, with its secret, or null when the function has none (or it cannot be made: <see cref="AuthError"/>).</summary>
    public FunctionAuth? Auth { get; }

    /// <summary>Why the function's auth check cannot be made (its secret variable is unset): it must then never run.</summary>
    public string? AuthError { get; }

    /// <summary>What signed bodies being received may hold, server-wide.</summary>
    public UnverifiedBodies Unverified { get; }

    /// <summary>The route of <paramref name="policy"/>'s function.</summary>
    public static FunctionRoute For(FunctionPolicy policy, UnverifiedBodies unverified)
    {
        try
        {
            return new FunctionRoute(policy, FunctionAuth.For(policy.Proc, policy.ServerEnvironment), null, unverified);
        }
        catch (InvalidOperationException e)
        {
            // The binary refuses to start in this case; a server built around it anyway fails closed per request.
            return new FunctionRoute(policy, null, e.Message, unverified);
        }
    }
}

/// <summary>Finds the route of a function by name (made on first use).</summary>
public sealed class FunctionRoutes(FunctionCatalog catalog, UnverifiedBodies unverified)
{
    private readonly ConcurrentDictionary<FunctionPolicy, FunctionRoute> _routes = new();

    /// <summary>The route of the function named <paramref name="name"/>, or null when there is none.</summary>
    public FunctionRoute? Find(string name)
    {
        FunctionPolicy? policy = catalog.Find(name);
        return policy is null ? null : _routes.GetOrAdd(policy, static (p, unverified) => FunctionRoute.For(p, unverified), unverified);
    }
}
