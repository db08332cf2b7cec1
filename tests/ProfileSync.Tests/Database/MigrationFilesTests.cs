using System.Text.RegularExpressions;
using ProfileSync.Tests.Support;

namespace ProfileSync.Tests.Database;

/// <summary>
/// <c>supabase/migrations</c> is the first release as it installs: each object defined in one place, and every
/// function clean under plpgsql_check (the checker <c>supabase db lint</c> uses).
/// </summary>
public sealed partial class MigrationFilesTests(PostgresCluster cluster)
{
    private static readonly string MigrationsDirectory = Path.Combine(Repository.Root, "supabase", "migrations");

    [Fact]
    public void Every_sql_object_is_defined_once_in_the_migrations()
    {
        var definitions = Directory.GetFiles(MigrationsDirectory, "*.sql")
            .SelectMany(file => Definitions(File.ReadAllText(file)).Select(name => (Name: name, File: Path.GetFileName(file))))
            .ToList();

        Assert.NotEmpty(definitions);
        var repeated = definitions.GroupBy(d => d.Name).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key} in {string.Join(", ", g.Select(d => d.File))}")
            .ToList();
        Assert.True(repeated.Count == 0, "defined more than once: " + string.Join("; ", repeated));
    }

    [Fact]
    public void Profiles_are_inserted_by_one_sql_definition_of_the_migrations()
    {
        // Every path writes through profile_sync.convergence_write: an insert elsewhere would be a second definition of
        // what a profile is made from. A later release may define that function again, in a file of its own.
        var writers = Directory.GetFiles(MigrationsDirectory, "*.sql").SelectMany(file => ProfileInserters(File.ReadAllText(file)))
            .Distinct().ToList();

        Assert.Equal(["profile_sync.convergence_write"], writers);
    }

    [Fact]
    public void The_insert_finder_names_the_definition_of_each_insert_in_any_spelling_but_not_in_a_comment()
    {
        const string sql = """
            insert into public.user_profiles (user_id) values (gen_random_uuid());
            create or replace function profile_sync.a() returns void language sql as $$
              -- insert into public.user_profiles (user_id) … in a comment
              INSERT   INTO
                public.user_profiles as p (user_id) select u.id from auth.users u;
            $$;
            create function "profile_sync"."B"() returns void language sql as $$
              insert into public.user_profiles_archive (user_id) values (null);
              insert into public.user_profiles (user_id) values (null);
              insert into public.user_profiles (user_id) values (null);
            $$;
            """;

        Assert.Equal(["(outside any definition)", "profile_sync.a", "profile_sync.b", "profile_sync.b"], ProfileInserters(sql));
    }

    [Fact]
    public void A_file_that_commits_as_it_goes_says_so_for_psql()
    {
        // supabase db push runs such a file as it is; psql must run it without --single-transaction (cluster.sh reads
        // the header for that), and every other file in one transaction.
        var committing = 0;
        foreach (var file in Directory.GetFiles(MigrationsDirectory, "*.sql"))
        {
            var code = LineComment().Replace(File.ReadAllText(file), "");
            var commits = CommitsAsItGoes().IsMatch(code);
            committing += commits ? 1 : 0;
            Assert.True(
                commits == File.ReadAllText(file).Contains("without --single-transaction", StringComparison.Ordinal),
                $"{Path.GetFileName(file)}: a file that commits or builds an index concurrently says \"without --single-transaction\" in its header, and no other");
        }

        Assert.True(committing > 0);
    }

    [Fact]
    public void The_definition_finder_sees_a_function_defined_twice()
    {
        const string twice = """
            create or replace function profile_sync.f() returns int language sql set search_path = '' as $$ select 1 $$;
            -- create or replace function profile_sync.in_a_comment() …
            create   or replace function profile_sync.F() returns int language sql set search_path = '' as $$ select 2 $$;
            create constraint trigger t after insert on auth.users for each row execute function profile_sync.f();
            alter table public.user_profiles add constraint user_profiles_x check (true);
            """;

        Assert.Equal(["profile_sync.f", "profile_sync.f", "t", "user_profiles_x"], Definitions(twice));
    }

    [Fact]
    public async Task Every_plpgsql_function_of_the_product_passes_plpgsql_check()
    {
        await using var db = await cluster.CreateDatabaseAsync();
        await db.ExecuteAsync("create extension if not exists plpgsql_check with schema extensions", "supabase_admin");
        // Every trigger function checked against its table: the one that ends sessions has a trigger only while it is on.
        await db.ExecuteAsync("update profile_sync.settings set end_sessions_on_claim_change = true");

        // Trigger functions are checked against the table that fires them. Every kind of finding but the performance
        // advice, which `supabase db lint` does not report either: it cannot see what a statement run by EXECUTE does
        // (the pg_cron calls), and calls those functions VOLATILE by mistake.
        var findings = await db.ScalarAsync<string>(
            """
            select coalesce(string_agg(p.proname || ': ' || c.level || ' ' || c.message, '; ' order by p.proname), '')
            from pg_proc p
            left join lateral (select t.tgrelid from pg_trigger t where t.tgfoid = p.oid limit 1) fired on true
            cross join lateral extensions.plpgsql_check_function_tb(
              p.oid, coalesce(fired.tgrelid, 0), other_warnings => true, extra_warnings => true,
              performance_warnings => false, security_warnings => true) c
            where p.pronamespace = 'profile_sync'::regnamespace and p.prolang = (select l.oid from pg_language l where l.lanname = 'plpgsql')
            """,
            "supabase_admin");
        var checkedFunctions = await db.ScalarAsync<long>(
            "select count(*) from pg_proc p where p.pronamespace = 'profile_sync'::regnamespace and p.prolang = (select oid from pg_language where lanname = 'plpgsql')");

        Assert.True(checkedFunctions >= 8, $"only {checkedFunctions} plpgsql functions found");
        Assert.Equal("", findings);
    }

    /// <summary>
    /// The names a migration text defines: functions, views, tables, triggers, policies, indexes, constraints (a primary
    /// key made from an index that exists defines nothing new: the index keeps its name).
    /// </summary>
    private static List<string> Definitions(string sql)
    {
        var code = LineComment().Replace(sql, "");
        return Definition().Matches(code).Select(DefinitionName).ToList();
    }

    private static string DefinitionName(Match definition) =>
        definition.Groups["name"].Value.Replace("\"", "", StringComparison.Ordinal).ToLowerInvariant();

    /// <summary>For each INSERT into public.user_profiles, the object whose definition holds it.</summary>
    private static List<string> ProfileInserters(string sql)
    {
        var code = LineComment().Replace(sql, "");
        var definitions = Definition().Matches(code);
        return ProfileInsert().Matches(code)
            .Select(insert => definitions.LastOrDefault(d => d.Index < insert.Index) is { } definition
                ? DefinitionName(definition)
                : "(outside any definition)")
            .ToList();
    }

    [GeneratedRegex(@"\binsert\s+into\s+public\.user_profiles\b(?!_)", RegexOptions.IgnoreCase)]
    private static partial Regex ProfileInsert();

    [GeneratedRegex("--[^\n]*")]
    private static partial Regex LineComment();

    [GeneratedRegex(@"\bcommit\s*;|\bconcurrently\b", RegexOptions.IgnoreCase)]
    private static partial Regex CommitsAsItGoes();

    [GeneratedRegex(
        @"\b(?:create\s+(?:or\s+replace\s+)?(?:constraint\s+)?(?:function|procedure|view|materialized\s+view|table|trigger|policy|(?:unique\s+)?index(?:\s+concurrently)?|type|schema)(?:\s+if\s+not\s+exists)?|add\s+constraint(?!\s+[\w.""]+\s+primary\s+key\s+using\s+index))\s+(?<name>[\w.""]+)",
        RegexOptions.IgnoreCase)]
    private static partial Regex Definition();
}
