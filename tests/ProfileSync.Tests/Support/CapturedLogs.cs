using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ProfileSync.Tests.Support;

/// <summary>One log line as a sink would write it: the formatted message, then the exception (if any) as text.</summary>
public sealed record LogLine(LogLevel Level, string Category, string Message)
{
    public override string ToString() => $"{Level} {Category}: {Message}";
}

/// <summary>An <see cref="ILoggerProvider"/> that keeps every line at every level, to check what reaches the logs.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    public ConcurrentQueue<LogLine> Lines { get; } = new();

    public IEnumerable<string> Messages => Lines.Select(line => line.Message);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<LogLine> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue(new LogLine(logLevel, category, exception is null ? formatter(state, exception) : $"{formatter(state, exception)}\n{exception}"));
    }
}
