namespace ProfileSync.Tests.Support;

/// <summary>
/// Lines a run prints whatever its outcome (a fuzzer's seed, a fault run's counts): into the test's output, and into
/// the file <c>PROFILESYNC_TEST_REPORT</c> names, which <c>./dev.sh test</c> shows after the tests.
/// </summary>
public static class RunReport
{
    private static readonly Lock Gate = new();

    public static void Write(string line)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        if (Environment.GetEnvironmentVariable("PROFILESYNC_TEST_REPORT") is { Length: > 0 } path)
        {
            lock (Gate)
            {
                File.AppendAllText(path, line + Environment.NewLine);
            }
        }
    }
}
