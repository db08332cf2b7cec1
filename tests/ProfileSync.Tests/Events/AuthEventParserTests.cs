using System.Text;
using ProfileSync.Events;

namespace ProfileSync.Tests.Events;

public sealed class AuthEventParserTests
{
    private const string UserId = "2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a";

    [Fact]
    public void Reads_a_database_webhook_insert_with_database_column_names()
    {
        var result = Parse($$$"""
            {"type":"INSERT","table":"users","schema":"auth","old_record":null,
             "record":{"id":"{{{UserId}}}","email":"a@example.com","phone":null,"encrypted_password":"$2a$10$secret",
                       "confirmation_token":"tok","raw_user_meta_data":{"full_name":"Ada"},"raw_app_meta_data":{"provider":"email"},
                       "banned_until":null,"deleted_at":null,"is_anonymous":false,
                       "updated_at":"2024-05-01T10:00:00.123456+00:00","created_at":"2024-05-01T10:00:00.123456+00:00"}}
            """);

        Assert.Equal(ParseStatus.Parsed, result.Status);
        Assert.Equal(new AuthEvent(AuthEventType.Insert, Guid.Parse(UserId)), result.Event);
    }

    [Fact]
    public void Reads_only_the_user_id_of_an_update_whatever_its_row_holds()
    {
        var result = Parse($$$"""
            {"type":"UPDATE","table":"users","schema":"auth",
             "record":{"id":"{{{UserId}}}","email":42,"banned_until":"someday","raw_user_meta_data":[1,2],
                       "deleted_at":"2024-06-01T00:00:00+02:00","updated_at":"9999-12-31T23:59:59+00:00"},
             "old_record":{"id":"{{{UserId}}}"}}
            """);

        // auth.users is the truth: odd or hostile field values are not read, so they cannot decide anything.
        Assert.Equal(new AuthEvent(AuthEventType.Update, Guid.Parse(UserId)), result.Event);
    }

    [Fact]
    public void Reads_a_database_webhook_delete_from_old_record()
    {
        var result = Parse($$$"""{"type":"DELETE","table":"users","schema":"auth","record":null,"old_record":{"id":"{{{UserId}}}"}}""");

        Assert.Equal(new AuthEvent(AuthEventType.Delete, Guid.Parse(UserId)), result.Event);
    }

    [Theory]
    [InlineData("""{"metadata":{"name":"after-user-created"},"user":{"id":"ID"}}""", AuthEventType.AfterUserCreated)]
    [InlineData("""{"metadata":{"name":"before-user-created"},"user":{"id":"ID"}}""", AuthEventType.BeforeUserCreated)]
    [InlineData("""{"metadata":{"name":"After-User-Created"},"user":{"id":"ID"}}""", AuthEventType.Hook)]
    [InlineData("""{"metadata":{"name":7},"user":{"id":"ID"}}""", AuthEventType.Hook)]
    [InlineData("""{"metadata":"after-user-created","user":{"id":"ID"}}""", AuthEventType.Hook)]
    [InlineData("""{"user":{"id":"ID"}}""", AuthEventType.Hook)]
    public void A_hook_is_a_signup_hook_only_by_the_exact_name_auth_gives_it(string body, AuthEventType expected)
    {
        var result = Parse(body.Replace("ID", UserId, StringComparison.Ordinal));

        Assert.Equal(new AuthEvent(expected, Guid.Parse(UserId)), result.Event);
        Assert.Equal(expected != AuthEventType.Hook, result.Event!.IsSignupHook);
    }

    [Fact]
    public void Reads_an_auth_hook_body_with_api_names()
    {
        var result = Parse($$$"""
            {"metadata":{"uuid":"8b6f0c1e-1111-2222-3333-444455556666","time":"2024-05-01T10:00:00Z","name":"before-user-created","ip_address":"203.0.113.9"},
             "user":{"id":"{{{UserId}}}","aud":"authenticated","role":"","email":"","phone":"15551234567",
                     "app_metadata":{"provider":"phone"},"user_metadata":{"name":"Phil"},"identities":[],
                     "created_at":"2024-05-01T10:00:00Z","updated_at":"2024-05-01T10:00:00Z","is_anonymous":false}}
            """);

        Assert.Equal(new AuthEvent(AuthEventType.BeforeUserCreated, Guid.Parse(UserId)), result.Event);
    }

    [Fact]
    public void Reads_the_users_of_a_bulk_body_once_each()
    {
        var other = Guid.NewGuid();
        var result = Parse($$$"""{"type":"BULK","table":"users","schema":"auth","user_ids":["{{{UserId}}}","{{{other}}}","{{{UserId}}}"]}""");

        Assert.Equal(ParseStatus.Parsed, result.Status);
        Assert.Null(result.Event);
        Assert.Equal([Guid.Parse(UserId), other], result.Bulk!.UserIds);
    }

    [Fact]
    public void A_bulk_body_of_1000_users_is_read_and_one_of_1001_is_refused()
    {
        static string Body(int users) =>
            System.Text.Json.JsonSerializer.Serialize(new { type = "BULK", table = "users", schema = "auth", user_ids = Enumerable.Range(0, users).Select(_ => Guid.NewGuid()) });

        Assert.Equal(1000, Parse(Body(1000)).Bulk!.UserIds.Count);
        var refused = Parse(Body(1001));
        Assert.Equal(ParseStatus.Malformed, refused.Status);
        Assert.Contains("1 to 1000 users", refused.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"type":"INSERT","table":"identities","schema":"auth","record":{"id":"2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a"}}""", "auth.identities")]
    [InlineData("""{"type":"INSERT","table":"users","schema":"public","record":{"id":"2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a"}}""", "public.users")]
    [InlineData("""{"type":"TRUNCATE","table":"users","schema":"auth","record":null,"old_record":null}""", "TRUNCATE")]
    public void Well_formed_events_it_does_not_handle_are_unsupported(string body, string named)
    {
        var result = Parse(body);

        Assert.Equal(ParseStatus.Unsupported, result.Status);
        Assert.Contains(named, result.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"type":"UPDAfuzz-body@example.com","table":"users","schema":"auth","record":{"id":"2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a"}}""", "event type '(not a name)'")]
    [InlineData("""{"type":"INSERT","table":"users ana@example.com","schema":"auth","record":{"id":"2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a"}}""", "events of auth.(not a name)")]
    [InlineData("""{"type":"INSERT","table":"users","schema":"{\"email\":\"ana@example.com\"}","record":{"id":"2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a"}}""", "events of (not a name).users")]
    public void Names_that_are_not_names_are_never_echoed(string body, string problem)
    {
        var result = Parse(body);

        Assert.Equal(ParseStatus.Unsupported, result.Status);
        Assert.Contains(problem, result.Problem, StringComparison.Ordinal);
        Assert.DoesNotContain("example", result.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "not JSON")]
    [InlineData("{", "not JSON")]
    [InlineData("[]", "not a JSON object")]
    [InlineData("""{"hello":"world"}""", "neither")]
    [InlineData("""{"type":1,"table":"users","schema":"auth"}""", "'type' must be a string")]
    [InlineData("""{"type":"INSERT","table":"users","schema":"auth","record":null}""", "'record' must be an object")]
    [InlineData("""{"type":"INSERT","table":"users","schema":"auth","record":{"id":"nope"}}""", "'record.id' must be a UUID")]
    [InlineData("""{"type":"UPDATE","table":"users","schema":"auth","record":{"id":42}}""", "'record.id' must be a UUID")]
    [InlineData("""{"type":"DELETE","table":"users","schema":"auth","record":null,"old_record":null}""", "'old_record' must be an object")]
    [InlineData("""{"type":"DELETE","table":"users","schema":"auth","old_record":{}}""", "'old_record.id' must be a UUID")]
    [InlineData("""{"type":"BULK","table":"users","schema":"auth"}""", "'user_ids' must be an array")]
    [InlineData("""{"type":"BULK","table":"users","schema":"auth","user_ids":"2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a"}""", "'user_ids' must be an array")]
    [InlineData("""{"type":"BULK","table":"users","schema":"auth","user_ids":[]}""", "'user_ids' must name 1 to 1000 users")]
    [InlineData("""{"type":"BULK","table":"users","schema":"auth","user_ids":["2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a",42]}""", "'user_ids' must hold UUIDs")]
    [InlineData("""{"type":"BULK","table":"users","schema":"auth","user_ids":[{"id":"2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a"}]}""", "'user_ids' must hold UUIDs")]
    [InlineData("""{"metadata":{},"user":"someone"}""", "'user' must be an object")]
    [InlineData("""{"metadata":{},"user":{"email":"a@example.com"}}""", "'user.id' must be a UUID")]
    public void Malformed_bodies_are_refused_with_the_reason(string body, string reason)
    {
        var result = Parse(body);

        Assert.Equal(ParseStatus.Malformed, result.Status);
        Assert.Contains(reason, result.Problem, StringComparison.Ordinal);
    }

    private static ParseResult Parse(string body) => AuthEventParser.Parse(Encoding.UTF8.GetBytes(body));
}
