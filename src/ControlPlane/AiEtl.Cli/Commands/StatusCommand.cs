using System.CommandLine;
using System.Net.Http;
using System.Text.Json;

namespace AiEtl.Cli.Commands;

/// <summary>
/// <c>aietl status [--port N] [--host H]</c>: reads <c>/status</c> of a running <c>aietl run --metrics-port N</c> and
/// prints it. Exit 0 when the pipeline is ready, 1 when it is alive but not ready (or failed, or unreachable).
/// </summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "The --metrics-port of the run (default 9464)", DefaultValueFactory = _ => 9464 };
        var host = new Option<string>("--host") { Description = "Host of the run (default 127.0.0.1)", DefaultValueFactory = _ => "127.0.0.1" };
        var json = new Option<bool>("--json") { Description = "Print the status document as JSON" };
        var command = new Command("status", "Show liveness, readiness and progress of a running pipeline (aietl run --metrics-port)")
        {
            port, host, json,
        };
        command.SetAction(parse => Execute(parse.GetValue(host) ?? "127.0.0.1", parse.GetValue(port), parse.GetValue(json)));
        return command;
    }

    internal static int Execute(string host, int port, bool json)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        string body;
        try
        {
            body = http.GetStringAsync(new Uri($"http://{host}:{port}/status")).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Console.Error.WriteLine($"aietl: no pipeline answers on {host}:{port}: {e.Message}");
            return ExitCodes.PipelineFailed;
        }
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        var ready = root.GetProperty("ready").GetBoolean();
        if (json)
        {
            Console.Out.WriteLine(body);
        }
        else
        {
            Console.Out.WriteLine($"pipeline      {root.GetProperty("pipeline").GetString()}");
            Console.Out.WriteLine($"state         {root.GetProperty("state").GetString()}");
            Console.Out.WriteLine($"live          {(root.GetProperty("live").GetBoolean() ? "yes" : "no")}");
            Console.Out.WriteLine($"ready         {(ready ? "yes" : "no")} ({root.GetProperty("sources_assigned").GetInt32()}/{root.GetProperty("source_tasks").GetInt32()} sources assigned, last checkpoint {root.GetProperty("last_checkpoint").GetInt64()})");
            Console.Out.WriteLine($"rows          {root.GetProperty("rows_in").GetInt64():N0} in, {root.GetProperty("rows_out").GetInt64():N0} out, {root.GetProperty("dead_letters").GetInt64():N0} dead letters");
            Console.Out.WriteLine($"checkpoints   {root.GetProperty("checkpoints").GetInt64()}");
            Console.Out.WriteLine($"uptime        {root.GetProperty("uptime_s").GetDouble():0.0}s");
        }
        return ready ? ExitCodes.Ok : ExitCodes.PipelineFailed;
    }
}
