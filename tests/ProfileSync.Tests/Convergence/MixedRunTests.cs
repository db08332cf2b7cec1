using System.Net;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// A mixed run through the webhook path alone (the fallback trigger is off): signups, e-mail changes, renames, bans,
/// lifted bans, soft and hard deletes, users' and admins' own changes, while the events of earlier changes arrive
/// shuffled, duplicated (30%), late (old events again) and partly concurrently. At the end every profile is what
/// auth.users, the defaults and the owners imply, checked field by field against an independent query.
/// </summary>
public sealed class MixedRunTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    private const int Seed = 20261124;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Events_in_any_order_with_duplicates_alongside_changes_end_in_what_auth_users_and_owners_imply(bool throughPooler)
    {
        await using var served = await ServedApp.StartAsync(Db, throughPooler);
        var run = new Run(Db, new Random(Seed));
        for (var i = 0; i < 30; i++)
        {
            await run.SignUpAsync();
        }

        var delivering = Task.CompletedTask;
        for (var round = 0; round < 8; round++)
        {
            // The previous round's events are delivered while this round's changes happen.
            delivering = DeliverAsync(served, run.TakeEvents(), concurrently: round % 2 == 1);
            for (var change = 0; change < 25; change++)
            {
                await run.ChangeSomethingAsync();
            }

            await delivering;
        }

        await DeliverAsync(served, run.TakeEvents(), concurrently: true);

        var expected = (await Truth.DerivedAsync(Db)).Select(run.WithOwnersChoices).ToList();
        var actual = await Truth.ProfilesAsync(Db);
        Assert.Equal(expected.Select(p => p.UserId), actual.Select(p => p.UserId));
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i], actual[i]);
        }

        Assert.True(run.Changes > 150, $"the run made {run.Changes} changes");
    }

    private static async Task DeliverAsync(ServedApp served, List<string> events, bool concurrently)
    {
        if (concurrently)
        {
            await Parallel.ForEachAsync(events, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (body, _) =>
                Assert.Equal(HttpStatusCode.OK, (await served.SendAsync(body)).Status));
            return;
        }

        foreach (var body in events)
        {
            Assert.Equal(HttpStatusCode.OK, (await served.SendAsync(body)).Status);
        }
    }

    /// <summary>The changes made so far, the events they owe, and what users and admins chose.</summary>
    private sealed class Run(TestDatabase db, Random random)
    {
        private readonly List<Guid> _users = [];
        private readonly List<string> _pending = [];
        private readonly List<string> _delivered = [];
        private readonly Dictionary<Guid, string> _names = [];
        private readonly HashSet<Guid> _deactivated = [];
        private readonly Dictionary<Guid, string> _attributes = [];
        private int _serial;

        public int Changes { get; private set; }

        public async Task SignUpAsync()
        {
            var n = ++_serial;
            var id = await db.SignUpAsync(email: $"user{n}@example.com", userMetadata: $$"""{"name":"User {{n}}"}""");
            _users.Add(id);
            Owe(SupabaseEvents.Insert(id, $"user{n}@example.com"));
        }

        public async Task ChangeSomethingAsync()
        {
            Changes++;
            var id = _users[random.Next(_users.Count)];
            var n = ++_serial;
            switch (random.Next(11))
            {
                case 0:
                    await SignUpAsync();
                    return;
                case 1:
                    await AuthChangeAsync(id, $"email = 'user{n}@example.com'");
                    return;
                case 2:
                    await AuthChangeAsync(id, random.Next(2) == 0 ? $$"""raw_user_meta_data = '{"full_name":"Full {{n}}"}'""" : "raw_user_meta_data = '{}'");
                    return;
                case 3:
                    await AuthChangeAsync(id, "banned_until = now() + interval '1 day'");
                    return;
                case 4:
                    await AuthChangeAsync(id, random.Next(2) == 0 ? "banned_until = null" : "banned_until = now() - interval '1 minute'");
                    return;
                case 5:
                    await AuthChangeAsync(id, random.Next(2) == 0 ? "deleted_at = now()" : "deleted_at = null");
                    return;
                case 6:
                    await db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", id);
                    _users.Remove(id);
                    Owe(SupabaseEvents.Delete(id));
                    return;
                case 7:
                    if ((await db.AsSignedInUserAsync(id, $"update public.user_profiles set display_name = 'Chosen {n}' returning user_id")).Count == 1)
                    {
                        _names[id] = $"Chosen {n}";
                    }

                    return;
                case 8:
                    if ((await db.AsSignedInUserAsync(id, "update public.user_profiles set display_name = null returning user_id")).Count == 1)
                    {
                        _names.Remove(id);
                    }

                    return;
                case 9:
                    if (await AdminUpdatedAsync(id, "is_active = false"))
                    {
                        _deactivated.Add(id);
                    }

                    return;
                default:
                    if (await AdminUpdatedAsync(id, $$"""attributes = '{"role":"admin","n":{{n}}}'"""))
                    {
                        _attributes[id] = $$"""{"n": {{n}}, "role": "admin"}""";
                    }

                    return;
            }
        }

        /// <summary>This round's events, 30% of them twice, a few old ones again, shuffled.</summary>
        public List<string> TakeEvents()
        {
            var events = new List<string>(_pending);
            events.AddRange(_pending.Where(_ => random.NextDouble() < 0.3));
            events.AddRange(_delivered.Where(_ => random.NextDouble() < 0.05));
            _delivered.AddRange(_pending);
            _pending.Clear();
            return [.. events.OrderBy(_ => random.Next())];
        }

        public ProfileFields WithOwnersChoices(ProfileFields derived) => derived with
        {
            DisplayName = _names.TryGetValue(derived.UserId, out var name) ? name : derived.DisplayName,
            IsActive = derived.IsActive && !_deactivated.Contains(derived.UserId),
            Attributes = _attributes.TryGetValue(derived.UserId, out var attributes) ? attributes : derived.Attributes,
        };

        private async Task AuthChangeAsync(Guid id, string assignment)
        {
            await db.UpdateUserAsync(id, assignment);
            Owe(SupabaseEvents.Update(id));
        }

        // Only a profile that exists can be changed: the webhook may not have created it yet.
        private Task<bool> AdminUpdatedAsync(Guid id, string assignment) =>
            db.ScalarAsync<bool>($"with changed as (update public.user_profiles set {assignment} where user_id = $1 returning 1) select count(*) = 1 from changed", "postgres", id);

        private void Owe(string body) => _pending.Add(body);
    }
}
