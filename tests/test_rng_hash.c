/* Philox4x32-10 against the Random123 known-answer vectors; uniform and normal draws as pure
 * functions of (seed, stream, index); XXH3-128 hashes against values from an independent
 * implementation (Python's xxhash package), canonical float bytes, and the hex form. */
#include "fractal/hash.h"
#include "fractal/philox.h"
#include "testutil.h"

static void test_philox_kat(void)
{
  /* Random123 kat_vectors: philox4x32 10 <ctr x4> <key x2> -> <out x4> */
  /* clang-format off */ /* a table: one entry per line */
  static const uint32_t kat[3][10] = {
    {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
    {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
     0x6d5451fd},
    {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
     0x24126ea1},
  };
  /* clang-format on */
  for (int i = 0; i < 3; i++) {
    fr_philox4 ctr = {{kat[i][0], kat[i][1], kat[i][2], kat[i][3]}};
    fr_philox4 out = fr_philox4x32_10(ctr, kat[i][4], kat[i][5]);
    for (int w = 0; w < 4; w++)
      CHECK(out.v[w] == kat[i][6 + w], "KAT %d word %d: got %08x want %08x", i, w, out.v[w], kat[i][6 + w]);
  }
  /* (seed, stream, index) maps to key = seed, counter = (index lo, index hi, stream lo, stream hi). */
  fr_philox4 a = fr_philox_draw(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull);
  CHECK(a.v[0] == 0xd16cfe09 && a.v[3] == 0x24126ea1, "fr_philox_draw must map onto the KAT layout");
}

static void test_uniform_normal(void)
{
  CHECK(fr_u32_to_unit(0) == 0.0f && fr_u32_to_unit(0xffffffffu) == 1.0f - 0x1p-24f, "unit interval ends");
  CHECK(fr_u32_to_open_unit(0) == 0x1p-24f && fr_u32_to_open_unit(0xffffffffu) == 1.0f - 0x1p-24f,
        "open interval ends must be 2^-24 and 1 - 2^-24");
  double s = 0, s2 = 0, worst = 0;
  int n = 1 << 20;
  for (int i = 0; i < n; i++) {
    fr_philox4 r = fr_philox_draw(7, 3, (uint64_t)i);
    double u1 = fr_u32_to_open_unit(r.v[0]), u2 = fr_u32_to_unit(r.v[1]);
    double z64 = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    float z = fr_philox_normal(7, 3, (uint64_t)i);
    /* 2*pi is rounded to float (relative 2.8e-8) and theta up to 2*pi: allow 1e-6 times the radius */
    double err = fabs(z - z64) / sqrt(-2.0 * log(u1));
    worst = err > worst ? err : worst;
    s += z, s2 += (double)z * z;
  }
  CHECK(worst < 1e-6, "Box-Muller: largest error %.3g relative to the radius", worst);
  double mean = s / n, var = s2 / n - mean * mean;
  CHECK(fabs(mean) < 0.005 && fabs(var - 1) < 0.007, "normals: mean %.5f variance %.5f", mean, var);
  /* streams and seeds are independent: no equal words across neighbours */
  CHECK(fr_philox_draw(1, 0, 0).v[0] != fr_philox_draw(1, 1, 0).v[0], "streams differ");
  CHECK(fr_philox_draw(1, 0, 0).v[0] != fr_philox_draw(2, 0, 0).v[0], "seeds differ");
  CHECK(fr_philox_draw(1, 0, 1ull << 32).v[0] != fr_philox_draw(1, 0, 0).v[0], "the index's high word counts");
}

static void test_hashes(void)
{
  char hex[33];
  fr_hash_hex(fr_hash_bytes("", 0), hex);
  CHECK(strcmp(hex, "99aa06d3014798d86001c324468d497f") == 0, "XXH3-128 of nothing: %s", hex);
  fr_hash_hex(fr_hash_bytes("abc", 3), hex);
  CHECK(strcmp(hex, "06b05ab6733a618578af5f94892f3950") == 0, "XXH3-128 of abc: %s", hex);

  /* canonical floats: -0 as +0 and any NaN as 0x7fc00000, little-endian */
  float f[4] = {1.0f, -0.0f, fr_f32_from_bits(0xffc00123u), 2.5f};
  fr_hash_hex(fr_hash_f32(f, 4), hex);
  CHECK(strcmp(hex, "7ce129007fedda794eba3dc93c676156") == 0, "canonical float hash: %s", hex);
  float g[4] = {1.0f, 0.0f, fr_f32_from_bits(0x7f800001u), 2.5f};
  CHECK(fr_hash_equal(fr_hash_f32(f, 4), fr_hash_f32(g, 4)), "-0/+0 and NaN payloads must hash alike");
  g[3] = 2.5000002f;
  CHECK(!fr_hash_equal(fr_hash_f32(f, 4), fr_hash_f32(g, 4)), "one ulp must change the hash");

  /* streaming over a large buffer equals the one-shot hash; the tensor hash follows the dtype */
  unsigned char big[10240];
  for (int i = 0; i < 10240; i++) big[i] = (unsigned char)i;
  fr_hash_hex(fr_hash_bytes(big, sizeof big), hex);
  CHECK(strcmp(hex, "1cb22534d0d96975c03d2231ab9348f3") == 0, "XXH3-128 of 10240 bytes: %s", hex);
  fr_hasher *h = fr_hasher_new();
  for (int i = 0; i < 10; i++) fr_hasher_bytes(h, big + 1024 * i, 1024);
  CHECK(fr_hash_equal(fr_hasher_digest(h), fr_hash_bytes(big, sizeof big)), "streaming == one shot");
  fr_hasher_free(h);
  fr_tensor t = fr_tensor_make(FR_U8, big, 2, (int64_t)40, (int64_t)256);
  CHECK(fr_hash_equal(fr_hash_tensor(&t), fr_hash_bytes(big, sizeof big)), "U8 tensor hash = its bytes");
  fr_tensor tf = fr_tensor_make(FR_F32, f, 1, (int64_t)4);
  CHECK(fr_hash_equal(fr_hash_tensor(&tf), fr_hash_f32(f, 4)), "F32 tensor hash is canonical");

  /* length-prefixed strings keep field boundaries: ("ab","c") != ("a","bc") */
  fr_hasher *h1 = fr_hasher_new(), *h2 = fr_hasher_new();
  fr_hasher_str(h1, "ab"), fr_hasher_str(h1, "c");
  fr_hasher_str(h2, "a"), fr_hasher_str(h2, "bc");
  CHECK(!fr_hash_equal(fr_hasher_digest(h1), fr_hasher_digest(h2)), "string fields must not run together");
  fr_hasher_free(h1), fr_hasher_free(h2);

  fr_hash128 p;
  CHECK(fr_hash_parse("06B05AB6733A618578AF5F94892F3950", &p) == 0 && fr_hash_equal(p, fr_hash_bytes("abc", 3)),
        "parse accepts upper case");
  CHECK(fr_hash_parse("06b05ab6733a618578af5f94892f395", &p) == -1, "31 digits refused");
  CHECK(fr_hash_parse("06b05ab6733a618578af5f94892f39500", &p) == -1, "33 digits refused");
  CHECK(fr_hash_parse("g6b05ab6733a618578af5f94892f3950", &p) == -1, "non-hex refused");
}

int main(void)
{
  test_philox_kat();
  test_uniform_normal();
  test_hashes();
  return check_done("test_rng_hash");
}
