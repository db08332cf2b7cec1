using Npgsql;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

/// <summary>The migrations on databases that are not our fresh template.</summary>
public sealed class UpgradeTests(PostgresCluster cluster)
{
    // The setup this product replaces: a bare table, rows in it, and a trigger that inserts without ON CONFLICT.
    // Made by the table owner, as it was before postgres lost membership of supabase_auth_admin.
    private const string OldSetup = """
        create table public.user_profiles (
          user_id uuid, email text, display_name text, is_active boolean, attributes jsonb);
        create function public.create_user_profile_trigger() returns trigger language plpgsql security definer as $$
        begin
          insert into public.user_profiles (user_id, email, display_name, is_active, attributes)
          values (new.id, new.email, new.email, true, '{"role":"user"}');
          return new;
        end $$;
        alter function public.create_user_profile_trigger() owner to postgres;
        alter table public.user_profiles owner to postgres;
        create trigger create_user_profile_trigger after insert on auth.users
          for each row execute function public.create_user_profile_trigger();
        """;

    [Fact]
    public async Task Upgrade_keeps_old_rows_adds_what_is_missing_and_replaces_the_old_trigger()
    {
        await using var db = await cluster.CreateDatabaseAsync(PostgresCluster.StandInTemplate);
        await db.ExecuteAsync(OldSetup, "supabase_admin");
        var admin = await db.SignUpAsync(email: "admin@example.com");
        await db.ExecuteAsync(
            """update public.user_profiles set display_name = 'The Admin', attributes = '{"role":"admin","is_admin":true}' where user_id = $1""",
            "postgres",
            admin);
        var plain = await db.SignUpAsync(email: "plain@example.com");
        var withoutProfile = await db.SignUpAsync(email: "missing@example.com");
        await db.ExecuteAsync("delete from public.user_profiles where user_id = $1", "postgres", withoutProfile);

        await cluster.MigrateAsync(db.Name);

        var kept = await db.ProfileAsync(admin);
        Assert.Equal(new Profile(admin, "admin@example.com", "The Admin", true, """{"role": "admin", "is_admin": true}""", null, null), kept);
        Assert.Equal("""{"role": "user"}""", (await db.ProfileAsync(plain))!.Attributes);
        // What differs from what auth.users implies was somebody's choice: it is owned, so no reconcile undoes it.
        Assert.Equal("{display_name,attributes}", await db.ScalarAsync<string>(
            "select owned_fields::text from public.user_profiles where user_id = $1", "postgres", admin));
        Assert.Equal(
            ["user_profiles_attributes_check", "user_profiles_created_via_check", "user_profiles_display_name_check", "user_profiles_owned_fields_check", "user_profiles_pkey",
             "user_profiles_user_id_fkey"],
            await ConstraintsAsync(db));

        // One path creates the profile now, with the new rules; the old function does nothing.
        var newcomer = await db.SignUpAsync(email: "new@example.com", userMetadata: """{"name":"Newcomer"}""");
        var profile = await db.ProfileAsync(newcomer);
        Assert.Equal("auth_trigger", profile!.CreatedVia);
        Assert.Equal("Newcomer", profile.DisplayName);
        Assert.Equal(1L, await db.ProfileCountAsync(newcomer));

        // The cascade now holds for old rows too, and the backfill heals the one the old setup missed.
        Assert.Equal(1L, await db.ScalarAsync<long>("select created from profile_sync.reconcile()"));
        await db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", plain);
        Assert.Equal(0L, await db.ProfileCountAsync(plain));
    }

    // The first customer's setup, as its SQL was: the table, the trigger (AFTER INSERT, security definer, no
    // search_path) and the one-off backfill with its e-mails written in, which left people out.
    internal const string OriginalDefaults =
        "{\"role\":\"user\",\"department\":\"General\",\"is_admin\":false,\"is_super_admin\":false,\"permissions\":{},\"access_level\":\"basic\"";

    internal const string OriginalSetup = $$"""
        create table public.user_profiles (
          user_id uuid primary key references auth.users (id), email text, display_name text,
          is_active boolean default true, attributes jsonb default '{}', created_at timestamptz default now(),
          updated_at timestamptz default now());
        alter table public.user_profiles owner to postgres;
        create function public.create_user_profile_trigger() returns trigger language plpgsql security definer as $f$
        begin
          insert into public.user_profiles (user_id, email, display_name, is_active, attributes)
          values (new.id, new.email, coalesce(new.raw_user_meta_data ->> 'display_name', new.email), true,
                  '{{OriginalDefaults}},"created_via":"auth_trigger"}'::jsonb);
          return new;
        end $f$;
        alter function public.create_user_profile_trigger() owner to postgres;
        create trigger create_user_profile_trigger after insert on auth.users
          for each row execute function public.create_user_profile_trigger();
        """;

    private const string OriginalBackfill = $$"""
        insert into public.user_profiles (user_id, email, display_name, is_active, attributes)
        select u.id, u.email, coalesce(u.raw_user_meta_data ->> 'display_name', u.email), true,
               '{{OriginalDefaults}},"created_via":"manual_fix"}'::jsonb
        from auth.users u
        where u.email in ('early@example.com', 'full@example.com')
        on conflict (user_id) do nothing;
        """;

    [Fact]
    public async Task Upgrade_from_the_original_trigger_and_backfill_derives_what_their_formulas_wrote_and_keeps_what_an_admin_chose()
    {
        await using var db = await cluster.CreateDatabaseAsync(PostgresCluster.StandInTemplate);
        // Before the trigger: users the backfill reached (and one it missed), with the backfill's formulas.
        var early = await db.SignUpAsync(email: "early@example.com", userMetadata: """{"display_name":"Early Bird"}""");
        var full = await db.SignUpAsync(email: "full@example.com", userMetadata: """{"full_name":"Full Name"}""");
        var missed = await db.SignUpAsync(email: "missed@example.com", userMetadata: """{"name":"Missed"}""");
        await db.ExecuteAsync(OriginalSetup, "supabase_admin");
        await db.ExecuteAsync(OriginalBackfill, "postgres");
        // After it: signups through the original trigger, one of them made an admin by hand.
        var plain = await db.SignUpAsync(email: "plain@example.com", userMetadata: """{"full_name":"Plain Person"}""");
        var boss = await db.SignUpAsync(email: "boss@corp.example", userMetadata: """{"display_name":"Boss"}""");
        await db.ExecuteAsync(
            """update public.user_profiles set display_name = 'The Boss', attributes = '{"role":"admin","is_admin":true}' where user_id = $1""",
            "postgres",
            boss);
        Assert.Equal(4L, await db.ScalarAsync<long>("select count(*) from public.user_profiles"));

        await cluster.MigrateAsync(db.Name);

        // Nothing a formula wrote is owned; the admin's choices are.
        Assert.Equal(
            [(early, "{}"), (full, "{}"), (plain, "{}"), (boss, "{display_name,attributes}")],
            await OwnedFieldsAsync(db, early, full, plain, boss));

        // A rule added later reaches every derived profile at the next reconcile; today's mapping replaces the formulas'.
        await db.ExecuteAsync("""insert into profile_sync.attribute_rules (provider, attributes) values ('email', '{"department":"Customers"}')""");
        await db.ScalarAsync<long>("select created from profile_sync.reconcile()");

        var derived = (await Truth.DerivedAsync(db)).ToDictionary(p => p.UserId);
        var profiles = (await Truth.ProfilesAsync(db)).ToDictionary(p => p.UserId);
        foreach (var user in new[] { early, full, missed, plain })
        {
            Assert.Equal(derived[user], profiles[user]);
        }

        Assert.Equal("Full Name", profiles[full].DisplayName);
        Assert.Equal("Plain Person", profiles[plain].DisplayName);
        Assert.Contains("\"department\": \"Customers\"", profiles[plain].Attributes, StringComparison.Ordinal);
        Assert.DoesNotContain("created_via", profiles[early].Attributes, StringComparison.Ordinal);
        Assert.Equal(("The Boss", """{"role": "admin", "is_admin": true}"""), (profiles[boss].DisplayName, profiles[boss].Attributes));
    }

    private static async Task<List<(Guid, string)>> OwnedFieldsAsync(TestDatabase db, params Guid[] users)
    {
        var owned = new List<(Guid, string)>();
        foreach (var user in users)
        {
            owned.Add((user, await db.ScalarAsync<string>("select owned_fields::text from public.user_profiles where user_id = $1", "postgres", user)));
        }

        return owned;
    }

    [Theory]
    [InlineData("before insert", "for each row")]
    [InlineData("before update", "for each row")]
    [InlineData("before delete", "for each row")]
    [InlineData("before insert or update or delete", "for each row")]
    [InlineData("after insert", "for each row")]
    [InlineData("before insert", "for each statement")]
    public async Task Old_trigger_that_cannot_be_dropped_is_retired_without_cancelling_any_write(string timing, string level)
    {
        // Made by auth.users' owner: postgres, which runs the migrations, owns neither the table nor the trigger,
        // only the old function (as when it was made in the SQL editor).
        await using var db = await cluster.CreateDatabaseAsync(PostgresCluster.StandInTemplate);
        await db.ExecuteAsync(
            $$"""
            create table public.user_profiles (user_id uuid, email text, display_name text, is_active boolean, attributes jsonb);
            alter table public.user_profiles owner to postgres;
            create function public.create_user_profile_trigger() returns trigger language plpgsql security definer as $f$
            begin
              if tg_level = 'ROW' and tg_op = 'INSERT' then
                insert into public.user_profiles (user_id, email, display_name, is_active, attributes)
                values (new.id, new.email, new.email, true, '{"role":"user"}');
              end if;
              if tg_op = 'DELETE' then return old; end if;
              return new;
            end $f$;
            alter function public.create_user_profile_trigger() owner to postgres;
            set role supabase_auth_admin;
            create trigger create_user_profile_trigger {{timing}} on auth.users
              {{level}} execute function public.create_user_profile_trigger();
            """,
            "supabase_admin");
        Assert.Equal("supabase_auth_admin", await db.ScalarAsync<string>("select tableowner::text from pg_tables where tablename = 'users' and schemaname = 'auth'"));

        // The clusters here load supautils as hosted Supabase does, whose drop_trigger_grants lets postgres drop it. Where
        // the role that runs the migrations is not granted that (plain PostgreSQL, or supautils without the setting), a
        // role with postgres's rights and attributes under another name stands for it.
        await db.ExecuteAsync(
            """
            do $$ begin
              create role migrator_without_grants login bypassrls password 'postgres' in role postgres;
            exception when duplicate_object or unique_violation then null;
            end $$
            """,
            "supabase_admin");
        await cluster.MigrateAsync(db.Name, "migrator_without_grants");

        Assert.Equal(1L, await db.ScalarAsync<long>("select count(*) from pg_trigger where tgname = 'create_user_profile_trigger'"));
        var userId = await db.SignUpAsync(email: "through@example.com");
        Assert.Equal(1L, await db.ScalarAsync<long>("select count(*) from auth.users where id = $1", "postgres", userId));
        Assert.Equal(1L, await db.ProfileCountAsync(userId));
        Assert.Equal("auth_trigger", (await db.ProfileAsync(userId))!.CreatedVia);
        await db.UpdateUserAsync(userId, "email = 'moved@example.com'");
        Assert.Equal("moved@example.com", await db.ScalarAsync<string>("select email::text from auth.users where id = $1", "postgres", userId));
        Assert.Equal("moved@example.com", (await db.ProfileAsync(userId))!.Email);
        await db.ExecuteAsync("delete from auth.users where id = $1", "supabase_auth_admin", userId);
        Assert.Equal(0L, await db.ScalarAsync<long>("select count(*) from auth.users where id = $1", "postgres", userId));
    }

    [Fact]
    public async Task Upgrade_refuses_a_table_with_duplicate_profiles_and_says_how_to_fix_it()
    {
        await using var db = await cluster.CreateDatabaseAsync(PostgresCluster.StandInTemplate);
        await db.ExecuteAsync(OldSetup, "supabase_admin");
        var userId = await db.SignUpAsync(email: "twice@example.com");
        await db.ExecuteAsync("insert into public.user_profiles (user_id) values ($1)", "postgres", userId);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => cluster.MigrateAsync(db.Name));

        Assert.Contains("1 user ids with more than one row", error.Message, StringComparison.Ordinal);
        Assert.Equal(2L, await db.ProfileCountAsync(userId));
    }

    [Fact]
    public async Task Upgrade_keeps_profiles_of_users_that_are_gone_and_leaves_the_key_not_valid()
    {
        await using var db = await cluster.CreateDatabaseAsync(PostgresCluster.StandInTemplate);
        await db.ExecuteAsync(OldSetup, "supabase_admin");
        var orphan = Guid.NewGuid();
        await db.ExecuteAsync("insert into public.user_profiles (user_id, email) values ($1, 'gone@example.com')", "postgres", orphan);

        await cluster.MigrateAsync(db.Name);

        Assert.Equal(1L, await db.ProfileCountAsync(orphan));
        Assert.False(await db.ScalarAsync<bool>(
            "select convalidated from pg_constraint where conname = 'user_profiles_user_id_fkey'"));
    }

    [Fact]
    public async Task Migrations_run_again_change_nothing()
    {
        await using var db = await cluster.CreateDatabaseAsync();
        var userId = await db.SignUpAsync(email: "once@example.com");
        var before = await db.ProfileAsync(userId);

        await cluster.MigrateAsync(db.Name);

        Assert.Equal(before, await db.ProfileAsync(userId));
        // postgres does not own auth.users here, as on hosted Supabase without supautils: a fresh install leaves exactly
        // the triggers that do work, and running it again neither drops nor adds one.
        Assert.Equal(
            "profile_sync_email_proof_settled,profile_sync_email_proved,profile_sync_user_changed,profile_sync_user_created,profile_sync_user_deleted",
            await db.ScalarAsync<string>(
            "select string_agg(tgname, ',' order by tgname) from pg_trigger where tgrelid = 'auth.users'::regclass and not tgisinternal"));
        var second = await db.SignUpAsync(email: "twice@example.com");
        Assert.Equal(1L, await db.ProfileCountAsync(second));
    }

    [Fact]
    public async Task Migrations_apply_with_psql_on_a_database_that_has_only_a_supabase_shaped_auth_schema()
    {
        // No stand-in extras (extensions schema, default privileges): only auth, loaded into a bare database.
        await using var db = await cluster.CreateDatabaseAsync("template0");
        var authSchema = (await File.ReadAllLinesAsync(AuthSchemaFile)).Where(line => !line.StartsWith('\\')); // psql meta-commands
        await db.ExecuteAsync(string.Join('\n', authSchema), "supabase_admin");

        await cluster.MigrateAsync(db.Name, "supabase_admin");

        var userId = await db.SignUpAsync(phone: "15550100");
        Assert.Equal("15550100", (await db.ProfileAsync(userId))!.DisplayName);
    }

    [Fact]
    public async Task Upgrade_never_holds_a_lock_on_auth_users_that_signups_wait_for_while_it_rewrites_profiles()
    {
        await using var db = await cluster.CreateDatabaseAsync(PostgresCluster.StandInTemplate);
        await db.ExecuteAsync(OldSetup, "supabase_admin");
        await db.SignUpManyAsync(500);
        await db.ExecuteAsync("update public.user_profiles set display_name = 'Chosen ' || user_id where user_id::text < '8'");

        // Each migration as supabase db push runs it: its statements sent together, in one implicit transaction (a DO
        // block that commits between batches, or a concurrent index build, ends it where it stands); then, in the file's
        // last transaction, before its commit, what it holds on auth.users and how many profile rows it read or wrote.
        // The batches of a file that commits as it goes are watched from outside by LiveUpgradeTests.
        var transactions = new List<(string File, string[] AuthUsersLocks, long ProfileRowsTouched)>();
        foreach (var file in Directory.GetFiles(Path.Combine(Repository.Root, "supabase", "migrations"), "*.sql").Order(StringComparer.Ordinal))
        {
            // A connection of its own: a backend's table statistics of earlier transactions may not be flushed yet.
            await using var connection = new NpgsqlConnection(db.ConnectionString() + ";Pooling=false");
            await connection.OpenAsync();
            await using var migrate = new NpgsqlCommand(
                $"""
                {await File.ReadAllTextAsync(file)}
                ;
                select array(select l.mode from pg_locks l
                             where l.pid = pg_backend_pid() and l.relation = 'auth.users'::regclass and l.granted order by 1),
                       (select s.seq_tup_read + coalesce(s.idx_tup_fetch, 0) + s.n_tup_ins + s.n_tup_upd + s.n_tup_del
                        from pg_stat_xact_user_tables s where s.relid = 'public.user_profiles'::regclass)
                """,
                connection);
            await using var reader = await migrate.ExecuteReaderAsync();
            do
            {
                if (reader.FieldCount == 2 && await reader.ReadAsync())
                {
                    transactions.Add((Path.GetFileName(file), reader.GetFieldValue<string[]>(0), reader.IsDBNull(1) ? 0 : reader.GetInt64(1)));
                }
            }
            while (await reader.NextResultAsync());
        }

        // Locks that an INSERT or UPDATE of auth.users (a signup, a sign-in) waits for.
        string[] blocking = ["ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"];
        Assert.Contains(transactions, t => t.ProfileRowsTouched >= 500); // the rewrite happened
        Assert.Contains(transactions, t => t.AuthUsersLocks.Intersect(blocking).Any()); // and so did the triggers' arrival
        Assert.All(transactions, t => Assert.False(
            t.ProfileRowsTouched > 0 && t.AuthUsersLocks.Intersect(blocking).Any(),
            $"{t.File} holds {string.Join(", ", t.AuthUsersLocks)} on auth.users while it touches {t.ProfileRowsTouched} profile rows"));
        var chosen = await db.ScalarAsync<long>("select count(*) from public.user_profiles where owned_fields @> '{display_name}'");
        Assert.True(chosen > 0);
        Assert.Equal(await db.ScalarAsync<long>("select count(*) from public.user_profiles where display_name like 'Chosen %'"), chosen);
    }

    private static string AuthSchemaFile =>
        Path.Combine(Repository.Root, "supabase", "local", "auth.sql");

    private static async Task<List<string>> ConstraintsAsync(TestDatabase db)
    {
        var names = new List<string>();
        await using var command = db.As().CreateCommand(
            "select conname from pg_constraint where conrelid = 'public.user_profiles'::regclass and contype <> 'n' order by 1");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }
}
