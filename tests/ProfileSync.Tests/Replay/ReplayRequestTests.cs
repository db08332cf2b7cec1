using ProfileSync.Replay;

namespace ProfileSync.Tests.Replay;

/// <summary>The one set of rules every replay entry point (CLI, HTTP, timer) reads requests by.</summary>
public sealed class ReplayRequestTests
{
    [Theory]
    [InlineData("2026-11-01", "2026-11-01T00:00:00+00:00")]
    [InlineData("2026-11-01T12:30", "2026-11-01T12:30:00+00:00")]
    [InlineData("2026-11-01T12:30:15Z", "2026-11-01T12:30:15+00:00")]
    [InlineData("2026-11-01T12:30:15.25+02:00", "2026-11-01T10:30:15.25+00:00")]
    [InlineData("2026-11-01 12:30:15", "2026-11-01T12:30:15+00:00")]
    public void Times_are_iso_8601_and_utc_unless_they_say_otherwise(string text, string expected)
    {
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), ReplayRequest.ParseTime(text, "--created-after"));
    }

    [Theory]
    [InlineData("yesterday")]
    [InlineData("11/01/2026")]
    [InlineData("2026-11-01T25:00")]
    [InlineData(" 2026-11-01")]
    [InlineData("2026-11-01T12:30:15 Z")]
    public void Anything_else_is_not_a_time(string text)
    {
        var error = Assert.Throws<FormatException>(() => ReplayRequest.ParseTime(text, "'createdAfter'"));
        Assert.StartsWith("'createdAfter' '", error.Message, StringComparison.Ordinal);
        Assert.Contains("is not a time: use ISO 8601", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f", true)]
    [InlineData("6F1C2B7E-3D4A-4C5B-9E8F-0A1B2C3D4E5F", true)]
    [InlineData("6f1c2b7e3d4a4c5b9e8f0a1b2c3d4e5f", false)]
    [InlineData("{6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f}", false)]
    [InlineData("(6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f)", false)]
    [InlineData(" 6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f", false)]
    [InlineData("6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f\n", false)]
    [InlineData("{0x6f1c2b7e,0x3d4a,0x4c5b,{0x9e,0x8f,0x0a,0x1b,0x2c,0x3d,0x4e,0x5f}}", false)]
    public void User_ids_are_canonical_uuids_as_the_event_parser_reads_them(string text, bool accepted)
    {
        Assert.Equal(accepted, UserId.TryParse(text, out _));
        if (accepted)
        {
            Assert.Equal(Guid.Parse(text), ReplayRequest.ParseUserId(text, "--user-id"));
        }
        else
        {
            Assert.Contains("is not a user id", Assert.Throws<FormatException>(() => ReplayRequest.ParseUserId(text, "--user-id")).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_whole_request_is_checked_in_the_callers_words()
    {
        var cli = new ReplayFieldNames("--user-id", "--created-after", "--created-before", "--batch-size");
        var day = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

        Assert.Equal("--created-after must be earlier than --created-before", Assert.Throws<FormatException>(
            () => new ReplayRequest(new ReplayScope(CreatedAfter: day, CreatedBefore: day)).Validated(cli)).Message);
        Assert.Equal("--batch-size 99 is out of range: it must be from 100 to 100000", Assert.Throws<FormatException>(
            () => new ReplayRequest(new ReplayScope(), BatchSize: 99).Validated(cli)).Message);
        Assert.Equal("--user-id must name at least one user", Assert.Throws<FormatException>(
            () => new ReplayRequest(new ReplayScope(UserIds: [])).Validated(cli)).Message);
        var timer = new ReplayRequest(new ReplayScope(), Trigger: "timer");
        Assert.Same(timer, timer.Validated(cli));
        Assert.True(timer.CoversEveryone);
    }
}
