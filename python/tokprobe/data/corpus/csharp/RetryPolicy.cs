using System;
using System.Threading;
using System.Threading.Tasks;

namespace Example.Resilience;

/// <summary>Retries an async operation with exponential backoff and jitter.</summary>
public sealed class RetryPolicy
{
    private static readonly ThreadLocal<Random> Rng = new(() => new Random());

    public int MaxAttempts { get; init; } = 3;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(5);
    public Func<Exception, bool> ShouldRetry { get; init; } = static ex => ex is TimeoutException or System.Net.Http.HttpRequestException;

    public event EventHandler<RetryEventArgs>? Retrying;

    public async Task<T> ExecuteAsync<T>(Func<CancellationToken, Task<T>> operation, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        for (var attempt = 1; ; attempt++)
        {
            token.ThrowIfCancellationRequested();
            try
            {
                return await operation(token).ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt < MaxAttempts && ShouldRetry(ex))
            {
                var delay = DelayFor(attempt);
                Retrying?.Invoke(this, new RetryEventArgs(attempt, delay, ex));
                await Task.Delay(delay, token).ConfigureAwait(false);
            }
        }
    }

    public Task ExecuteAsync(Func<CancellationToken, Task> operation, CancellationToken token = default) =>
        ExecuteAsync<object?>(async ct =>
        {
            await operation(ct).ConfigureAwait(false);
            return null;
        }, token);

    internal TimeSpan DelayFor(int attempt)
    {
        var exp = BaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1);
        var jitter = Rng.Value!.NextDouble() * BaseDelay.TotalMilliseconds;
        return TimeSpan.FromMilliseconds(Math.Min(exp + jitter, MaxDelay.TotalMilliseconds));
    }
}

public sealed class RetryEventArgs : EventArgs
{
    public RetryEventArgs(int attempt, TimeSpan delay, Exception error)
    {
        Attempt = attempt;
        Delay = delay;
        Error = error;
    }

    public int Attempt { get; }
    public TimeSpan Delay { get; }
    public Exception Error { get; }
}

internal static class Demo
{
    private static int _calls;

    private static async Task<string> Flaky(CancellationToken ct)
    {
        await Task.Yield();
        if (Interlocked.Increment(ref _calls) < 3)
        {
            throw new TimeoutException($"call {_calls} timed out");
        }
        return "finally worked";
    }

    public static async Task Run()
    {
        var policy = new RetryPolicy { MaxAttempts = 5, BaseDelay = TimeSpan.FromMilliseconds(10) };
        policy.Retrying += (_, e) => Console.WriteLine($"retry #{e.Attempt} after {e.Delay.TotalMilliseconds:F0} ms: {e.Error.Message}");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var result = await policy.ExecuteAsync(Flaky, cts.Token);
        Console.WriteLine(result);
    }
}
