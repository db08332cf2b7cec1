namespace ProfileSync.Events;

public enum AuthEventType
{
    /// <summary>Database Webhook INSERT on auth.users.</summary>
    Insert,

    /// <summary>Database Webhook UPDATE on auth.users.</summary>
    Update,

    /// <summary>Database Webhook DELETE on auth.users.</summary>
    Delete,

    /// <summary>A body in the shape of a Supabase Auth Hook carrying a user, of no name this app knows.</summary>
    Hook,

    /// <summary>
    /// Supabase Auth's After User Created HTTP hook (<c>metadata.name</c> <c>after-user-created</c>): the user is
    /// committed, and any answer Auth does not accept fails the end user's signup.
    /// </summary>
    AfterUserCreated,

    /// <summary>
    /// Supabase Auth's Before User Created HTTP hook: the user is not written yet, and an answer Auth does not
    /// accept refuses the signup.
    /// </summary>
    BeforeUserCreated,

    /// <summary>Several users one transaction changed together (the signed wiring's <c>BULK</c> body).</summary>
    Bulk,
}

/// <summary>
/// One auth event: a notification that this user changed. Only what identifies it is read from the body; the
/// profile is converged from auth.users itself, so the body's field values never decide what is written.
/// </summary>
public sealed record AuthEvent(AuthEventType Type, Guid UserId)
{
    /// <summary>Delivered by Supabase Auth's hook client, which fails the signup on any answer but 204 or 200/202 JSON.</summary>
    public bool IsSignupHook => Type is AuthEventType.AfterUserCreated or AuthEventType.BeforeUserCreated;
}

/// <summary>
/// Users one transaction changed together (a bulk statement on auth.users), as the signed wiring posts them: up to
/// <see cref="AuthEventParser.MaxBulkUsers"/> distinct ids. Like <see cref="AuthEvent"/>, a notification only.
/// </summary>
public sealed record BulkAuthEvent(IReadOnlyList<Guid> UserIds);

/// <summary>What converging a bulk event's users did, by outcome (absent: neither a user nor a profile).</summary>
public sealed record BulkOutcome(int Users, int Created, int Updated, int Unchanged, int Deleted, int Absent, int Failed);
