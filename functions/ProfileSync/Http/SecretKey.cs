using System.Security.Cryptography;
using System.Text;

namespace ProfileSync.Http;

/// <summary>
/// A configured key (bearer token, admin key) kept as its SHA-256 hash. Presented keys are hashed too before a
/// fixed-time compare, so the time taken says nothing about the key, whatever the lengths.
/// </summary>
public sealed class SecretKey
{
    private readonly byte[]? _hash;

    public SecretKey(string? key) => _hash = string.IsNullOrEmpty(key) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>False when no key is configured.</summary>
    public bool IsConfigured => _hash is not null;

    public bool Matches(string presented) =>
        _hash is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), _hash);
}
