using AiEtl.Engine.DeadLetters;
using AiEtl.Engine.Runtime;
using AiEtl.Engine.Spec;
using static AiEtl.Engine.Tests.Spec.SpecTestSupport;

namespace AiEtl.Engine.Tests.Spec;

/// <summary><c>${ENV}</c> / <c>${file:…}</c> interpolation, secret fields, and the redaction the spec carries.</summary>
public sealed class SecretsSpecTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aietl-secrets-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static PipelineSpecResult LoadWith(string yaml, params (string Name, string Value)[] env)
    {
        var vars = env.ToDictionary(e => e.Name, e => e.Value);
        return PipelineSpecLoader.LoadFromString(yaml, FileName, n => vars.GetValueOrDefault(n));
    }

    [Fact]
    public void Env_and_file_references_are_substituted_and_become_secrets()
    {
        var pwFile = Path.Combine(_dir, "ch-password");
        File.WriteAllText(pwFile, "file-Secret-4411\n");
        var loaded = LoadWith($$"""
            name: s
            source: { generator: { kind: orders, rows: "${ROWS}" } }
            sink:
              clickhouse:
                url: "https://${CH_HOST}:8443"
                table: t
                user: "${CH_USER}"
                password: "${file:{{pwFile}}}"
            """, ("ROWS", "100"), ("CH_HOST", "ch.internal"), ("CH_USER", "env-User-9920"));
        Assert.True(loaded.IsValid, string.Join("\n", loaded.FormatErrors()));
        var spec = loaded.Spec!;
        // ${ROWS} takes the type its value has (an integer here), also when quoted.
        Assert.Equal(100, ((GeneratorSourceSpec)spec.Sources[0].Connector).Rows);
        var ch = (ClickHouseSinkSpec)spec.Sinks[0].Connector;
        Assert.Equal("https://ch.internal:8443", ch.Url);
        Assert.Equal("env-User-9920", ch.User);
        Assert.Equal("file-Secret-4411", ch.Password); // the file's final line break is not part of the value
        foreach (var s in new[] { "100", "ch.internal", "env-User-9920", "file-Secret-4411" }) Assert.True(spec.Secrets.Contains(s), s);
        Assert.Equal("url https://***:8443 user *** password ***", spec.Secrets.Redact("url https://ch.internal:8443 user env-User-9920 password file-Secret-4411"));
    }

    [Fact]
    public void Missing_variables_and_unreadable_files_are_reported_together_with_other_problems_at_their_position()
    {
        var missing = Path.Combine(_dir, "nope");
        var errors = LoadWith($$"""
            name: s
            source: { generator: { kind: orders, rows: 10, rate: -1 } }
            sink:
              clickhouse:
                url: http://localhost:8123
                table: "${TABLE_NAME}"
                user: "u-${NOT_SET}"
                password: ${file:{{missing}}}
            """).Errors;
        Assert.Equal(4, errors.Count);
        AssertError(errors[0], "source.generator.rate", 2, 54, "must not be negative");
        AssertError(errors[1], "sink.clickhouse.table", 6, 13, "environment variable 'TABLE_NAME' is not set");
        AssertError(errors[2], "sink.clickhouse.user", 7, 14, "environment variable 'NOT_SET' is not set");
        AssertError(errors[3], "sink.clickhouse.password", 8, 15, $"${{file:{missing}}}: the file does not exist");

        // A literal secret of the wrong type is not quoted back.
        var typed = Assert.Single(Errors("""
            name: s
            source: { generator: { kind: orders, rows: 1 } }
            sink: { clickhouse: { url: http://localhost:8123, table: t, password: 73310955 } }
            """));
        Assert.Equal("sink.clickhouse.password", typed.Path);
        Assert.DoesNotContain("73310955", typed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_references_and_the_escape()
    {
        var errors = LoadWith("""
            name: s
            description: "cost $${HOME} and ${1BAD} and ${UNCLOSED"
            source: { generator: { kind: orders, rows: 1 } }
            sink: { null: }
            """).Errors;
        Assert.Equal(2, errors.Count);
        Assert.Contains("'${1BAD}' is not a variable reference", errors[0].Message, StringComparison.Ordinal);
        Assert.Contains("'${' is never closed", errors[1].Message, StringComparison.Ordinal);

        var ok = LoadWith("""
            name: s
            description: "cost $${HOME} is literal"
            source: { generator: { kind: orders, rows: 1 } }
            sink: { null: }
            """);
        Assert.True(ok.IsValid);
        Assert.Equal("cost ${HOME} is literal", ok.Spec!.Description);
        Assert.Equal(0, ok.Spec.Secrets.Count);
    }

    [Fact]
    public void An_interpolated_value_never_changes_the_document_structure_and_never_shows_in_errors()
    {
        // A value that would be YAML structure if pasted into the text stays one string.
        var loaded = LoadWith("""
            name: s
            source: { generator: { kind: orders, rows: "${ROWS}" } }
            sink: { null: }
            """, ("ROWS", "5 }\nsink: { console: {} }"));
        var e = Assert.Single(loaded.Errors);
        Assert.Equal("source.generator.rows", e.Path);
        Assert.DoesNotContain("console", e.Message, StringComparison.Ordinal);
        Assert.Contains("***", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fields_that_are_secret_by_nature_are_secrets_without_interpolation()
    {
        var spec = LoadValid("""
            name: s
            source:
              postgres_cdc: { connection: "Host=db;Username=u;Password=Pg-Literal-77;SSL Mode=VerifyFull;SSL Password=Key-Pw-12", include: [t] }
            sink:
              kafka:
                brokers: b:9092
                topic: out
                security: { sasl: { mechanism: SCRAM-SHA-256, username: etl, password: Sasl-Literal-31 } }
                properties: { sasl.oauthbearer.client.secret: Oauth-Literal-55, linger.ms: 7 }
            dead_letter:
              kafka: { brokers: b:9092, topic: dlq, security: { tls: { ca: ca.pem, cert: c.pem, key: k.pem, key_password: Tls-Key-Literal-9 } } }
            """);
        foreach (var s in new[] { "Pg-Literal-77", "Key-Pw-12", "Sasl-Literal-31", "Oauth-Literal-55", "Tls-Key-Literal-9" })
            Assert.True(spec.Secrets.Contains(s), s);
        Assert.False(spec.Secrets.Contains("etl"));
        // Connection strings and URL credentials are masked even when their value is not known.
        Assert.Equal("Host=x;Password=***;Port=5", SecretRedactor.None.Redact("Host=x;Password=unknown;Port=5"));
        Assert.Equal("Host=x;SSL Password=***", SecretRedactor.None.Redact("Host=x;SSL Password=unknown"));
        Assert.Equal("GET https://u:***@h/", SecretRedactor.None.Redact("GET https://u:pw@h/"));
    }

    [Fact]
    public void A_multi_line_key_is_scrubbed_line_by_line_but_pem_armour_is_not_a_secret()
    {
        var r = new SecretRedactor();
        r.Add("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n");
        Assert.Equal("line *** here", r.Redact("line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC here"));
        Assert.Equal("-----BEGIN PRIVATE KEY-----", r.Redact("-----BEGIN PRIVATE KEY-----"));
    }

    [Fact]
    public void Kafka_security_is_validated_with_positions()
    {
        var errors = Errors("""
            name: s
            source:
              kafka:
                brokers: b:9092
                topic: t
                start: timestamp
                security:
                  protocol: ssl
                  sasl: { mechanism: GSSAPI, username: u, password: p }
                  tls: { cert: c.pem }
                properties: { sasl.username: x }
              schema: { id: int64 }
            sink: { null: }
            """);
        Assert.Contains(errors, e => e.Path == "source.kafka.start" && e.Message.Contains("start_timestamp", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "source.kafka.security.sasl.mechanism" && e.Message.Contains("SCRAM-SHA-512", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "source.kafka.security.sasl" && e.Message.Contains("does not apply to protocol ssl", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "source.kafka.security.tls.cert" && e.Message.Contains("both 'cert' and 'key'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "source.kafka.properties[\"sasl.username\"]" || e.Path == "source.kafka.properties.sasl.username");
        Assert.All(errors, e => Assert.True(e.Line > 0));
    }

    [Fact]
    public void Kafka_security_protocol_defaults_from_the_blocks_and_start_timestamp_loads()
    {
        var k = (KafkaSourceSpec)LoadValid("""
            name: s
            source:
              kafka:
                brokers: b:9092
                topic: t
                start: timestamp
                start_timestamp: 2026-01-31T00:00:00Z
                security: { sasl: { mechanism: PLAIN, username: u, password: pw-Abc }, tls: { ca: ca.pem, verify_hostname: false } }
              schema: { id: int64 }
            sink: { null: }
            """).Sources[0].Connector;
        Assert.Equal(KafkaStart.Timestamp, k.Start);
        Assert.Equal(new DateTimeOffset(2026, 1, 31, 0, 0, 0, TimeSpan.Zero), k.StartTimestamp);
        var p = k.Security!.ToLibrdkafka();
        Assert.Equal("sasl_ssl", p["security.protocol"]);
        Assert.Equal("PLAIN", p["sasl.mechanisms"]);
        Assert.Equal("ca.pem", p["ssl.ca.location"]);
        Assert.Equal("none", p["ssl.endpoint.identification.algorithm"]);
        Assert.False(p.ContainsKey("ssl.key.location"));
    }

    [Fact]
    public void Dead_letters_pass_the_redaction_before_they_are_written()
    {
        var spec = LoadWith("""
            name: s
            source: { generator: { kind: orders, rows: 1 } }
            sink: { clickhouse: { url: http://localhost:8123, table: t, password: "${PW}" } }
            """, ("PW", "Dl-Secret-6161")).Spec!;
        var inner = new InMemoryDeadLetterOutput();
        var output = new RedactingDeadLetterOutput(inner, spec.Secrets);
        output.Write(new DeadLetter
        {
            Source = "source",
            Position = [new("file", "/data/Dl-Secret-6161/in.jsonl"), new("line", 3L)],
            ErrorClass = "sink",
            Error = "server said: wrong password Dl-Secret-6161",
            Raw = "raw"u8.ToArray(),
        });
        var written = Assert.Single(inner.Letters);
        Assert.Equal("server said: wrong password ***", written.Error);
        Assert.Equal("/data/***/in.jsonl", written.Position[0].Value);
        Assert.Equal(3L, written.Position[1].Value);
        Assert.Equal("raw"u8.ToArray(), written.Raw.ToArray());
    }

    [Fact]
    public void The_json_schema_knows_the_new_keys()
    {
        var results = EvaluateSchema("""
            name: s
            source:
              kafka:
                brokers: b:9092
                topic: t
                start: timestamp
                start_timestamp: 2026-01-31T00:00:00Z
                security: { protocol: sasl_ssl, sasl: { mechanism: SCRAM-SHA-512, username: u, password: p }, tls: { ca: ca.pem } }
              schema: { id: int64 }
            sink: { clickhouse: { url: https://h:8443, table: t, password: x, ca: ca.pem } }
            """);
        Assert.True(results.IsValid, Describe(results));
    }
}
