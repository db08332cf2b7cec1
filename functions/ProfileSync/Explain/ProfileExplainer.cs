using System.Text.Json;
using Npgsql;

namespace ProfileSync.Explain;

/// <summary>
/// Why a user's profile is what it is: <c>profile_sync.explain()</c>'s document (fields as implied and as held, derived
/// or owned; the address and its proof; the defaults; each attribute rule and why it did or did not match; what a replay
/// would do). The database computes it with the functions every path uses, so it never disagrees with sync.
/// </summary>
public sealed class ProfileExplainer(NpgsqlDataSource dataSource)
{
    public async Task<JsonDocument> ExplainAsync(Guid userId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("select profile_sync.explain($1)::text");
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = userId });
        var json = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
        return JsonDocument.Parse(json);
    }
}
