namespace ProfileSync.Events;

public enum AuthEventType
{
    /// <summary>Database Webhook INSERT on auth.users.</summary>
    Insert,

    /// <summary>Database Webhook UPDATE on auth.users.</summary>
    Update,

    /// <summary>Database Webhook DELETE on auth.users.</summary>
    Delete,

    /// <summary>Supabase Auth Hook carrying a user.</summary>
    Hook,
}

/// <summary>What a profile needs from an auth user; everything else in the event (password hash, tokens) is never read.</summary>
public sealed record AuthUser(
    Guid Id,
    string? Email,
    string? Phone,
    string? UserMetadataJson,
    DateTimeOffset? BannedUntil,
    DateTimeOffset? DeletedAt,
    DateTimeOffset? UpdatedAt);

/// <summary>One auth event, from either kind of body. <see cref="User"/> is null for deletes.</summary>
public sealed record AuthEvent(AuthEventType Type, Guid UserId, AuthUser? User, string? HookName = null);

public enum ProfileOutcome
{
    Created,
    Updated,
    Unchanged,
    Deleted,
    Ignored,
}
