using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Text;

namespace AiEtl.Engine.Json;

/// <summary>Byte-level helpers of the JSON scanner: SIMD string-body search, UTF-8 and escape handling.</summary>
internal static unsafe class JsonScan
{
    /// <summary>
    /// First byte at or after <paramref name="p"/> that ends a plain run inside a string: <c>"</c>, <c>\</c>,
    /// a control byte (&lt; 0x20) or a non-ASCII byte (≥ 0x80); <paramref name="end"/> when there is none.
    /// <paramref name="start"/> is the start of the message: vector loads never leave [start, end).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* FindStringSpecial(byte* p, byte* end, byte* start)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            while (end - p >= 32)
            {
                var m = Mask(Vector256.Load(p));
                if (m != 0) return p + BitOperations.TrailingZeroCount(m);
                p += 32;
            }
        }
        while (end - p >= 16)
        {
            var m = Mask(Vector128.Load(p));
            if (m != 0) return p + BitOperations.TrailingZeroCount(m);
            p += 16;
        }
        if (p < end)
        {
            if (end - start >= 16)
            {
                // Overlapping load of the last 16 bytes of the message; drop the bits before p.
                var b = end - 16;
                var m = Mask(Vector128.Load(b)) >> (int)(p - b);
                return m != 0 ? p + BitOperations.TrailingZeroCount(m) : end;
            }
            while (p < end && !IsSpecial(*p)) p++;
        }
        return p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsSpecial(byte b) => b == (byte)'"' || b == (byte)'\\' || (sbyte)b < 0x20;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Mask(Vector256<byte> v)
    {
        var m = Vector256.Equals(v, Vector256.Create((byte)'"'))
              | Vector256.Equals(v, Vector256.Create((byte)'\\'))
              | Vector256.LessThan(v.AsSByte(), Vector256.Create((sbyte)0x20)).AsByte();
        return m.ExtractMostSignificantBits();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Mask(Vector128<byte> v)
    {
        var m = Vector128.Equals(v, Vector128.Create((byte)'"'))
              | Vector128.Equals(v, Vector128.Create((byte)'\\'))
              | Vector128.LessThan(v.AsSByte(), Vector128.Create((sbyte)0x20)).AsByte();
        return m.ExtractMostSignificantBits();
    }

    /// <summary>Bit i set when byte i of the 32 at <paramref name="p"/> is an ASCII digit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint DigitMask(byte* p) =>
        Vector256.LessThan(Vector256.Load(p) - Vector256.Create((byte)'0'), Vector256.Create((byte)10)).ExtractMostSignificantBits();

    /// <summary>How many ASCII digits start at <paramref name="p"/> (32 bytes must be readable; 32 when all are).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int DigitRun(byte* p) => BitOperations.TrailingZeroCount(~DigitMask(p));

    /// <summary>10^k for k = 0…19.</summary>
    public static ReadOnlySpan<ulong> PowersOf10 =>
    [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
        10_000_000_000, 100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000,
        1_000_000_000_000_000, 10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000,
        10_000_000_000_000_000_000,
    ];

    /// <summary>
    /// Value of the <paramref name="n"/> (1–19) ASCII digits at <paramref name="p"/>, already known to be digits,
    /// in at most three eight-digit words; reads up to 8 bytes past the first word boundary, never past p + 24.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ParseDigits(byte* p, int n)
    {
        if (n <= 8) return EightDigits(LeadingDigits(p, n));
        if (n <= 16)
        {
            var hi = n - 8;
            return EightDigits(LeadingDigits(p, hi)) * 100_000_000 + EightDigits(Unsafe.ReadUnaligned<ulong>(p + hi));
        }
        var h = n - 16;
        return (EightDigits(LeadingDigits(p, h)) * 100_000_000 + EightDigits(Unsafe.ReadUnaligned<ulong>(p + h))) * 100_000_000
            + EightDigits(Unsafe.ReadUnaligned<ulong>(p + h + 8));
    }

    /// <summary>The first <paramref name="k"/> (1–8) digits at <paramref name="p"/> as an eight-digit word padded with leading '0's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LeadingDigits(byte* p, int k)
    {
        var w = Unsafe.ReadUnaligned<ulong>(p);
        return k == 8 ? w : (w << (64 - 8 * k)) | (0x3030303030303030UL >> (8 * k));
    }

    /// <summary>Whether all eight bytes of <paramref name="w"/> (little-endian load) are ASCII digits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AreEightDigits(ulong w) =>
        ((w & 0xF0F0F0F0F0F0F0F0UL) | (((w + 0x0606060606060606UL) & 0xF0F0F0F0F0F0F0F0UL) >> 4)) == 0x3333333333333333UL;

    /// <summary>
    /// Value of eight ASCII digits loaded little-endian (the first digit in the lowest byte, so it is the most
    /// significant): pairs, then quads, then the whole (SWAR).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EightDigits(ulong w)
    {
        w -= 0x3030303030303030UL;
        w = (w * 10 + (w >> 8)) & 0x00FF00FF00FF00FFUL;
        w = (w * 100 + (w >> 16)) & 0x0000FFFF0000FFFFUL;
        return (w * 10000 + (w >> 32)) & 0xFFFFFFFFUL;
    }

    /// <summary>
    /// Length of the well-formed UTF-8 sequence (2–4 bytes) starting with the non-ASCII byte at
    /// <paramref name="p"/>, or 0 when it is ill-formed (Unicode Table 3-7: no overlongs, no encoded
    /// surrogates, nothing above U+10FFFF, no truncated sequence).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Utf8SequenceLength(byte* p, byte* end)
    {
        uint b0 = p[0];
        var left = end - p;
        if (b0 < 0xC2) return 0; // continuation byte or overlong 2-byte lead
        if (b0 < 0xE0)
            return left >= 2 && IsCont(p[1]) ? 2 : 0;
        if (b0 < 0xF0)
        {
            if (left < 3) return 0;
            uint b1 = p[1];
            var ok = b0 switch
            {
                0xE0 => b1 is >= 0xA0 and <= 0xBF,
                0xED => b1 is >= 0x80 and <= 0x9F,
                _ => IsCont(b1),
            };
            return ok && IsCont(p[2]) ? 3 : 0;
        }
        if (b0 < 0xF5)
        {
            if (left < 4) return 0;
            uint b1 = p[1];
            var ok = b0 switch
            {
                0xF0 => b1 is >= 0x90 and <= 0xBF,
                0xF4 => b1 is >= 0x80 and <= 0x8F,
                _ => IsCont(b1),
            };
            return ok && IsCont(p[2]) && IsCont(p[3]) ? 4 : 0;
        }
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsCont(uint b) => (b & 0xC0) == 0x80;

    /// <summary>Value of 4 hex digits at <paramref name="p"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Hex4(byte* p) => (Hex(p[0]) << 12) | (Hex(p[1]) << 8) | (Hex(p[2]) << 4) | Hex(p[3]) | ((Hex(p[0]) | Hex(p[1]) | Hex(p[2]) | Hex(p[3])) >> 31);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hex(byte b)
    {
        var d = (uint)(b - '0');
        if (d <= 9) return (int)d;
        var l = (uint)((b | 0x20) - 'a');
        return l <= 5 ? (int)l + 10 : -1;
    }

    /// <summary>
    /// Decodes the body of a JSON string whose escapes have already been validated into
    /// <paramref name="dst"/> (at least as long as the body); returns the bytes written.
    /// </summary>
    public static int Unescape(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        var si = 0;
        var di = 0;
        while (true)
        {
            var k = src[si..].IndexOf((byte)'\\');
            if (k < 0)
            {
                src[si..].CopyTo(dst[di..]);
                return di + src.Length - si;
            }
            src.Slice(si, k).CopyTo(dst[di..]);
            di += k;
            si += k;
            var e = src[si + 1];
            switch (e)
            {
                case (byte)'b': dst[di++] = 0x08; si += 2; break;
                case (byte)'f': dst[di++] = 0x0C; si += 2; break;
                case (byte)'n': dst[di++] = 0x0A; si += 2; break;
                case (byte)'r': dst[di++] = 0x0D; si += 2; break;
                case (byte)'t': dst[di++] = 0x09; si += 2; break;
                case (byte)'u':
                    {
                        int cp;
                        fixed (byte* s = &src[si + 2]) cp = Hex4(s);
                        si += 6;
                        if (cp is >= 0xD800 and <= 0xDBFF)
                        {
                            int lo;
                            fixed (byte* s = &src[si + 2]) lo = Hex4(s);
                            si += 6;
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        }
                        di += new Rune(cp).EncodeToUtf8(dst[di..]);
                        break;
                    }
                default: dst[di++] = e; si += 2; break; // " \ /
            }
        }
    }
}
