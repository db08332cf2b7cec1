using System.Text;
using Microsoft.Extensions.Options;
using Moq;
using ProfileSync.Events;

namespace ProfileSync.Tests.Events;

/// <summary>
/// Vectors computed outside this code base, with:
/// printf '%s' "$id.$timestamp.$body" | openssl dgst -sha256 -mac HMAC -macopt "key:$key" -binary | base64
/// </summary>
public sealed class WebhookAuthenticatorTests
{
    private const string Secret = "v1,whsec_TWZLUTlyOEdLWXFyVHdqVVBEOElMUFpJbzJMYUxhU3c="; // key MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    private const string RotatedSecret = "v1,whsec_cm90YXRlZC1zZWNyZXQtMDEyMzQ1Njc4OUFCQ0RFRkc="; // key rotated-secret-0123456789ABCDEFG
    private const string Id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
    private const string Timestamp = "1732400000";
    private const string Body = """{"type":"INSERT","table":"users","schema":"auth","record":{"id":"2f7c1a4e-0d5b-4c8e-9a31-6b2f1e3d4c5a","email":"vector@example.com"},"old_record":null}""";
    private const string SignedWithSecret = "v1,A27BnEfuhl289cifKJKVIgx8efW2hOWITXk0TQTMfF8=";
    private const string SignedWithRotated = "v1,cUMyRNoEGrZE3XBdoyrzdjv/LIu4NUzRf2Hz2sW5Jlk=";
    private const string Token = "a-long-random-bearer-token-0123456789";

    private static readonly DateTimeOffset SentAt = DateTimeOffset.FromUnixTimeSeconds(1732400000);

    [Theory]
    [InlineData(SignedWithSecret)]
    [InlineData("v1,Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE= " + SignedWithSecret)]
    [InlineData("v1,Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=, " + SignedWithSecret)]
    [InlineData(SignedWithSecret + ", v1,Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=")]
    [InlineData("v2,garbage " + SignedWithSecret)]
    public void Accepts_a_valid_signature_alone_or_in_a_list(string header) =>
        Assert.True(Authenticator(Secret).IsAuthentic(Id, Timestamp, header, null, Bytes(Body)));

    [Theory]
    [InlineData(SignedWithSecret)]
    [InlineData(SignedWithRotated)]
    public void Accepts_either_secret_while_rotating(string header) =>
        Assert.True(Authenticator(Secret + "|" + RotatedSecret).IsAuthentic(Id, Timestamp, header, null, Bytes(Body)));

    // The signer the tests and the benchmark send with (the kit's) makes the outside vectors too, so a request they
    // sign is one Supabase could have sent, not one the product's verifier happens to agree with.
    [Theory]
    [InlineData(Secret, SignedWithSecret)]
    [InlineData(RotatedSecret, SignedWithRotated)]
    public void The_kits_signer_makes_the_reference_signatures(string secret, string expected) =>
        Assert.Equal(expected, StandardWebhooks.Sign(secret, Id, Timestamp, Body));

    [Fact]
    public void A_request_the_kit_signs_now_is_accepted()
    {
        using var request = StandardWebhooks.SignedRequest(new Uri("/api/auth-events", UriKind.Relative), Body, Secret);
        string Header(string name) => request.Headers.GetValues(name).Single();
        var sentAt = DateTimeOffset.FromUnixTimeSeconds(long.Parse(Header("webhook-timestamp"), System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(Authenticator(Secret, sentAt).IsAuthentic(Header("webhook-id"), Header("webhook-timestamp"), Header("webhook-signature"), null, Bytes(Body)));
    }

    [Fact]
    public void Refuses_a_signature_made_with_another_key() =>
        Assert.False(Authenticator(Secret).IsAuthentic(Id, Timestamp, SignedWithRotated, null, Bytes(Body)));

    [Fact]
    public void Refuses_a_signature_over_another_body() =>
        Assert.False(Authenticator(Secret).IsAuthentic(Id, Timestamp, SignedWithSecret, null, Bytes(Body.Replace("vector", "attacker", StringComparison.Ordinal))));

    [Fact]
    public void Refuses_a_signature_for_another_id() =>
        Assert.False(Authenticator(Secret).IsAuthentic("msg_other", Timestamp, SignedWithSecret, null, Bytes(Body)));

    [Theory]
    [InlineData(-301)]
    [InlineData(301)]
    public void Refuses_a_timestamp_more_than_five_minutes_away(int skewSeconds) =>
        Assert.False(Authenticator(Secret, SentAt.AddSeconds(skewSeconds)).IsAuthentic(Id, Timestamp, SignedWithSecret, null, Bytes(Body)));

    [Theory]
    [InlineData(-299)]
    [InlineData(299)]
    public void Accepts_a_timestamp_within_five_minutes(int skewSeconds) =>
        Assert.True(Authenticator(Secret, SentAt.AddSeconds(skewSeconds)).IsAuthentic(Id, Timestamp, SignedWithSecret, null, Bytes(Body)));

    // Whole-second timestamps against a clock that has fractions: exactly five minutes away is in, on either side,
    // wherever in its second the clock is.
    [Theory]
    [InlineData(-300, 0)]
    [InlineData(300, 0)]
    [InlineData(-300, 999)]
    [InlineData(300, 999)]
    [InlineData(-300, 1)]
    [InlineData(300, 1)]
    public void The_window_is_as_wide_behind_the_clock_as_ahead_of_it(int skewSeconds, int clockMilliseconds) =>
        Assert.True(Authenticator(Secret, SentAt.AddSeconds(skewSeconds).AddMilliseconds(clockMilliseconds)).IsAuthentic(Id, Timestamp, SignedWithSecret, null, Bytes(Body)));

    [Theory]
    [InlineData(-301, 999)]
    [InlineData(301, 0)]
    public void A_second_beyond_the_window_is_out_on_either_side(int skewSeconds, int clockMilliseconds) =>
        Assert.False(Authenticator(Secret, SentAt.AddSeconds(skewSeconds).AddMilliseconds(clockMilliseconds)).IsAuthentic(Id, Timestamp, SignedWithSecret, null, Bytes(Body)));

    [Theory]
    [InlineData(null, Timestamp, SignedWithSecret)]
    [InlineData(Id, null, SignedWithSecret)]
    [InlineData(Id, "17324OOOOO", SignedWithSecret)]
    [InlineData(Id, "-1732400000", SignedWithSecret)]
    [InlineData(Id, "99999999999999999999", SignedWithSecret)]
    [InlineData(Id, Timestamp, "A27BnEfuhl289cifKJKVIgx8efW2hOWITXk0TQTMfF8=")]
    [InlineData(Id, Timestamp, "v1,not base64!")]
    [InlineData(Id, Timestamp, "v1,")]
    [InlineData(Id, Timestamp, "v1,A27BnEfuhl289cifKJKVIgx8efW2hOWITXk0TQ==")]
    [InlineData(Id, Timestamp, ",,, ")]
    public void Refuses_malformed_headers(string? id, string? timestamp, string? signature) =>
        Assert.False(Authenticator(Secret).IsAuthentic(id, timestamp, signature, null, Bytes(Body)));

    [Fact]
    public void Refuses_a_request_with_neither_signature_nor_token() =>
        Assert.False(Authenticator(Secret, token: Token).IsAuthentic(null, null, null, null, Bytes(Body)));

    [Fact]
    public void Refuses_a_signature_when_only_a_token_is_configured() =>
        Assert.False(Authenticator(null, token: Token).IsAuthentic(Id, Timestamp, SignedWithSecret, null, Bytes(Body)));

    [Theory]
    [InlineData("Bearer " + Token, true)]
    [InlineData("bearer " + Token, true)]
    [InlineData("Bearer " + Token + "x", false)]
    [InlineData("Bearer " + "a-long-random-bearer-token-012345678", false)]
    [InlineData("Basic " + Token, false)]
    [InlineData("Bearer ", false)]
    [InlineData(Token, false)]
    public void Checks_the_bearer_token(string authorization, bool expected) =>
        Assert.Equal(expected, Authenticator(null, token: Token).IsAuthentic(null, null, null, authorization, Bytes(Body)));

    [Fact]
    public void A_wrong_signature_is_not_rescued_by_a_right_token() =>
        Assert.False(Authenticator(Secret, token: Token).IsAuthentic(Id, Timestamp, SignedWithRotated, "Bearer " + Token, Bytes(Body)));

    [Theory]
    [InlineData("whsec_TWZLUTlyOEdLWXFyVHdqVVBEOElMUFpJbzJMYUxhU3c=", null)]
    [InlineData("v1,whsec_TWZLUTlyOEdLWXFyVHdqVVBEOElMUFpJbzJMYUxhU3c= | v1,whsec_cm90YXRlZC1zZWNyZXQtMDEyMzQ1Njc4OUFCQ0RFRkc=", null)]
    [InlineData("TWZLUTlyOEdLWXFyVHdqVVBEOElMUFpJbzJMYUxhU3c=", "each secret must look like v1,whsec_<base64>")]
    [InlineData("v1,whsec_not*base64", "a secret's part after whsec_ is not base64")]
    [InlineData("v1,whsec_c2hvcnQ=", "each secret must decode to at least 16 bytes")]
    public void Secret_setting_problems_are_named(string setting, string? problem) =>
        Assert.Equal(problem, WebhookSecrets.Problem(setting));

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static WebhookAuthenticator Authenticator(string? secret, DateTimeOffset? now = null, string? token = null)
    {
        var clock = new Mock<TimeProvider>();
        clock.Setup(c => c.GetUtcNow()).Returns(now ?? SentAt);
        var options = Options.Create(new ProfileSyncOptions { WebhookSecret = secret, WebhookBearerToken = token });
        return new WebhookAuthenticator(options, clock.Object);
    }
}
