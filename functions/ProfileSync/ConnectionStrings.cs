using System.Globalization;
using Npgsql;

namespace ProfileSync;

/// <summary>
/// Connection settings as users have them: an Npgsql connection string (<c>Host=…;Username=…</c>) or the URI that
/// Supabase's dashboard hands out (<c>postgresql://user:password@host:port/db?sslmode=require</c>).
/// </summary>
public static class ConnectionStrings
{
    // libpq's URI parameters, as Npgsql names them.
    private static readonly Dictionary<string, string> LibpqKeywords = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sslmode"] = "SSL Mode",
        ["sslrootcert"] = "Root Certificate",
        ["sslcert"] = "SSL Certificate",
        ["sslkey"] = "SSL Key",
        ["sslpassword"] = "SSL Password",
        ["connect_timeout"] = "Timeout",
        ["application_name"] = "Application Name",
        ["target_session_attrs"] = "Target Session Attributes",
        ["options"] = "Options",
        ["keepalives_idle"] = "Tcp Keepalive Time",
    };

    /// <summary>True when <paramref name="value"/> is a <c>postgres://</c> or <c>postgresql://</c> URI.</summary>
    public static bool IsUri(string value) =>
        value.TrimStart().StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
        || value.TrimStart().StartsWith("postgres://", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// What is wrong with <paramref name="value"/> as a connection setting, said after the setting's name
    /// ("is not set: …", "has no Host."); null when it can be used. Never the value: it may hold a password.
    /// </summary>
    public static string? Problem(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return "is not set: give a connection string (Host=…;Database=…;Username=…;Password=…) or a postgresql:// URI.";
        }

        try
        {
            return string.IsNullOrWhiteSpace(new NpgsqlConnectionStringBuilder(ToNpgsql(value)).Host) ? "has no Host." : null;
        }
        catch (ArgumentException e)
        {
            // The message names the bad keyword, never the value.
            return $"is not a valid connection string or postgresql:// URI: {e.Message}";
        }
    }

    /// <summary>
    /// Npgsql's form of <paramref name="value"/>: a URI converted, anything else as it is.
    /// Throws <see cref="ArgumentException"/> naming what is wrong, never the password.
    /// </summary>
    public static string ToNpgsql(string value)
    {
        if (!IsUri(value))
        {
            return value;
        }

        var rest = value.Trim();
        rest = rest[(rest.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var query = "";
        if (rest.IndexOf('?', StringComparison.Ordinal) is var q and >= 0)
        {
            (rest, query) = (rest[..q], rest[(q + 1)..]);
        }

        var database = "";
        if (rest.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0)
        {
            (rest, database) = (rest[..slash], Unescape(rest[(slash + 1)..]));
        }

        var builder = new NpgsqlConnectionStringBuilder();
        // The user part ends at the last '@': a password may hold an unescaped one.
        if (rest.LastIndexOf('@') is var at and >= 0)
        {
            var userInfo = rest[..at];
            rest = rest[(at + 1)..];
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Unescape(colon >= 0 ? userInfo[..colon] : userInfo);
            if (colon >= 0)
            {
                builder.Password = Unescape(userInfo[(colon + 1)..]);
            }
        }

        if (string.IsNullOrWhiteSpace(rest))
        {
            throw new ArgumentException("the URI names no host (postgresql://user:password@host:port/database)");
        }

        SetHosts(builder, rest);
        builder.Database = database.Length > 0 ? database : "postgres";
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Unescape(equals >= 0 ? pair[..equals] : pair);
            var setting = Unescape(equals >= 0 ? pair[(equals + 1)..] : "");
            if (key.Equals("sslmode", StringComparison.OrdinalIgnoreCase))
            {
                setting = setting.Replace("-", "", StringComparison.Ordinal); // verify-full → VerifyFull
            }

            try
            {
                builder[LibpqKeywords.GetValueOrDefault(key, key)] = setting;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
            {
                throw new ArgumentException($"the URI parameter '{key}' is not one Npgsql knows or has a bad value", e);
            }
        }

        return builder.ConnectionString;
    }

    // host, host:port or [v6]:port; libpq's comma-separated list of them goes to Npgsql's Host as it is (Npgsql reads
    // host:port entries there too).
    private static void SetHosts(NpgsqlConnectionStringBuilder builder, string hosts)
    {
        if (hosts.Contains(',', StringComparison.Ordinal))
        {
            builder.Host = Unescape(hosts);
            return;
        }

        var portColon = hosts.StartsWith('[') ? hosts.IndexOf("]:", StringComparison.Ordinal) + 1 : hosts.IndexOf(':', StringComparison.Ordinal);
        builder.Host = Unescape(portColon > 0 ? hosts[..portColon] : hosts).Trim('[', ']');
        if (portColon > 0)
        {
            var port = hosts[(portColon + 1)..];
            builder.Port = int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number is > 0 and < 65536
                ? number
                : throw new ArgumentException($"the URI's port '{port}' is not a port number");
        }
    }

    private static string Unescape(string value) => Uri.UnescapeDataString(value);
}
