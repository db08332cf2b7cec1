namespace ProfileSync;

/// <summary>
/// The one rule for a user id from outside (an event body, a replay request, a command line): a UUID as PostgreSQL and
/// Supabase write it, 8-4-4-4-12 hexadecimal digits with hyphens (either case). Braces, missing hyphens, white space
/// and the other forms <see cref="Guid.Parse(string)"/> takes are refused.
/// </summary>
public static class UserId
{
    public static bool TryParse(string? text, out Guid id)
    {
        id = Guid.Empty;
        // TryParseExact trims white space: the length keeps it out.
        return text is { Length: 36 } && Guid.TryParseExact(text, "D", out id);
    }
}
