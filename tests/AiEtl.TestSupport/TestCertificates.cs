using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AiEtl.TestSupport;

/// <summary>
/// A throw-away certificate authority for TLS tests: a self-signed CA and the server / client certificates it
/// issues, written as PEM files (RSA 2048, PKCS#8 keys) into a directory.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly RSA _caKey;
    private readonly X509Certificate2 _ca;

    /// <summary>The directory the PEM files are written to.</summary>
    public string Directory { get; }

    /// <summary>The CA certificate (PEM): what clients trust.</summary>
    public string CaFile { get; }

    private TestCertificates(string dir, RSA caKey, X509Certificate2 ca)
    {
        Directory = dir;
        _caKey = caKey;
        _ca = ca;
        CaFile = Path.Combine(dir, "ca.pem");
        File.WriteAllText(CaFile, ca.ExportCertificatePem());
    }

    /// <summary>Creates a CA named <paramref name="name"/> whose files go to <paramref name="dir"/>.</summary>
    public static TestCertificates Create(string dir, string name = "aietl test CA")
    {
        System.IO.Directory.CreateDirectory(dir);
        var key = RSA.Create(2048);
        var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        var ca = req.CreateSelfSigned(now.AddDays(-2), now.AddDays(60));
        return new TestCertificates(dir, key, ca);
    }

    /// <summary>
    /// Issues a server certificate for 127.0.0.1, ::1 and localhost (plus <paramref name="extraNames"/>); returns the
    /// certificate and key file paths (<c>NAME.pem</c>, <c>NAME.key</c>).
    /// </summary>
    public (string CertFile, string KeyFile) IssueServer(string name, params string[] extraNames)
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        san.AddDnsName("localhost");
        foreach (var n in extraNames) san.AddDnsName(n);
        return Issue(name, "CN=localhost", san.Build(), new Oid("1.3.6.1.5.5.7.3.1"), null);
    }

    /// <summary>Issues a client certificate with common name <paramref name="commonName"/>; the key is encrypted when a password is given.</summary>
    public (string CertFile, string KeyFile) IssueClient(string name, string commonName, string? keyPassword = null) =>
        Issue(name, $"CN={commonName}", null, new Oid("1.3.6.1.5.5.7.3.2"), keyPassword);

    private (string, string) Issue(string name, string subject, X509Extension? san, Oid usage, string? keyPassword)
    {
        using var key = RSA.Create(2048);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], false));
        if (san is not null) req.CertificateExtensions.Add(san);
        var now = DateTimeOffset.UtcNow;
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var cert = req.Create(_ca, now.AddDays(-1), now.AddDays(30), serial);
        var certFile = Path.Combine(Directory, name + ".pem");
        var keyFile = Path.Combine(Directory, name + ".key");
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        var pem = keyPassword is null
            ? key.ExportPkcs8PrivateKeyPem()
            : key.ExportEncryptedPkcs8PrivateKeyPem(keyPassword, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000));
        File.WriteAllText(keyFile, pem);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return (certFile, keyFile);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _caKey.Dispose();
    }
}
