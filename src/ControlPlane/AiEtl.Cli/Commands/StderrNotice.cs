using System.Text;
using Microsoft.Win32.SafeHandles;

namespace AiEtl.Cli.Commands;

/// <summary>
/// Writes a line to stderr without going through <see cref="Console"/>. On Unix every write to a console stream
/// (stdout and stderr alike) takes one lock, so a single write blocked on a full stdout pipe — a console sink whose
/// reader stopped reading — blocks every <c>Console.Error</c> write as well. The stop and abort messages must get
/// out anyway, and the code that prints them (a signal handler, the hard deadline) must never block on them.
/// </summary>
internal static class StderrNotice
{
    private static readonly Lock Gate = new();
    private static FileStream? s_stderr;

    /// <summary>Writes the line on a background thread; waits at most <paramref name="wait"/>. True when written.</summary>
    public static bool Write(string line, TimeSpan wait)
    {
        var bytes = Encoding.UTF8.GetBytes(line + Environment.NewLine);
        var writer = new Thread(() =>
        {
            try
            {
                lock (Gate)
                {
                    s_stderr ??= new FileStream(new SafeFileHandle(2, ownsHandle: false), FileAccess.Write, bufferSize: 0);
                    s_stderr.Write(bytes);
                }
            }
            catch (IOException)
            {
                // stderr closed: nothing to tell anyone
            }
        })
        { IsBackground = true, Name = "aietl stderr notice" };
        writer.Start();
        return writer.Join(wait);
    }
}
