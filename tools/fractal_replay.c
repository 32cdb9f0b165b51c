/* fractal-replay: a verifier's check of a prover's answer. Regenerates a job from its challenge record
 * (a file, or an entry of a verifier's challenge log in Redis) and reports a match, or the first
 * diverging step and the frames that differ; or checks one step from a revealed latent. With --key it
 * fetches the prover's latents itself and says how a mismatch differs, value by value (replay_check.c).
 * Exit 0 match, 1 mismatch, 2 error. */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "fractal/protocol.h"
#include "fractal/version.h"
#include "replay.h"

static void usage(FILE *f)
{
  fprintf(
      f, "usage: fractal-replay -m MODEL [options] RECORD.json\n"
         "       fractal-replay -m MODEL --redis HOST:PORT --challenge ID [--prover HOTKEY] [options]\n"
         "RECORD is {\"job\": <job spec>, \"result\": <a prover's result>} (fractal-gen --json writes one;\n"
         "the result as /v1/challenge answers it). With --redis the record comes from a verifier's challenge log:\n"
         "every prover of challenge ID (the log entry's id, or the job_id) is checked, or only --prover.\n"
         "  -m, --model DIR       the model the job names\n"
         "      --step N          check only step N (0-based): recompute it from the latent entering it (and\n"
         "                        the one entering N-1 for a second-order DPM-Solver++ step): from --latent and\n"
         "                        --prev, or fetched with --key; step 0's is the job's noise, made from the seed\n"
         "      --latent FILE     the latent entering step N (raw little-endian float32 as /v1/reveal sends, or .npy)\n"
         "      --prev FILE       the latent entering step N-1\n"
         "      --key FILE        fetch the prover's latents (POST /v1/reveal) signed with this key: the key that\n"
         "                        sent the challenge (a prover reveals a job only to its sender: the verifier's).\n"
         "                        A diverging step and differing frames are then reported value by value: how\n"
         "                        many differ, the largest |delta| and the first, with their indices\n"
         "      --endpoint URL    the prover (http://host:port); with --redis the log entry names it\n"
         "      --prover HOTKEY   the prover: with --redis, check only its answer; with a RECORD and --key, the\n"
         "                        hotkey the reveal requests are signed for\n"
         "      --redis HOST:PORT the verifier's Redis; its password from $FRACTAL_REDIS_PASSWORD\n"
         "      --prefix P        the verifier's key prefix (default fractal:)\n"
         "      --challenge ID    the challenge log entry (\"1700000000000-0\") or its job_id\n"
         "      --backend B       auto (default), cpu, cuda, cuda:N\n"
         "      --threads N       CPU threads\n"
         "      --version         the version, source commit, build type and CUDA backend\n"
         "Every field of the result is compared with the job regenerated; each difference is one MISMATCH line.\n"
         "Exit status: 0 when everything matches, 1 on a mismatch, 2 on an error.\n");
}

static int err(const char *what)
{
  fprintf(stderr, "fractal-replay: %s%s%s\n", what, *fr_last_error() ? ": " : "", fr_last_error());
  return 2;
}

/* A job and a prover's claimed result, from a JSON text holding {"job": ..., "result": ...}. */
static int parse_record(const char *text, size_t len, const char *where, fr_result *rec)
{
  if (fr_record_parse(text, len, rec) != FR_OK)
    return fprintf(stderr, "fractal-replay: %s: %s\n", where, fr_last_error()), 2;
  return 0;
}

/* A whole decimal number in lo..hi (atoi would read "abc" as 0 and "3x" as 3). */
static int parse_int(const char *s, long lo, long hi, int *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int bad_option(const char *name, const char *value, const char *want)
{
  fprintf(stderr, "fractal-replay: --%s %s: %s\n", name, value, want);
  usage(stderr);
  return 2;
}

static char *read_text(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return fprintf(stderr, "fractal-replay: %s: %s\n", path, strerror(errno)), NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = sz >= 0 ? (char *)malloc((size_t)sz + 1) : NULL;
  if (!text || fread(text, 1, (size_t)sz, f) != (size_t)sz) {
    fclose(f), free(text);
    return fprintf(stderr, "fractal-replay: %s: read failed\n", path), NULL;
  }
  fclose(f);
  text[sz] = '\0';
  *len = (size_t)sz;
  return text;
}

/* ---- the challenge log in Redis ---- */

static redisContext *redis_connect(const char *hostport)
{
  char host[256];
  const char *colon = strrchr(hostport, ':');
  int port = 6379;
  if (colon && parse_int(colon + 1, 1, 65535, &port) != 0)
    return bad_option("redis", hostport, "want HOST:PORT, the port in 1..65535"), NULL;
  snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - hostport) : (int)strlen(hostport), hostport);
  struct timeval tv = {5, 0};
  redisContext *c = redisConnectWithTimeout(host, port, tv);
  if (!c || c->err) {
    fprintf(stderr, "fractal-replay: redis %s: %s\n", hostport, c ? c->errstr : "cannot connect");
    if (c) redisFree(c);
    return NULL;
  }
  const char *pw = getenv("FRACTAL_REDIS_PASSWORD");
  if (pw && *pw) {
    redisReply *r = (redisReply *)redisCommand(c, "AUTH %s", pw);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok) fprintf(stderr, "fractal-replay: redis AUTH: %s\n", r ? r->str : c->errstr);
    freeReplyObject(r);
    if (!ok) return redisFree(c), NULL;
  }
  return c;
}

/* The "data" field of a stream entry reply [id, [field, value, ...]], or NULL. */
static const char *entry_data(const redisReply *e)
{
  if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY) return NULL;
  const redisReply *f = e->element[1];
  for (size_t i = 0; i + 1 < f->elements; i += 2)
    if (strcmp(f->element[i]->str, "data") == 0) return f->element[i + 1]->str;
  return NULL;
}

static int entry_job_id_is(const char *data, const char *id)
{
  json_t *root = json_loads(data, JSON_DECODE_INT_AS_REAL, NULL);
  json_t *job = root ? json_object_get(root, "job") : NULL;
  int yes = json_is_string(json_object_get(job, "job_id")) &&
            strcmp(json_string_value(json_object_get(job, "job_id")), id) == 0;
  json_decref(root);
  return yes;
}

/* The challenge log entry `id` (a stream id, or else a job_id searched newest first), malloc'd. */
static char *fetch_entry(redisContext *c, const char *prefix, const char *id)
{
  char stream[300], end[64] = "+";
  snprintf(stream, sizeof stream, "%schallenges", prefix);
  int is_stream_id = strspn(id, "0123456789-") == strlen(id) && strchr(id, '-');
  for (;;) {
    redisReply *r = is_stream_id ? (redisReply *)redisCommand(c, "XRANGE %s %s %s", stream, id, id)
                                 : (redisReply *)redisCommand(c, "XREVRANGE %s %s - COUNT 500", stream, end);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      fprintf(stderr, "fractal-replay: redis: %s\n", r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
      freeReplyObject(r);
      return NULL;
    }
    for (size_t i = 0; i < r->elements; i++) {
      const char *data = entry_data(r->element[i]);
      if (data && (is_stream_id || entry_job_id_is(data, id))) {
        char *out = strdup(data);
        freeReplyObject(r);
        return out;
      }
    }
    size_t got = r->elements;
    if (got) snprintf(end, sizeof end, "(%s", r->element[got - 1]->element[0]->str); /* exclusive: older ones next */
    freeReplyObject(r);
    if (is_stream_id || got < 500) break;
  }
  fprintf(stderr, "fractal-replay: no challenge %s in %s (the log keeps the most recent entries only)\n", id, stream);
  return NULL;
}

/* Checks every prover (or one) of a challenge log entry; returns the worst exit status. */
static int check_entry(fr_model *m, const char *data, const char *only_prover, int step, replay_source src,
                       const char *endpoint)
{
  fr_job job;
  if (fr_job_parse_member(data, strlen(data), "job", NULL, &job) != FR_OK)
    return fprintf(stderr, "fractal-replay: the log entry's job: %s\n", fr_last_error()), 2;
  fr_job_fill_size(m, &job);
  json_t *root = json_loads(data, JSON_DECODE_INT_AS_REAL, NULL),
         *provers = root ? json_object_get(root, "provers") : NULL;
  if (!json_is_array(provers)) {
    json_decref(root);
    return fprintf(stderr, "fractal-replay: the log entry has no provers\n"), 2;
  }
  fr_model_info info;
  fr_model_get_info(m, &info);
  int rc = 0, checked = 0;
  size_t i;
  json_t *p;
  json_array_foreach(provers, i, p)
  {
    const char *hk = json_string_value(json_object_get(p, "hotkey"));
    if (!hk || (only_prover && strcmp(hk, only_prover) != 0)) continue;
    checked++;
    json_t *res = json_object_get(p, "result");
    const char *logged = json_string_value(json_object_get(p, "verdict")),
               *reason = json_string_value(json_object_get(p, "reason"));
    printf("prover %s (logged verdict: %s%s%s):\n", hk, logged ? logged : "?", reason ? ", " : "",
           reason ? reason : "");
    if (!json_is_object(res)) {
      printf("MISMATCH: no result to check\n");
      rc = rc > 1 ? rc : 1;
      continue;
    }
    src.hotkey = hk;
    src.url = endpoint ? endpoint : json_string_value(json_object_get(p, "endpoint"));
    if (src.key && !src.url) {
      fprintf(stderr, "fractal-replay: the log entry does not name prover %.16s...'s endpoint: give --endpoint\n", hk);
      rc = 2;
      continue;
    }
    char *text = json_dumps(res, JSON_COMPACT);
    fr_result claimed;
    int r = 2;
    if (!text) fprintf(stderr, "fractal-replay: out of memory\n");
    else if (fr_result_parse(text, strlen(text), &job, &claimed) != FR_OK)
      fprintf(stderr, "fractal-replay: the logged result: %s\n", fr_last_error());
    else if (strcmp(claimed.job.model, info.digest_hex) != 0)
      fprintf(stderr, "fractal-replay: the job is for model %s, the loaded model is %s\n", claimed.job.model,
              info.digest_hex);
    else r = step >= 0 ? replay_check_step(m, &claimed, step, &src) : replay_check_all(m, &claimed, &src);
    free(text);
    fflush(stdout);
    rc = r > rc ? r : rc;
  }
  json_decref(root);
  if (!checked) return fprintf(stderr, "fractal-replay: no such prover in the log entry\n"), 2;
  return rc;
}

int main(int argc, char **argv)
{
  const char *model = NULL, *backend = "auto", *latent = NULL, *prev = NULL, *redis = NULL, *prefix = "fractal:";
  const char *challenge = NULL, *prover = NULL, *key_file = NULL, *endpoint = NULL;
  int step = -1, threads = 0, ch;
  /* clang-format off */ /* a table: one entry per line */
  static const struct option longopts[] = {
    {"model", required_argument, 0, 'm'},     {"step", required_argument, 0, 's'},   {"latent", required_argument, 0, 'l'},
    {"prev", required_argument, 0, 'p'},      {"backend", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
    {"redis", required_argument, 0, 'r'},     {"prefix", required_argument, 0, 'x'},  {"challenge", required_argument, 0, 'c'},
    {"prover", required_argument, 0, 'v'},    {"key", required_argument, 0, 'k'},    {"endpoint", required_argument, 0, 'e'},
    {"version", no_argument, 0, 'V'},         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  /* clang-format on */
  while ((ch = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'm': model = optarg; break;
    case 's':
      if (parse_int(optarg, 0, 199, &step)) return bad_option("step", optarg, "want a step number in 0..199");
      break;
    case 'l': latent = optarg; break;
    case 'p': prev = optarg; break;
    case 'b': backend = optarg; break;
    case 't':
      if (parse_int(optarg, 0, 1024, &threads)) return bad_option("threads", optarg, "want 0..1024 (0: all cores)");
      break;
    case 'r': redis = optarg; break;
    case 'x': prefix = optarg; break;
    case 'c': challenge = optarg; break;
    case 'v': prover = optarg; break;
    case 'k': key_file = optarg; break;
    case 'e': endpoint = optarg; break;
    case 'V': fr_print_version(stdout, "fractal-replay"); return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  int from_redis = redis != NULL;
  if (!model || (from_redis ? (optind != argc || !challenge) : (optind != argc - 1))) return usage(stderr), 2;
  const char *why = NULL;
  if ((latent || prev) && step < 0) why = "--latent and --prev go with --step";
  else if (prev && !latent) why = "--prev goes with --latent";
  else if (latent && from_redis && !prover) why = "--latent with --redis checks one prover: give --prover";
  else if (step > 0 && !latent && !key_file)
    why = "--step N needs the latent entering it: --latent FILE, or --key to fetch it";
  else if (key_file && !from_redis && (!endpoint || !prover)) why = "--key with a RECORD needs --endpoint and --prover";
  else if (endpoint && !key_file) why = "--endpoint goes with --key";
  if (why) return fprintf(stderr, "fractal-replay: %s\n", why), usage(stderr), 2;
  fr_key key;
  if (key_file && fr_key_load(key_file, &key) != FR_OK) return err(key_file);
  replay_source src = {key_file ? &key : NULL, endpoint, prover, latent, prev};
  char *text = NULL;
  size_t len = 0;
  if (from_redis) {
    redisContext *c = redis_connect(redis);
    if (!c) return 2;
    text = fetch_entry(c, prefix, challenge);
    redisFree(c);
  } else {
    text = read_text(argv[optind], &len);
  }
  if (!text) return 2;
  fr_result rec;
  if (!from_redis && parse_record(text, len, argv[optind], &rec) != 0) return free(text), 2;
  fr_backend *be;
  fr_model *m;
  if (fr_backend_open(backend, threads, &be) != FR_OK) return free(text), err("backend");
  if (fr_model_load(model, be, NULL, &m) != FR_OK) return free(text), err("loading the model");
  fr_model_info info;
  fr_model_get_info(m, &info);
  if (!from_redis) fr_job_fill_size(m, &rec.job); /* a record's job that leaves out its size */
  int rc;
  if (!from_redis && strcmp(rec.job.model, info.digest_hex) != 0) {
    fprintf(stderr, "fractal-replay: the job is for model %s but %s is %s\n", rec.job.model, model, info.digest_hex);
    rc = 2;
  } else if (from_redis) {
    rc = check_entry(m, text, prover, step, src, endpoint);
  } else {
    rc = step >= 0 ? replay_check_step(m, &rec, step, &src) : replay_check_all(m, &rec, &src);
  }
  free(text);
  fr_model_free(m);
  fr_backend_close(be);
  return rc;
}
