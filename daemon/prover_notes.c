/* The verdict notices a prover keeps (see prover_notes.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "prover_notes.h"

void notes_init(prover_notes *s)
{
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
}

void notes_free(prover_notes *s) { pthread_mutex_destroy(&s->mu); }

static int fail(char *err, size_t errn, const char *msg) { return snprintf(err, errn, "%s", msg), -1; }

int notes_add(prover_notes *s, const char *sender, const char *body, size_t len, verdict_note *kept, char *err,
              size_t errn)
{
  json_error_t e;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
  if (!root) return snprintf(err, errn, "invalid JSON: %s", e.text), -1;
  const char *keys[] = {"job_id", "verdict", "reason", "step", "reward"};
  const char *key;
  json_t *v;
  int known = 1;
  json_object_foreach(root, key, v)
  {
    int hit = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) hit |= strcmp(key, keys[i]) == 0;
    known &= hit;
  }
  json_t *id = json_object_get(root, "job_id"), *verdict = json_object_get(root, "verdict"),
         *reason = json_object_get(root, "reason"), *step = json_object_get(root, "step"),
         *reward = json_object_get(root, "reward");
  const char *vs = json_string_value(verdict);
  int rc = 0;
  if (!json_is_object(root) || !known)
    rc = fail(err, errn, "want {\"job_id\", \"verdict\", and optionally \"reason\", \"step\", \"reward\"}");
  else if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > FR_JOB_ID_MAX)
    rc = fail(err, errn, "job_id must be a string of 1..128 bytes");
  else if (!vs || (strcmp(vs, "ok") != 0 && strcmp(vs, "fail") != 0 && strcmp(vs, "unjudged") != 0))
    rc = fail(err, errn, "verdict must be \"ok\", \"fail\" or \"unjudged\"");
  else if (reason && (!json_is_string(reason) || json_string_length(reason) >= sizeof s->last[0].reason))
    rc = fail(err, errn, "reason must be a string under 320 bytes");
  else if (step && (!json_is_integer(step) || json_integer_value(step) < 0))
    rc = fail(err, errn, "step must be a whole number >= 0");
  else if (reward && (!json_is_number(reward) || !isfinite(json_number_value(reward))))
    rc = fail(err, errn, "reward must be a finite number");
  if (rc == 0) {
    verdict_note nt = {.time = (double)fr_now_ns() * 1e-9,
                       .step = step ? (long)json_integer_value(step) : -1,
                       .reward = reward ? json_number_value(reward) : NAN};
    snprintf(nt.verifier, sizeof nt.verifier, "%s", sender);
    snprintf(nt.job_id, sizeof nt.job_id, "%s", json_string_value(id));
    snprintf(nt.verdict, sizeof nt.verdict, "%s", vs);
    snprintf(nt.reason, sizeof nt.reason, "%s", reason ? json_string_value(reason) : "");
    if (kept) *kept = nt;
    pthread_mutex_lock(&s->mu);
    s->last[s->next] = nt;
    s->next = (s->next + 1) % NOTES_KEPT;
    s->count += s->count < NOTES_KEPT;
    if (vs[0] == 'o') s->ok++, s->last_ok_time = nt.time;
    else if (vs[0] == 'f') s->fail++, s->last_fail_time = nt.time;
    else s->unjudged++;
    pthread_mutex_unlock(&s->mu);
  }
  json_decref(root);
  return rc;
}

json_t *notes_json(prover_notes *s)
{
  json_t *last = json_array();
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < s->count; i++) {
    const verdict_note *nt = &s->last[(s->next - 1 - i + NOTES_KEPT) % NOTES_KEPT];
    json_t *o = json_pack("{s:f,s:s,s:s,s:s,s:s}", "time", nt->time, "verifier", nt->verifier, "job_id", nt->job_id,
                          "verdict", nt->verdict, "reason", nt->reason);
    if (o && nt->step >= 0) json_object_set_new(o, "step", json_integer(nt->step));
    if (o && !isnan(nt->reward)) json_object_set_new(o, "reward", json_real(nt->reward));
    if (o) json_array_append_new(last, o);
  }
  json_t *out = json_pack("{s:I,s:I,s:I,s:o}", "ok", (json_int_t)s->ok, "fail", (json_int_t)s->fail, "unjudged",
                          (json_int_t)s->unjudged, "last", last);
  pthread_mutex_unlock(&s->mu);
  return out;
}

void notes_metrics(prover_notes *s, char *out, size_t n)
{
  size_t at = strlen(out);
  if (at >= n) return;
  pthread_mutex_lock(&s->mu);
  snprintf(out + at, n - at,
           "# HELP fractal_verdicts_total Verdicts verifiers sent this prover about its answers, by verdict.\n"
           "# TYPE fractal_verdicts_total counter\nfractal_verdicts_total{verdict=\"ok\"} %llu\n"
           "fractal_verdicts_total{verdict=\"fail\"} %llu\nfractal_verdicts_total{verdict=\"unjudged\"} %llu\n"
           "# HELP fractal_last_verdict_time_seconds When the last verdict of each kind came (Unix time; 0: none).\n"
           "# TYPE fractal_last_verdict_time_seconds gauge\n"
           "fractal_last_verdict_time_seconds{verdict=\"ok\"} %.3f\n"
           "fractal_last_verdict_time_seconds{verdict=\"fail\"} %.3f\n",
           (unsigned long long)s->ok, (unsigned long long)s->fail, (unsigned long long)s->unjudged, s->last_ok_time,
           s->last_fail_time);
  pthread_mutex_unlock(&s->mu);
}
