using AiEtl.Engine.Expressions;
using AiEtl.Engine.Operators;
using AiEtl.Engine.Tests.Runtime;
using static AiEtl.Engine.Tests.Expressions.ExprHarness;

namespace AiEtl.Engine.Tests.Expressions;

public sealed class ExpressionDeadLetterTests
{
    [Fact]
    public async Task Rows_failing_in_new_functions_go_to_the_dead_letter_output_with_a_class()
    {
        var dl = new ListDeadLetters();
        var binder = new Binder(Schema);
        var op = new FilterProjectOperator(Schema,
            binder.Bind(ExprParser.Parse("s IS NOT NULL AND CASE WHEN i = 0 THEN TRUE ELSE 10 / i > 0 END")),
            [
                ("part", binder.Bind(ExprParser.Parse("split_part(s, ',', i)"))),
                ("at", binder.Bind(ExprParser.Parse("to_timestamp(t, 'YYYY-MM-DD')"))),
            ]);
        await op.OpenAsync(new AiEtl.Engine.Runtime.OperatorContext
        {
            Task = new AiEtl.Engine.Runtime.TaskInfo { Pipeline = "p", Vertex = "v", Index = 0, Parallelism = 1 },
            Metrics = new AiEtl.Engine.Runtime.EngineMetrics("p"),
            DeadLetters = dl,
        }, null, TestContext.Current.CancellationToken);
        using var input = Build(
        [
            new(S: "a,b", T: "2024-01-31", I: 2),
            new(S: "a,b", T: "2024-01-31", I: 0),   // split_part field 0: invalid_argument
            new(S: null, T: "2024-01-31", I: 1),    // filtered out
            new(S: "a,b", T: "2024-02-30", I: 1),   // impossible date: cast
            new(S: "x", T: "2024-03-01", I: -1),    // filtered out (10 / -1 < 0)
        ]);
        using var output = op.Apply(input)!;
        Assert.Equal(1, output.Length);
        Assert.Equal("b", Values.Get(output.Column(0), 0));
        var letters = dl.Letters.ToList();
        Assert.Equal(2, letters.Count);
        Assert.Equal(["invalid_argument", "cast"], letters.Select(l => l.ErrorClass));
        Assert.Contains("field position must not be zero", letters[0].Error);
        Assert.Contains("date/time field value out of range", letters[1].Error);
    }

    [Theory]
    [InlineData("bigint out of range in (l * 2)", "overflow")]
    [InlineData("timestamp out of range (0001-01-01 to 9999-12-31)", "overflow")]
    [InlineData("cannot cast 'x' to int32: invalid integer", "cast")]
    [InlineData("division by zero", "division_by_zero")]
    [InlineData("regular expression timed out after 500 ms", "invalid_argument")]
    public void Error_classes_follow_the_message(string message, string expected) =>
        Assert.Equal(expected, FilterProjectOperator.ErrorClassOf(message));
}
