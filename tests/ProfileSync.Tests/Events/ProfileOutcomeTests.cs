using System.Text.Json;
using ProfileSync.Events;
using ProfileSync.Http;

namespace ProfileSync.Tests.Events;

/// <summary>An outcome has one text form: what converge answers, what the JSON answer and the telemetry say.</summary>
public sealed class ProfileOutcomeTests
{
    public static TheoryData<ProfileOutcome> Outcomes => [.. Enum.GetValues<ProfileOutcome>()];

    [Theory]
    [MemberData(nameof(Outcomes))]
    public void The_json_answer_names_an_outcome_as_converge_and_telemetry_do(ProfileOutcome outcome)
    {
        Assert.Equal($"\"{outcome.Name()}\"", JsonSerializer.Serialize(outcome, JsonResponses.Options));
        Assert.Equal($"\"{outcome.Name()}\"", JsonSerializer.Serialize(outcome));
        Assert.Equal(outcome, ProfileOutcomes.Parse(outcome.Name()));
    }

    [Fact]
    public void The_names_are_the_contracts()
    {
        Assert.Equal(["created", "updated", "unchanged", "deleted", "failed", "absent", "ignored", "deferred"], Enum.GetValues<ProfileOutcome>().Select(o => o.Name()));
    }

    [Fact]
    public void An_outcome_converge_never_answers_is_an_error_naming_it()
    {
        var error = Assert.Throws<InvalidOperationException>(() => ProfileOutcomes.Parse("frobnicated"));

        Assert.Contains("'frobnicated'", error.Message, StringComparison.Ordinal);
    }
}
