using Npgsql;

namespace ProfileSync.Tests.Support;

/// <summary>
/// A database of its own for one test, with helpers that act as Supabase's roles do. Dropped when disposed, unless it
/// is the cluster's own <c>postgres</c> database (<see cref="PostgresCluster.MainDatabase"/>).
/// </summary>
public sealed class TestDatabase(PostgresCluster cluster, string name, bool dropWhenDisposed = true) : IAsyncDisposable
{
    private readonly Dictionary<string, NpgsqlDataSource> _sources = [];

    public string Name { get; } = name;

    public PostgresCluster Cluster { get; } = cluster;

    public string ConnectionString(string user = "postgres") => Cluster.ConnectionString(Name, user);

    /// <summary>The same database as the URI Supabase's dashboard gives (<c>postgresql://user:password@host:port/db</c>).</summary>
    public string ConnectionUri(string user = "postgres") =>
        $"postgresql://{user}:postgres@127.0.0.1:{Cluster.Port}/{Uri.EscapeDataString(Name)}?sslmode=disable&application_name=profilesync-test";

    /// <summary>A data source logged in as the given role (postgres, supabase_auth_admin, supabase_admin, authenticator).</summary>
    public NpgsqlDataSource As(string user = "postgres")
    {
        lock (_sources)
        {
            if (!_sources.TryGetValue(user, out var source))
            {
                source = NpgsqlDataSource.Create(ConnectionString(user));
                _sources[user] = source;
            }

            return source;
        }
    }

    /// <summary>Drops pooled connections, e.g. after the server restarted under them.</summary>
    public void ClearPools()
    {
        lock (_sources)
        {
            foreach (var source in _sources.Values)
            {
                source.Clear();
            }
        }
    }

    public async Task ExecuteAsync(string sql, string user = "postgres", params object?[] parameters)
    {
        await using var command = Command(sql, user, parameters);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql, string user = "postgres", params object?[] parameters)
    {
        await using var command = Command(sql, user, parameters);
        var value = await command.ExecuteScalarAsync();
        return value is null or DBNull ? default! : (T)value;
    }

    /// <summary>A signup as Supabase Auth makes it: an insert into auth.users by supabase_auth_admin.</summary>
    public async Task<Guid> SignUpAsync(
        string? email = null,
        string? phone = null,
        string? userMetadata = null,
        bool anonymous = false,
        DateTime? bannedUntil = null,
        Guid? id = null)
    {
        var userId = id ?? Guid.NewGuid();
        await ExecuteAsync(
            """
            insert into auth.users (instance_id, id, aud, role, email, phone, raw_user_meta_data, raw_app_meta_data,
                                    is_anonymous, banned_until, encrypted_password, created_at, updated_at)
            values ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', '', $2, $3,
                    coalesce($4::jsonb, '{}'), '{"provider":"email","providers":["email"]}', $5, $6,
                    '$2a$10$notarealhashnotarealhashnotarealhashnotarealhashnot', now(), now())
            """,
            "supabase_auth_admin",
            userId, email, phone, userMetadata, anonymous, bannedUntil);
        return userId;
    }

    /// <summary>
    /// An e-mail signup as Supabase Auth writes it (supabase/auth internal/api/signup.go): the INSERT, then, in the same
    /// transaction, UPDATEs of role, app metadata, user metadata (with <paramref name="fullName"/>) and the
    /// confirmation token, with the one-time-token row that says which address it was minted for. <paramref name="immediate"/>: with <c>set constraints all immediate</c> first.
    /// </summary>
    public async Task<Guid> SignUpLikeSupabaseAuthAsync(string email, string fullName, bool immediate = false)
    {
        var id = Guid.NewGuid();
        await ExecuteAsync(
            $$"""
            begin;
            {{(immediate ? "set constraints all immediate;" : "")}}
            insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
            values ('00000000-0000-0000-0000-000000000000', '{{id}}', '', '', '{{email}}', '{}', '{}', now(), now());
            update auth.users set role = 'authenticated', aud = 'authenticated', updated_at = now() where id = '{{id}}';
            update auth.users set raw_app_meta_data = '{"provider":"email","providers":["email"]}', updated_at = now() where id = '{{id}}';
            update auth.users set raw_user_meta_data = '{"email":"{{email}}","full_name":"{{fullName}}","email_verified":false}', updated_at = now() where id = '{{id}}';
            update auth.users set confirmation_token = 'tok-{{id}}', confirmation_sent_at = now(), updated_at = now() where id = '{{id}}';
            insert into auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to)
            values (gen_random_uuid(), '{{id}}', 'confirmation_token', 'tok-{{id}}', lower('{{email}}'));
            commit;
            """,
            "supabase_auth_admin");
        return id;
    }

    /// <summary>Many signups in one statement (e-mails <c>bulk-N@example.com</c>), as supabase_auth_admin.</summary>
    public Task SignUpManyAsync(int count) =>
        ExecuteAsync(
            """
            insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
            select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
                   'bulk-' || n || '@example.com', '{}', '{"provider":"email"}', now(), now()
            from generate_series(1, $1) n
            """,
            "supabase_auth_admin",
            count);

    /// <summary>Switches the fallback trigger (profile_sync.settings.fallback_trigger_enabled), as an operator does.</summary>
    public Task SetFallbackTriggerAsync(bool enabled) =>
        ExecuteAsync($"update profile_sync.settings set fallback_trigger_enabled = {(enabled ? "true" : "false")}");

    /// <summary>A change to an auth user as Supabase Auth writes it (supabase_auth_admin), with updated_at bumped.</summary>
    public Task UpdateUserAsync(Guid userId, string assignments, params object?[] parameters) =>
        ExecuteAsync($"update auth.users set {assignments}, updated_at = now() where id = $1", "supabase_auth_admin", [userId, .. parameters]);

    /// <summary>
    /// The case the product started from: 5 auth users, 2 profiles (a one-off repair's), 3 people without one.
    /// The fallback trigger is on again afterwards.
    /// </summary>
    public async Task<List<Guid>> SeedStartingCaseAsync()
    {
        await SetFallbackTriggerAsync(enabled: false);
        var users = new List<Guid>();
        foreach (var name in new[] { "ana", "ben", "cai", "dee", "eve" })
        {
            users.Add(await SignUpAsync(email: $"{name}@example.com"));
        }

        await ExecuteAsync(
            """
            insert into public.user_profiles (user_id, email, display_name, attributes, created_at, updated_at)
            values ($1, 'ana@example.com', 'Ana (admin)', '{"role":"admin","is_admin":true}', '2024-01-01', '2024-01-01'),
                   ($2, 'ben@example.com', 'Ben', '{"role":"user","department":"Sales"}', '2024-01-02', '2024-01-02')
            """,
            "postgres",
            users[0],
            users[1]);
        await SetFallbackTriggerAsync(enabled: true);
        return users;
    }

    /// <summary>
    /// The profiles of these users as JSON, to compare before and after: every column but source_fingerprint, sync's
    /// note of what the derived fields were derived from.
    /// </summary>
    public Task<string> ProfilesJsonAsync(params Guid[] ids) =>
        ScalarAsync<string>(
            "select coalesce(json_agg(to_jsonb(p) - 'source_fingerprint' order by p.user_id)::text, '[]') from public.user_profiles p where p.user_id = any($1)",
            "postgres",
            ids);

    public Task<long> UsersWithoutProfileAsync() =>
        ScalarAsync<long>("select count(*) from auth.users u where not exists (select 1 from public.user_profiles p where p.user_id = u.id)");

    public Task<long> ProfileCountAsync(Guid userId) =>
        ScalarAsync<long>("select count(*) from public.user_profiles where user_id = $1", "postgres", userId);

    public async Task<Profile?> ProfileAsync(Guid userId)
    {
        await using var command = Command(
            """
            select user_id, email, display_name, is_active, attributes::text, created_via, source_updated_at
            from public.user_profiles where user_id = $1
            """,
            "postgres",
            userId);
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return null;
        }

        return new Profile(
            reader.GetGuid(0),
            reader.IsDBNull(1) ? null : reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.GetBoolean(3),
            reader.GetString(4),
            reader.IsDBNull(5) ? null : reader.GetString(5),
            reader.IsDBNull(6) ? null : reader.GetDateTime(6));
    }

    /// <summary>Waits until some statement in this database waits for a lock (e.g. a row another transaction holds).</summary>
    public Task WaitForLockWaitAsync() =>
        Eventually.HoldsAsync(() => ScalarAsync<bool>(
            "select exists (select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock')", "supabase_admin"));

    /// <summary>SQL as a signed-in user sends it through the Data API (PostgREST); returns the uuids it selects.</summary>
    public Task<List<Guid>> AsSignedInUserAsync(Guid userId, string sql) =>
        AsApiRoleAsync("authenticated", $$"""{"sub":"{{userId}}","role":"authenticated"}""", sql);

    /// <summary>SQL as the service role sends it through the Data API (an admin's backend); returns the uuids it selects.</summary>
    public Task<List<Guid>> AsServiceRoleAsync(string sql) =>
        AsApiRoleAsync("service_role", """{"role":"service_role"}""", sql);

    /// <summary>Runs SQL the way PostgREST does: connected as authenticator, switched to the role, claims set.</summary>
    public async Task<List<Guid>> AsApiRoleAsync(string role, string claims, string sql)
    {
        await using var connection = await As("authenticator").OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var setClaims = new NpgsqlCommand("select set_config('request.jwt.claims', $1, true)", connection, transaction))
        {
            setClaims.Parameters.Add(new NpgsqlParameter { Value = claims });
            await setClaims.ExecuteNonQueryAsync();
        }

        await using (var setRole = new NpgsqlCommand($"set local role {role}", connection, transaction))
        {
            await setRole.ExecuteNonQueryAsync();
        }

        var ids = new List<Guid>();
        await using (var command = new NpgsqlCommand(sql, connection, transaction))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                ids.Add(reader.GetGuid(0));
            }
        }

        await transaction.CommitAsync();
        return ids;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var source in _sources.Values)
        {
            await source.DisposeAsync();
        }

        if (!dropWhenDisposed)
        {
            return;
        }

        await using var admin = NpgsqlDataSource.Create(Cluster.ConnectionString("postgres", "supabase_admin"));
        await using var drop = admin.CreateCommand($"drop database if exists \"{Name}\" (force)");
        await drop.ExecuteNonQueryAsync();
    }

    private NpgsqlCommand Command(string sql, string user, params object?[] parameters)
    {
        var command = As(user).CreateCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter ?? DBNull.Value });
        }

        return command;
    }
}

public sealed record Profile(
    Guid UserId,
    string? Email,
    string? DisplayName,
    bool IsActive,
    string Attributes,
    string? CreatedVia,
    DateTime? SourceUpdatedAt);
