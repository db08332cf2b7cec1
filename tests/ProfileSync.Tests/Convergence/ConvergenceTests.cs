using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ProfileSync.Replay;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Convergence;

/// <summary>
/// Profiles that went stale or lost their user while no event was delivered (the fallback trigger is off, as when
/// pg_net dropped the webhook): status shows them, every reconcile path converges them, and so does the user's next
/// event, whatever its body says.
/// </summary>
public sealed class ConvergenceTests(PostgresCluster cluster) : WebhookPathTest(cluster)
{
    [Theory]
    [InlineData("cli")]
    [InlineData("http")]
    [InlineData("timer")]
    [InlineData("sql")]
    public async Task Changes_no_event_delivered_are_shown_by_status_and_converged_by_every_reconcile_path(string path)
    {
        var users = await DriftAsync();

        var status = await StatusAsync();
        Assert.Equal(5, status.GetProperty("staleProfiles").GetInt64());
        Assert.Equal("""{"email":1,"display_name":2,"is_active":3,"attributes":0}""", StaleFields(status));
        Assert.False(status.GetProperty("inSync").GetBoolean());
        Assert.All(status.GetProperty("sampleStaleProfiles").EnumerateArray(), id => Assert.Contains(id.GetGuid(), users));

        var (stale, refreshed) = await ReconcileAsync(path);

        Assert.Equal((5L, 5L), (stale, refreshed));
        Assert.True((await StatusAsync()).GetProperty("inSync").GetBoolean());
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    [Fact]
    public async Task Status_counts_every_kind_of_drift_as_the_drift_view_lists_it()
    {
        // Status counts orphans from the totals instead of searching for them: with every kind at once, its counts
        // and samples must still be what profile_sync.drift lists.
        var gone = await Db.SignUpAsync(email: "orphan-a@example.com");
        var alsoGone = await Db.SignUpAsync(email: "orphan-b@example.com");
        await EveryKindOfDriftAsync();
        await OrphanAsync(gone, alsoGone);

        var status = await StatusAsync();

        Assert.Equal(
            (await Db.ScalarAsync<long>("select count(*) from auth.users"), await Db.ScalarAsync<long>("select count(*) from public.user_profiles"),
             await Db.ScalarAsync<long>("select count(*) from profile_sync.drift where kind = 'missing'"),
             await Db.ScalarAsync<long>("select count(*) from profile_sync.drift where kind = 'stale'"), 3L),
            (status.GetProperty("authUsers").GetInt64(), status.GetProperty("profiles").GetInt64(),
             status.GetProperty("usersWithoutProfile").GetInt64(), status.GetProperty("staleProfiles").GetInt64(),
             status.GetProperty("profilesWithoutUser").GetInt64()));
        Assert.Equal(
            (await Db.ScalarAsync<Guid[]>("select array_agg(user_id order by user_id) from profile_sync.drift where kind = 'orphaned'")).Order(),
            status.GetProperty("sampleProfilesWithoutUser").EnumerateArray().Select(id => id.GetGuid()).Order());
        Assert.Contains(gone, status.GetProperty("sampleProfilesWithoutUser").EnumerateArray().Select(id => id.GetGuid()));
    }

    [Fact]
    public async Task Dry_run_counts_what_is_missing_stale_and_orphaned_and_writes_nothing()
    {
        var before = await EveryKindOfDriftAsync();

        var (exitCode, output, _) = await CliRunner.RunAsync("replay", "--dry-run", "--json", "--connection", Db.ConnectionString());

        Assert.Equal(0, exitCode);
        using var report = JsonDocument.Parse(output);
        var counts = report.RootElement;
        Assert.Equal(
            (6L, 1L, 0L, 5L, 0L, 1L, 0L, true),
            (counts.GetProperty("scanned").GetInt64(), counts.GetProperty("missing").GetInt64(), counts.GetProperty("created").GetInt64(),
             counts.GetProperty("stale").GetInt64(), counts.GetProperty("refreshed").GetInt64(), counts.GetProperty("orphaned").GetInt64(),
             counts.GetProperty("removed").GetInt64(), counts.GetProperty("dryRun").GetBoolean()));
        Assert.Equal(before, await Truth.ProfilesAsync(Db));
    }

    [Fact]
    public async Task In_batches_a_dry_run_counts_what_the_run_then_does_and_writes_nothing()
    {
        var before = await EveryKindOfDriftAsync();
        using var services = TestServices.Build(Db.ConnectionString());
        var replayer = services.GetRequiredService<ProfileReplayer>();

        // More drifted than a batch holds: the replay goes batch by batch, each converging all of its users.
        var dryRun = await replayer.RunAsync(new ReplayRequest(new ReplayScope(), DryRun: true, BatchSize: 2));
        Assert.Equal(before, await Truth.ProfilesAsync(Db));
        var run = await replayer.RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: 2));

        Assert.Equal((6L, 1L, 0L, 5L, 0L, 1L, 0L), (dryRun.Scanned, dryRun.Missing, dryRun.Created, dryRun.Stale, dryRun.Refreshed, dryRun.Orphaned, dryRun.Removed));
        Assert.Equal((6L, 1L, 1L, 5L, 5L, 1L, 1L), (run.Scanned, run.Missing, run.Created, run.Stale, run.Refreshed, run.Orphaned, run.Removed));
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    [Fact]
    public async Task Replay_removes_profiles_whose_user_is_gone_in_every_batch_and_after_the_last()
    {
        // Users in id order; the orphans sit before, between and after them, so batches of 2 meet each kind of range.
        var ids = Enumerable.Range(1, 7).Select(i => Guid.Parse($"{i:x8}-0000-4000-8000-000000000000")).ToList();
        foreach (var id in ids)
        {
            await Db.SignUpAsync(email: $"{id:N}@example.com", id: id);
        }

        await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString());
        await OrphanAsync(ids[0], ids[3], ids[6]);
        var status = await StatusAsync();
        Assert.Equal(3, status.GetProperty("profilesWithoutUser").GetInt64());

        // Batch sizes below 100 are refused to callers; the replayer itself takes any, to meet each range cheaply here.
        using var services = TestServices.Build(Db.ConnectionString());
        var report = await services.GetRequiredService<ProfileReplayer>().RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: 2));

        Assert.Equal((4L, 3L, 3L), (report.Scanned, report.Orphaned, report.Removed));
        Assert.True((await StatusAsync()).GetProperty("inSync").GetBoolean());
    }

    [Fact]
    public async Task A_replay_batch_that_meets_a_profile_made_while_it_ran_converges_the_rest_of_its_range()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await Db.SignUpAsync(email: $"range{i}@example.com"));
        }

        // A signup's own fallback trigger makes one of the profiles and has not committed when the batch inserts it.
        await using var fallback = await Db.As().OpenConnectionAsync();
        await using var signup = await fallback.BeginTransactionAsync();
        await using (var converge = new Npgsql.NpgsqlCommand("select profile_sync.converge_user($1, 'auth_trigger')", fallback, signup))
        {
            converge.Parameters.Add(new Npgsql.NpgsqlParameter { Value = ids[1] });
            await converge.ExecuteNonQueryAsync();
        }

        using var services = TestServices.Build(Db.ConnectionString());
        // More drifted than a batch holds: the replay goes range by range.
        var replay = services.GetRequiredService<ProfileReplayer>().RunAsync(new ReplayRequest(new ReplayScope(), BatchSize: 2));
        await Db.WaitForLockWaitAsync();
        await signup.CommitAsync();
        var report = await replay;

        // The batch that met it ran again, and then saw it.
        Assert.Equal((3L, 2L, 2L), (report.Scanned, report.Missing, report.Created));
        Assert.Equal("auth_trigger", await Db.ScalarAsync<string>("select created_via from public.user_profiles where user_id = $1", "postgres", ids[1]));
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    [Fact]
    public async Task A_first_pass_that_finds_more_drift_than_it_may_converge_stops_looking_and_counts_nothing()
    {
        await EveryKindOfDriftAsync();

        Assert.Equal("(,,,,0,0,0,0,{},f)", await Db.ScalarAsync<string>("select r::text from profile_sync.reconcile(false, 2) r"));
        Assert.Equal("(6,1,5,1,1,5,1,0,{},t)", await Db.ScalarAsync<string>("select r::text from profile_sync.reconcile(false, 7) r"));
    }

    [Fact]
    public async Task Scoped_replays_remove_only_orphans_among_their_user_ids_and_a_created_window_removes_none()
    {
        var kept = await Db.SignUpAsync(email: "kept@example.com");
        var named = await Db.SignUpAsync(email: "named@example.com");
        await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString());
        await OrphanAsync(kept, named);

        var window = await CliRunner.RunAsync("replay", "--created-after", "2000-01-01T00:00:00Z", "--json", "--connection", Db.ConnectionString());
        var scoped = await CliRunner.RunAsync("replay", "--user-id", named.ToString(), "--json", "--connection", Db.ConnectionString());

        Assert.Equal(0, JsonDocument.Parse(window.Output).RootElement.GetProperty("removed").GetInt64());
        Assert.Equal(1, JsonDocument.Parse(scoped.Output).RootElement.GetProperty("removed").GetInt64());
        Assert.Equal((1L, 0L), (await Db.ProfileCountAsync(kept), await Db.ProfileCountAsync(named)));
    }

    [Fact]
    public async Task A_ban_that_lapses_reactivates_the_profile_at_the_next_reconcile_with_no_write_to_auth_users()
    {
        await Db.SetFallbackTriggerAsync(enabled: true);
        var userId = await Db.SignUpAsync(email: "banned@example.com", bannedUntil: DateTime.UtcNow.AddSeconds(1));
        Assert.False((await Db.ProfileAsync(userId))!.IsActive);

        await Eventually.HoldsAsync(async () => await Db.ScalarAsync<bool>("select banned_until <= now() from auth.users where id = $1", "postgres", userId));
        Assert.Equal("""{"email":0,"display_name":0,"is_active":1,"attributes":0}""", StaleFields(await StatusAsync()));
        var (_, refreshed) = await ReconcileAsync("timer");

        Assert.Equal(1L, refreshed);
        Assert.True((await Db.ProfileAsync(userId))!.IsActive);
    }

    [Fact]
    public async Task The_next_event_of_a_user_converges_everything_missed_before_whatever_its_body_holds()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        var userId = await Db.SignUpAsync(email: "old@example.com", userMetadata: """{"name":"Old"}""");
        Assert.Equal((HttpStatusCode.OK, "created"), await served.SendAsync(SupabaseEvents.Insert(userId, "old@example.com")));
        // Missed: an e-mail change, a rename in metadata, a soft delete.
        await Db.UpdateUserAsync(userId, "email = 'new@example.com', raw_user_meta_data = '{\"name\":\"New\"}', deleted_at = now()");

        // A sign-in's event whose body is stale and lies about the future.
        var body = SupabaseEvents.Update(userId, "old@example.com", metadata: new { name = "Old" }, updatedAt: new DateTime(9999, 12, 31, 0, 0, 0, DateTimeKind.Utc));
        Assert.Equal((HttpStatusCode.OK, "updated"), await served.SendAsync(body));
        Assert.Equal((HttpStatusCode.OK, "unchanged"), await served.SendAsync(body));

        var profile = await Db.ProfileAsync(userId);
        Assert.Equal(("new@example.com", "New", false), (profile!.Email, profile.DisplayName, profile.IsActive));

        // And a later change still applies: nothing froze the profile.
        await Db.UpdateUserAsync(userId, "deleted_at = null, raw_user_meta_data = '{\"name\":\"Later\"}'");
        Assert.Equal((HttpStatusCode.OK, "updated"), await served.SendAsync(SupabaseEvents.Update(userId)));
        var later = await Db.ProfileAsync(userId);
        Assert.Equal(("Later", true), (later!.DisplayName, later.IsActive));
    }

    [Fact]
    public async Task An_event_for_a_user_whose_deletion_is_in_flight_is_ignored_once_the_deletion_commits()
    {
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        var userId = await Db.SignUpAsync(email: "leaving@example.com");
        await using var auth = await Db.As("supabase_auth_admin").OpenConnectionAsync();
        await using var deletion = await auth.BeginTransactionAsync();
        await using (var delete = new Npgsql.NpgsqlCommand("delete from auth.users where id = $1", auth, deletion))
        {
            delete.Parameters.Add(new Npgsql.NpgsqlParameter { Value = userId });
            await delete.ExecuteNonQueryAsync();
        }

        // The convergence still sees the user, inserts, and waits on the deleted row for its foreign key check.
        var delivery = served.SendAsync(SupabaseEvents.Insert(userId));
        await Db.WaitForLockWaitAsync();
        await deletion.CommitAsync();

        Assert.Equal((HttpStatusCode.OK, "ignored"), await delivery);
        Assert.Equal(0L, await Db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task With_only_the_fallback_trigger_profiles_follow_email_changes_bans_and_soft_deletes()
    {
        await Db.SetFallbackTriggerAsync(enabled: true);
        var userId = await Db.SignUpAsync(email: "t@example.com");

        await Db.UpdateUserAsync(userId, "email = 't2@example.com'");
        Assert.Equal("t2@example.com", (await Db.ProfileAsync(userId))!.Email);
        await Db.UpdateUserAsync(userId, "banned_until = now() + interval '1 day'");
        Assert.False((await Db.ProfileAsync(userId))!.IsActive);
        await Db.UpdateUserAsync(userId, "banned_until = null");
        Assert.True((await Db.ProfileAsync(userId))!.IsActive);
        await Db.UpdateUserAsync(userId, "deleted_at = now()");
        Assert.False((await Db.ProfileAsync(userId))!.IsActive);
    }

    [Theory]
    [InlineData("fallback")]
    [InlineData("webhook")]
    [InlineData("replay")]
    public async Task A_signup_with_a_huge_name_full_of_hidden_characters_gets_its_profile_with_the_name_made_plain(string path)
    {
        // 1 MiB of user metadata, as a user may send at signup: a name with right-to-left overrides, zero-width spaces
        // and line breaks (which count as spaces).
        var name = string.Concat(Enumerable.Repeat("Ab\\u202e\\u200b\\n", 100_000));
        var userId = await SignUpOnPathAsync(path, $$"""{"full_name":"{{name}}"}""");

        Assert.Equal(string.Join(' ', Enumerable.Repeat("Ab", 67)), (await Db.ProfileAsync(userId))!.DisplayName);
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    [Theory]
    [InlineData("fallback")]
    [InlineData("webhook")]
    [InlineData("replay")]
    public async Task A_signup_whose_name_is_cut_just_before_a_space_gets_its_profile(string path)
    {
        // supabase.auth.signUp({ …, options: { data: { display_name: 'a'.repeat(199) + ' b' } } })
        var userId = await SignUpOnPathAsync(path, $$"""{"display_name":"{{new string('a', 199)}} b"}""");

        Assert.Equal(new string('a', 199), (await Db.ProfileAsync(userId))!.DisplayName);
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    [Theory]
    [InlineData("fallback")]
    [InlineData("webhook")]
    [InlineData("replay")]
    public async Task A_name_that_cleans_to_nothing_gives_way_to_the_next_in_the_chain(string path)
    {
        var hidden = string.Concat(Enumerable.Repeat("\\u200b", 1000));
        var userId = await SignUpOnPathAsync(path, $$"""{"display_name":"{{hidden}}","full_name":"\u3164\u00a0","name":"{{hidden}}Bob"}""");

        Assert.Equal("Bob", (await Db.ProfileAsync(userId))!.DisplayName);
        var onlyHidden = await SignUpOnPathAsync(path, $$"""{"display_name":"\u202e\u00a0"}""", email: $"hidden-{Guid.NewGuid():N}@example.com");
        Assert.StartsWith("hidden-", (await Db.ProfileAsync(onlyHidden))!.DisplayName, StringComparison.Ordinal);
        Assert.Equal(await Truth.DerivedAsync(Db), await Truth.ProfilesAsync(Db));
    }

    /// <summary>A signup whose profile the given path makes: the fallback at once, a webhook delivery, or a replay.</summary>
    private async Task<Guid> SignUpOnPathAsync(string path, string userMetadata, string? email = null)
    {
        email ??= $"name-{Guid.NewGuid():N}@example.com";
        await Db.ExecuteAsync($"update profile_sync.settings set fallback_trigger_enabled = {path == "fallback"}");
        var userId = await Db.SignUpAsync(email: email, userMetadata: userMetadata);
        switch (path)
        {
            case "webhook":
                await using (var served = await ServedApp.StartAsync(Db.ConnectionString()))
                {
                    Assert.Equal("created", (await served.SendAsync(SupabaseEvents.Insert(userId, email))).Outcome);
                }

                break;
            case "replay":
                Assert.Equal(0, (await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString())).ExitCode);
                break;
        }

        return userId;
    }

    [Fact]
    public async Task Sign_ins_write_nothing_to_profiles()
    {
        await Db.SetFallbackTriggerAsync(enabled: true);
        await using var served = await ServedApp.StartAsync(Db.ConnectionString());
        var userId = await Db.SignUpAsync(email: "often@example.com");
        var before = await Db.ScalarAsync<DateTime>("select updated_at from public.user_profiles where user_id = $1", "postgres", userId);

        await Db.UpdateUserAsync(userId, "last_sign_in_at = now()");
        var (_, outcome) = await served.SendAsync(SupabaseEvents.Update(userId, "often@example.com"));

        Assert.Equal("unchanged", outcome);
        Assert.Equal(before, await Db.ScalarAsync<DateTime>("select updated_at from public.user_profiles where user_id = $1", "postgres", userId));
    }

    /// <summary>
    /// Five in-sync profiles, then changes no event carries: an e-mail change with a name in metadata, a rename in
    /// metadata, a soft delete, a ban, a lifted ban. Returns their ids.
    /// </summary>
    private async Task<List<Guid>> DriftAsync()
    {
        var users = new List<Guid>
        {
            await Db.SignUpAsync(email: "mail@example.com"),
            await Db.SignUpAsync(email: "named@example.com", userMetadata: """{"name":"Before"}"""),
            await Db.SignUpAsync(email: "deleted@example.com"),
            await Db.SignUpAsync(email: "banned@example.com"),
            await Db.SignUpAsync(email: "unbanned@example.com", bannedUntil: DateTime.UtcNow.AddDays(1)),
        };
        await CliRunner.RunAsync("replay", "--connection", Db.ConnectionString());
        Assert.True((await StatusAsync()).GetProperty("inSync").GetBoolean());

        await Db.UpdateUserAsync(users[0], "email = 'mail2@example.com', raw_user_meta_data = '{\"name\":\"Mail\"}'");
        await Db.UpdateUserAsync(users[1], "raw_user_meta_data = '{\"full_name\":\"After\"}'");
        await Db.UpdateUserAsync(users[2], "deleted_at = now()");
        await Db.UpdateUserAsync(users[3], "banned_until = now() + interval '7 days'");
        await Db.UpdateUserAsync(users[4], "banned_until = null");
        return users;
    }

    /// <summary>5 stale profiles (<see cref="DriftAsync"/>), 1 orphaned, 1 missing; returns the profiles as they are then.</summary>
    private async Task<List<ProfileFields>> EveryKindOfDriftAsync()
    {
        var gone = await Db.SignUpAsync(email: "gone@example.com");
        await DriftAsync();
        await OrphanAsync(gone);
        await Db.SignUpAsync(email: "missing@example.com");
        return await Truth.ProfilesAsync(Db);
    }

    /// <summary>Deletes users but keeps their profiles, as an old table without the cascade leaves them.</summary>
    private async Task OrphanAsync(params Guid[] ids)
    {
        await Db.ExecuteAsync("alter table public.user_profiles drop constraint if exists user_profiles_user_id_fkey");
        await Db.ExecuteAsync("delete from auth.users where id = any($1)", "supabase_auth_admin", ids);
    }

    private async Task<JsonElement> StatusAsync()
    {
        var (exitCode, output, _) = await CliRunner.RunAsync("status", "--json", "--connection", Db.ConnectionString());
        Assert.Equal(0, exitCode);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    /// <summary>Runs one reconcile path; returns the stale profiles it found and the ones it refreshed.</summary>
    private async Task<(long Stale, long Refreshed)> ReconcileAsync(string path)
    {
        switch (path)
        {
            case "cli":
            {
                var (_, output, _) = await CliRunner.RunAsync("replay", "--json", "--connection", Db.ConnectionString());
                var report = JsonDocument.Parse(output).RootElement;
                return (report.GetProperty("stale").GetInt64(), report.GetProperty("refreshed").GetInt64());
            }

            case "http":
            {
                await using var served = await ServedApp.StartAsync(Db.ConnectionString());
                using var response = await served.Client.PostAsync(new Uri("/api/profiles/replay", UriKind.Relative), new StringContent("{}"));
                var report = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
                return (report.GetProperty("stale").GetInt64(), report.GetProperty("refreshed").GetInt64());
            }

            case "timer":
            {
                var before = await Db.ScalarAsync<long>("select count(*) from profile_sync.profile_state where stale_fields <> '{}'");
                await ReconcileTimer.RunAsync(Db.ConnectionString());
                var after = await Db.ScalarAsync<long>("select count(*) from profile_sync.profile_state where stale_fields <> '{}'");
                return (before, before - after);
            }

            default:
            {
                await using var command = Db.As().CreateCommand("select stale, refreshed from profile_sync.reconcile()");
                await using var reader = await command.ExecuteReaderAsync();
                await reader.ReadAsync();
                return (reader.GetInt64(0), reader.GetInt64(1));
            }
        }
    }

    private static string StaleFields(JsonElement status) =>
        JsonSerializer.Serialize(status.GetProperty("staleFields").Deserialize<Dictionary<string, long>>());

}
