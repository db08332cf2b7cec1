using System.Net;
using System.Text;
using System.Text.Json;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Events;

/// <summary>
/// The signed wiring's body for users one transaction changed together (<c>type</c> BULK, <c>user_ids</c>), over real
/// HTTP (<c>profilesync serve</c>) on real PostgreSQL: converged in one call, answered with counts.
/// </summary>
public sealed class BulkEventsOverHttpTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    [Fact]
    public async Task A_signed_bulk_body_converges_its_users_in_one_call_and_answers_with_counts()
    {
        await Db.SignUpManyAsync(5);
        var users = (await Truth.DerivedAsync(Db)).Select(p => p.UserId).ToList();
        await Db.ExecuteAsync("select * from profile_sync.converge($1, 'replay')", "postgres", users.Take(2).ToArray());
        await Db.ExecuteAsync("update auth.users set raw_user_meta_data = '{\"name\":\"Changed\"}' where id = $1", "supabase_auth_admin", users[0]);
        var gone = Guid.NewGuid();
        await using var served = await ServedApp.StartAsync(Db, throughPooler: false);

        var (status, answer) = await SendAsync(served, Bulk([.. users, gone]));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("""{"users":6,"created":3,"updated":1,"unchanged":1,"deleted":0,"absent":1,"failed":0}""", answer);
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
        Assert.Equal(3L, await Db.ScalarAsync<long>("select count(*) from public.user_profiles where created_via = 'webhook'"));
    }

    [Fact]
    public async Task An_unsigned_or_wrongly_signed_bulk_body_answers_401_and_converges_nothing()
    {
        await Db.SignUpManyAsync(3);
        var users = (await Truth.DerivedAsync(Db)).Select(p => p.UserId).ToList();
        await using var served = await ServedApp.StartAsync(Db, throughPooler: false);

        using var unsigned = new HttpRequestMessage(HttpMethod.Post, served.AuthEvents) { Content = new StringContent(Bulk(users), Encoding.UTF8, "application/json") };
        using var response = await served.Client.SendAsync(unsigned);
        var (wrong, _) = await SendAsync(served, Bulk(users), "v1,whsec_d3Jvbmctc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY=");

        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized), (response.StatusCode, wrong));
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from public.user_profiles"));
    }

    [Theory]
    [InlineData(1001, "'user_ids' must name 1 to 1000 users")]
    [InlineData(0, "'user_ids' must name 1 to 1000 users")]
    [InlineData(-1, "'user_ids' must hold UUIDs")]
    public async Task A_bulk_body_over_1000_users_or_malformed_answers_400_and_converges_nothing(int users, string problem)
    {
        await Db.SignUpManyAsync(3);
        var ids = users >= 0
            ? [.. (await Truth.DerivedAsync(Db)).Select(p => p.UserId), .. Enumerable.Range(0, Math.Max(0, users - 3)).Select(_ => Guid.NewGuid())]
            : (await Truth.DerivedAsync(Db)).Select(p => p.UserId).ToList();
        var body = users switch
        {
            0 => Bulk([]),
            < 0 => Bulk(ids).Replace("]", ",\"not-a-uuid\"]", StringComparison.Ordinal),
            _ => Bulk(ids),
        };
        await using var served = await ServedApp.StartAsync(Db, throughPooler: false);

        var (status, answer) = await SendAsync(served, body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(problem, answer, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>("select count(*) from public.user_profiles"));
    }

    private static string Bulk(IEnumerable<Guid> ids) =>
        JsonSerializer.Serialize(new Dictionary<string, object> { ["type"] = "BULK", ["table"] = "users", ["schema"] = "auth", ["user_ids"] = ids });

    private static async Task<(HttpStatusCode Status, string Answer)> SendAsync(ServedApp served, string body, string secret = SupabaseEvents.Secret)
    {
        using var request = StandardWebhooks.SignedRequest(served.AuthEvents, body, secret);
        using var response = await served.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
