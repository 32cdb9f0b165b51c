/* Job specs: a strict parser for the flat JSON object of docs/protocol.md (64-bit seeds included, which
 * general JSON libraries cannot hold exactly), the limits, validation, and canonical JSON out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/protocol.h"
#include "wire.h"

fr_job_limits fr_job_default_limits(void)
{
  fr_job_limits l = {FR_JOB_STEPS_MAX, FR_JOB_FRAMES_MAX, 1024, 1024};
  return l;
}

void fr_job_init(fr_job *j)
{
  memset(j, 0, sizeof *j);
  snprintf(j->numerics, sizeof j->numerics, "%s", FR_NUMERICS);
  j->steps = 25;
  j->guidance = 9.0f;
  j->scheduler = FR_SCHEDULER_DPMPP_2M;
  j->frames = 16;
  j->height = j->width = 0; /* the model's native size (fr_job_fill_size) */
}

int fr_numerics_listed(const char *list, const char *profile)
{
  size_t n = strlen(profile);
  for (const char *at = list; n && at && *at;) {
    const char *end = strchr(at, ',');
    size_t len = end ? (size_t)(end - at) : strlen(at);
    if (len == n && strncmp(at, profile, n) == 0) return 1;
    at = end ? end + 1 : NULL;
  }
  return 0;
}

const char *fr_scheduler_name(fr_scheduler s) { return s == FR_SCHEDULER_DDIM ? "ddim" : "dpm++2m"; }

int fr_scheduler_parse(const char *name)
{
  if (strcmp(name, "ddim") == 0) return FR_SCHEDULER_DDIM;
  if (strcmp(name, "dpm++2m") == 0) return FR_SCHEDULER_DPMPP_2M;
  return -1;
}

/* ---- a strict reader for one flat JSON object ---- */

typedef struct reader {
  const char *p, *end;
} reader;

typedef enum { V_STRING, V_NUMBER, V_TRUE, V_FALSE, V_NULL } vkind;

typedef struct value {
  vkind kind;
  char *str; /* V_STRING: decoded UTF-8 (malloc'd); V_NUMBER: the literal */
  size_t len;
  int is_integer, negative;
} value;

static void skip_ws(reader *r)
{
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static fr_status syntax(const reader *r, const char *base, const char *what)
{
  return fr_fail(FR_EINVAL, "job spec: invalid JSON at byte %ld: %s", (long)(r->p - base), what);
}

static int hex4(const char *s, unsigned *out)
{
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
  if (cp < 0x10000)
    return o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[2] = (char)(0x80 | (cp & 0x3f)),
           3;
  o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Length of one valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_seq(const unsigned char *s, const unsigned char *end)
{
  unsigned c = s[0];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || (size_t)(end - s) < n) return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  if (n == 2 && c < 0xc2) return 0;
  if (n == 3) {
    unsigned cp = ((c & 0x0f) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
    if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  }
  if (n == 4) {
    unsigned cp = ((c & 0x07) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) | (s[3] & 0x3fu);
    if (cp < 0x10000 || cp > 0x10ffff) return 0;
  }
  return n;
}

static fr_status read_string(reader *r, const char *base, value *v)
{
  r->p++; /* opening quote */
  char *out = (char *)malloc((size_t)(r->end - r->p) + 1), *o = out;
  if (!out) return fr_fail(FR_ENOMEM, "out of memory");
  while (r->p < r->end && *r->p != '"') {
    unsigned char c = (unsigned char)*r->p;
    if (c < 0x20) return free(out), syntax(r, base, "control character in a string");
    if (c != '\\') {
      size_t n = utf8_seq((const unsigned char *)r->p, (const unsigned char *)r->end);
      if (!n) return free(out), syntax(r, base, "invalid UTF-8 in a string");
      memcpy(o, r->p, n), o += n, r->p += n;
      continue;
    }
    if (r->end - r->p < 2) break;
    char e = r->p[1];
    r->p += 2;
    const char *simple = strchr("\"\\/bfnrt", e);
    if (e && simple) {
      *o++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
      continue;
    }
    unsigned cp, lo;
    if (e != 'u' || r->end - r->p < 4 || hex4(r->p, &cp)) return free(out), syntax(r, base, "bad escape in a string");
    r->p += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff) return free(out), syntax(r, base, "lone low surrogate");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
        return free(out), syntax(r, base, "lone high surrogate");
      r->p += 6;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp == 0) return free(out), syntax(r, base, "\\u0000 is not allowed in a string");
    o += put_utf8(o, cp);
  }
  if (r->p >= r->end) return free(out), syntax(r, base, "unterminated string");
  r->p++;
  *o = '\0';
  v->kind = V_STRING, v->str = out, v->len = (size_t)(o - out);
  return FR_OK;
}

static fr_status read_number(reader *r, const char *base, value *v)
{
  const char *s = r->p;
  v->negative = *r->p == '-';
  if (v->negative) r->p++;
  if (r->p >= r->end || *r->p < '0' || *r->p > '9') return syntax(r, base, "bad number");
  if (*r->p == '0') r->p++;
  else
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  v->is_integer = 1;
  if (r->p < r->end && *r->p == '.') {
    v->is_integer = 0, r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return syntax(r, base, "bad fraction");
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    v->is_integer = 0, r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return syntax(r, base, "bad exponent");
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  }
  size_t n = (size_t)(r->p - s);
  if (n > 64) return syntax(r, base, "number literal too long");
  v->str = (char *)malloc(n + 1);
  if (!v->str) return fr_fail(FR_ENOMEM, "out of memory");
  memcpy(v->str, s, n), v->str[n] = '\0';
  v->kind = V_NUMBER, v->len = n;
  return FR_OK;
}

static fr_status read_value(reader *r, const char *base, value *v)
{
  memset(v, 0, sizeof *v);
  if (r->p >= r->end) return syntax(r, base, "value expected");
  char c = *r->p;
  if (c == '"') return read_string(r, base, v);
  if (c == '-' || (c >= '0' && c <= '9')) return read_number(r, base, v);
  static const struct {
    const char *word;
    vkind kind;
  } words[] = {{"true", V_TRUE}, {"false", V_FALSE}, {"null", V_NULL}};
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(words[i].word);
    if ((size_t)(r->end - r->p) >= n && memcmp(r->p, words[i].word, n) == 0) {
      r->p += n, v->kind = words[i].kind;
      return FR_OK;
    }
  }
  if (c == '{' || c == '[')
    return syntax(r, base, "a job spec's values are strings and numbers, not objects or arrays");
  return syntax(r, base, "value expected");
}

/* ---- the fields ---- */

static const char *const fields[] = {"job_id",   "model",     "numerics", "prompt", "negative_prompt", "seed", "steps",
                                     "guidance", "scheduler", "frames",   "height", "width",           NULL};

static fr_status field_int(const value *v, const char *name, long lo, long hi, int *out)
{
  if (v->kind != V_NUMBER || !v->is_integer) return fr_fail(FR_EINVAL, "job spec: %s must be an integer", name);
  errno = 0;
  long x = strtol(v->str, NULL, 10);
  if (errno || x < lo || x > hi) return fr_fail(FR_EINVAL, "job spec: %s must be in %ld..%ld", name, lo, hi);
  *out = (int)x;
  return FR_OK;
}

static fr_status field_str(const value *v, const char *name, size_t max, char *out)
{
  if (v->kind != V_STRING) return fr_fail(FR_EINVAL, "job spec: %s must be a string", name);
  if (v->len > max) return fr_fail(FR_EINVAL, "job spec: %s is %zu bytes, at most %zu allowed", name, v->len, max);
  memcpy(out, v->str, v->len + 1);
  return FR_OK;
}

static fr_status set_field(fr_job *j, const char *key, const value *v)
{
  if (strcmp(key, "job_id") == 0) return field_str(v, key, FR_JOB_ID_MAX, j->job_id);
  if (strcmp(key, "model") == 0) return field_str(v, key, 32, j->model);
  if (strcmp(key, "numerics") == 0) return field_str(v, key, sizeof j->numerics - 1, j->numerics);
  if (strcmp(key, "prompt") == 0) return field_str(v, key, FR_JOB_PROMPT_MAX, j->prompt);
  if (strcmp(key, "negative_prompt") == 0) return field_str(v, key, FR_JOB_PROMPT_MAX, j->negative_prompt);
  if (strcmp(key, "steps") == 0) return field_int(v, key, 1, FR_JOB_STEPS_MAX, &j->steps);
  if (strcmp(key, "frames") == 0) return field_int(v, key, 1, FR_JOB_FRAMES_MAX, &j->frames);
  if (strcmp(key, "height") == 0) return field_int(v, key, 0, 8192, &j->height);
  if (strcmp(key, "width") == 0) return field_int(v, key, 0, 8192, &j->width);
  if (strcmp(key, "seed") == 0) {
    if (v->kind != V_NUMBER || !v->is_integer || v->negative)
      return fr_fail(FR_EINVAL, "job spec: seed must be an integer in 0..18446744073709551615");
    errno = 0;
    unsigned long long s = strtoull(v->str, NULL, 10);
    if (errno) return fr_fail(FR_EINVAL, "job spec: seed must be an integer in 0..18446744073709551615");
    j->seed = (uint64_t)s;
    return FR_OK;
  }
  if (strcmp(key, "guidance") == 0) {
    if (v->kind != V_NUMBER) return fr_fail(FR_EINVAL, "job spec: guidance must be a number");
    double g = strtod(v->str, NULL);
    if (!(g >= 0.0 && g <= 50.0)) return fr_fail(FR_EINVAL, "job spec: guidance must be in 0..50");
    j->guidance = (float)g;
    return FR_OK;
  }
  if (strcmp(key, "scheduler") == 0) {
    if (v->kind != V_STRING || fr_scheduler_parse(v->str) < 0)
      return fr_fail(FR_EINVAL, "job spec: scheduler must be \"ddim\" or \"dpm++2m\"");
    j->scheduler = (fr_scheduler)fr_scheduler_parse(v->str);
    return FR_OK;
  }
  return fr_fail(FR_EINVAL, "job spec: unknown field \"%s\"", key);
}

static fr_status parse(const char *json, size_t len, const fr_job_limits *limits, int request, fr_job *out)
{
  fr_job j;
  fr_job_init(&j);
  reader r = {json, json + len};
  unsigned seen = 0;
  fr_status st = FR_OK;
  skip_ws(&r);
  if (r.p >= r.end || *r.p != '{') return syntax(&r, json, "a job spec is a JSON object");
  r.p++;
  skip_ws(&r);
  int first = 1;
  while (st == FR_OK) {
    skip_ws(&r);
    if (r.p < r.end && *r.p == '}' && first) break;
    value k, v;
    if (r.p >= r.end || *r.p != '"') return syntax(&r, json, "field name expected");
    FR_TRY(read_string(&r, json, &k));
    skip_ws(&r);
    if (r.p >= r.end || *r.p != ':') st = syntax(&r, json, "':' expected");
    else r.p++, skip_ws(&r);
    if (st == FR_OK) st = read_value(&r, json, &v);
    if (st == FR_OK) {
      int idx = -1;
      for (int i = 0; fields[i]; i++)
        if (strcmp(fields[i], k.str) == 0) idx = i;
      if (idx >= 0 && (seen >> idx & 1u)) st = fr_fail(FR_EINVAL, "job spec: field \"%s\" appears twice", k.str);
      else if (idx >= 0) seen |= 1u << idx;
      if (st == FR_OK) st = set_field(&j, k.str, &v);
      free(v.str);
    }
    free(k.str);
    if (st != FR_OK) return st;
    first = 0;
    skip_ws(&r);
    if (r.p < r.end && *r.p == ',') {
      r.p++;
      skip_ws(&r);
      if (r.p < r.end && *r.p == '}') return syntax(&r, json, "trailing comma");
      continue;
    }
    if (r.p < r.end && *r.p == '}') break;
    return syntax(&r, json, "',' or '}' expected");
  }
  r.p++;
  skip_ws(&r);
  if (r.p != r.end) return syntax(&r, json, "trailing data after the object");
  const unsigned always = 1u << 3 | 1u << 5,
                 on_wire = 1u << 0 | 1u << 1 | 1u << 2; /* prompt, seed; job_id, model, numerics */
  unsigned need = always | (request ? on_wire : 0);
  for (int i = 0; fields[i]; i++)
    if ((need >> i & 1u) && !(seen >> i & 1u)) return fr_fail(FR_EINVAL, "job spec: %s is missing", fields[i]);
  if (request && !j.job_id[0]) return fr_fail(FR_EINVAL, "job spec: job_id must not be empty");
  if (request && !j.model[0]) return fr_fail(FR_EINVAL, "job spec: model must be 32 lowercase hex digits");
  FR_TRY(fr_job_validate(&j, limits));
  *out = j;
  return FR_OK;
}

fr_status fr_job_parse(const char *json, size_t len, const fr_job_limits *limits, fr_job *out)
{
  return parse(json, len, limits, 0, out);
}

fr_status fr_job_parse_request(const char *json, size_t len, const fr_job_limits *limits, fr_job *out)
{
  return parse(json, len, limits, 1, out);
}

/* ---- whole documents (challenge records): strict JSON, no key twice in any object ---- */

#define DOC_MAX_DEPTH 64

static int by_key(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static fr_status check_value(reader *r, const char *base, int depth);

/* An object or array at r->p; an object's keys are compared decoded ("a" and "\u0061" are one key).
 * With `want`, [*found, *found_end) becomes the span of the value of the object's member so named. */
static fr_status check_container(reader *r, const char *base, int depth, const char *want, const char **found,
                                 const char **found_end)
{
  int is_object = *r->p == '{';
  char close = is_object ? '}' : ']', **keys = NULL;
  size_t n = 0, cap = 0;
  fr_status st = FR_OK;
  r->p++;
  skip_ws(r);
  if (r->p < r->end && *r->p == close) return r->p++, FR_OK;
  while (st == FR_OK) {
    skip_ws(r);
    if (is_object) {
      value k;
      if (r->p >= r->end || *r->p != '"') {
        st = syntax(r, base, "field name expected");
        break;
      }
      if ((st = read_string(r, base, &k)) != FR_OK) break;
      char **grown = n < cap ? keys : (char **)realloc(keys, sizeof *keys * (cap = cap ? 2 * cap : 16));
      if (!grown) {
        free(k.str);
        st = fr_fail(FR_ENOMEM, "out of memory");
        break;
      }
      keys = grown, keys[n++] = k.str;
      skip_ws(r);
      if (r->p >= r->end || *r->p != ':') {
        st = syntax(r, base, "':' expected");
        break;
      }
      r->p++;
      skip_ws(r);
    }
    const char *v = r->p;
    if ((st = check_value(r, base, depth + 1)) != FR_OK) break;
    if (want && is_object && strcmp(keys[n - 1], want) == 0) *found = v, *found_end = r->p;
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') r->p++;
    else if (r->p < r->end && *r->p == close) break;
    else st = syntax(r, base, is_object ? "',' or '}' expected" : "',' or ']' expected");
  }
  if (st == FR_OK) r->p++;
  if (st == FR_OK && n > 1) { /* sorted, a repeated key sits next to itself */
    qsort(keys, n, sizeof *keys, by_key);
    for (size_t i = 1; st == FR_OK && i < n; i++)
      if (strcmp(keys[i - 1], keys[i]) == 0)
        st = fr_fail(FR_EINVAL, "key \"%.100s\" appears twice in one object", keys[i]);
  }
  for (size_t i = 0; i < n; i++) free(keys[i]);
  free(keys);
  return st;
}

static fr_status check_value(reader *r, const char *base, int depth)
{
  if (depth > DOC_MAX_DEPTH) return syntax(r, base, "nested too deeply");
  if (r->p < r->end && (*r->p == '{' || *r->p == '[')) return check_container(r, base, depth, NULL, NULL, NULL);
  value v;
  fr_status st = read_value(r, base, &v);
  free(v.str);
  return st;
}

fr_status fr_job_parse_member(const char *json, size_t len, const char *key, const fr_job_limits *limits, fr_job *out)
{
  reader r = {json, json + len};
  const char *start = NULL, *stop = NULL;
  skip_ws(&r);
  if (r.p >= r.end || *r.p != '{') return fr_fail(FR_EINVAL, "not a JSON object");
  FR_TRY(check_container(&r, json, 0, key, &start, &stop));
  skip_ws(&r);
  if (r.p != r.end) return syntax(&r, json, "trailing data after the object");
  if (!start) return fr_fail(FR_EINVAL, "no \"%s\" object found", key);
  return fr_job_parse(start, (size_t)(stop - start), limits, out);
}

static int is_hex(const char *s)
{
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
  return 1;
}

fr_status fr_job_validate(const fr_job *j, const fr_job_limits *limits)
{
  fr_job_limits lim = limits ? *limits : fr_job_default_limits();
  for (const char *p = j->job_id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
          *p == ','))
      return fr_fail(FR_EINVAL, "job spec: job_id may hold only a-z A-Z 0-9 _ - ,");
  if (j->model[0] && (strlen(j->model) != 32 || !is_hex(j->model)))
    return fr_fail(FR_EINVAL, "job spec: model must be 32 lowercase hex digits");
  if (j->steps < 1 || j->steps > lim.max_steps)
    return fr_fail(FR_EINVAL, "job spec: steps must be in 1..%d", lim.max_steps);
  if (j->frames < 1 || j->frames > lim.max_frames)
    return fr_fail(FR_EINVAL, "job spec: frames must be in 1..%d", lim.max_frames);
  if (j->height && (j->height < 8 || j->height > lim.max_height || j->height % 8))
    return fr_fail(FR_EINVAL, "job spec: height must be a multiple of 8 in 8..%d (or left out: the model's size)",
                   lim.max_height);
  if (j->width && (j->width < 8 || j->width > lim.max_width || j->width % 8))
    return fr_fail(FR_EINVAL, "job spec: width must be a multiple of 8 in 8..%d (or left out: the model's size)",
                   lim.max_width);
  return fr_job_runnable(j); /* guidance and scheduler: what the pipeline runs at all */
}

size_t fr_wire_put_string(char *buf, size_t n, size_t at, const char *s)
{
  at += (size_t)snprintf(at < n ? buf + at : NULL, at < n ? n - at : 0, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') snprintf(esc, sizeof esc, "\\%c", *p);
    else if (*p < 0x20) snprintf(esc, sizeof esc, "\\u%04x", *p);
    else esc[0] = (char)*p, esc[1] = '\0';
    at += (size_t)snprintf(at < n ? buf + at : NULL, at < n ? n - at : 0, "%s", esc);
  }
  at += (size_t)snprintf(at < n ? buf + at : NULL, at < n ? n - at : 0, "\"");
  return at;
}

size_t fr_job_to_json(const fr_job *j, char *buf, size_t n)
{
  size_t at = 0;
#define OUT(...) (at += (size_t)snprintf(at < n ? buf + at : NULL, at < n ? n - at : 0, __VA_ARGS__))
  OUT("{\"job_id\":");
  at = fr_wire_put_string(buf, n, at, j->job_id);
  OUT(",\"model\":");
  at = fr_wire_put_string(buf, n, at, j->model);
  OUT(",\"numerics\":");
  at = fr_wire_put_string(buf, n, at, j->numerics);
  OUT(",\"prompt\":");
  at = fr_wire_put_string(buf, n, at, j->prompt);
  OUT(",\"negative_prompt\":");
  at = fr_wire_put_string(buf, n, at, j->negative_prompt);
  OUT(",\"seed\":%llu,\"steps\":%d,\"guidance\":%.9g,\"scheduler\":\"%s\",\"frames\":%d,\"height\":%d,\"width\":%d}",
      (unsigned long long)j->seed, j->steps, (double)j->guidance, fr_scheduler_name(j->scheduler), j->frames, j->height,
      j->width);
#undef OUT
  return at;
}
