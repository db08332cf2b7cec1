using Microsoft.Extensions.Logging;

namespace ProfileSync.Resilience;

/// <summary>
/// Hands a library loggers that write at Debug what it would write at <paramref name="upTo"/> or below, so its
/// routine chatter (Npgsql's SQL text, Polly's attempts) stays out of the one line per event at Information and is
/// there when Debug is switched on for its category. Exceptions are not passed on: a PostgreSQL exception carries
/// the statement's context ("Where: …") in its data, which can hold row values; the message names the failure.
/// </summary>
public sealed class QuietLoggerFactory(ILoggerFactory inner, LogLevel upTo) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new QuietLogger(inner.CreateLogger(categoryName), upTo);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    // The inner factory belongs to the host.
    public void Dispose()
    {
    }

    private sealed class QuietLogger(ILogger inner, LogLevel upTo) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(Quieted(logLevel));

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var level = Quieted(logLevel);
            inner.Log(level, eventId, state, null, formatter);
        }

        private LogLevel Quieted(LogLevel logLevel) => logLevel is > LogLevel.Debug && logLevel <= upTo ? LogLevel.Debug : logLevel;
    }
}
