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

/// <summary>
/// One auth event: a notification that this user changed. Only what identifies it is read from the body; the
/// profile is converged from auth.users itself, so the body's field values never decide what is written.
/// </summary>
public sealed record AuthEvent(AuthEventType Type, Guid UserId);

public enum ProfileOutcome
{
    Created,
    Updated,
    Unchanged,
    Deleted,
    Ignored,

    /// <summary>The user's profile cannot be written (a constraint refuses it): set aside, <c>profilesync explain</c> says why.</summary>
    Failed,
}
