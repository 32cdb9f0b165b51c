/* The verifier's journal of framed, checksummed records (see journal.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"

#define RS '\x1e'
#define MAGIC "fj1 "

static uint32_t crc32_of(const char *p, size_t n)
{
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= (unsigned char)p[i];
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
  }
  return ~c;
}

/* The size of the whole, good record at p (`left` bytes on), its JSON in *out; 0 if there is none. */
static size_t parse_record(const char *p, size_t left, json_t **out)
{
  size_t at = 1 + strlen(MAGIC), len = 0;
  if (left < at || p[0] != RS || memcmp(p + 1, MAGIC, strlen(MAGIC)) != 0) return 0;
  int digits = 0;
  while (at < left && p[at] >= '0' && p[at] <= '9' && digits < 10) len = len * 10 + (size_t)(p[at++] - '0'), digits++;
  if (!digits || at + 10 > left || p[at] != ' ' || p[at + 9] != ' ') return 0;
  char hex[9];
  memcpy(hex, p + at + 1, 8), hex[8] = '\0';
  char *end;
  unsigned long crc = strtoul(hex, &end, 16);
  if (end != hex + 8) return 0;
  at += 10;
  if (len >= left - at || p[at + len] != '\n' || crc32_of(p + at, len) != (uint32_t)crc) return 0;
  json_t *r = json_loadb(p + at, len, 0, NULL);
  if (!json_is_object(r)) return json_decref(r), 0;
  *out = r;
  return at + len + 1;
}

/* The file's first `limit` bytes (all with limit < 0), malloc'd; NULL with *n 0 if it does not exist. */
static char *slurp(const char *path, off_t limit, size_t *n, int *missing)
{
  *n = 0, *missing = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return *missing = errno == ENOENT, NULL;
  struct stat sb;
  if (fstat(fd, &sb) != 0) return close(fd), NULL;
  size_t size = (size_t)(limit >= 0 && limit < sb.st_size ? limit : sb.st_size);
  char *buf = (char *)malloc(size + 1);
  size_t got = 0;
  while (buf && got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (buf && got < size) return free(buf), NULL;
  *n = size;
  return buf;
}

/* Walks buf: good records to fn (unless NULL), unreadable stretches reported, counted and to bad (unless
 * NULL), or with quiet only counted. Returns what fn returned to stop, else 0. */
static int scan(journal *j, const char *buf, size_t size, int quiet, int (*fn)(void *, json_t *, const char *, size_t),
                void *ctx, void (*bad)(void *, const char *, size_t), void *bctx)
{
  size_t at = 0;
  while (at < size) {
    json_t *r = NULL;
    size_t len = parse_record(buf + at, size - at, &r);
    if (len) {
      int stop = fn ? fn(ctx, r, buf + at, len) : 0;
      json_decref(r);
      if (stop) return stop;
      at += len;
      continue;
    }
    const char *next = (const char *)memchr(buf + at + 1, RS, size - at - 1);
    size_t skip = next ? (size_t)(next - (buf + at)) : size - at;
    j->unreadable++;
    if (!quiet)
      LOG(LOG_ERROR,
          "journal %s: bytes %zu..%zu (%zu) are not a readable record (%s): skipped, and kept in %s.rejected", j->path,
          at, at + skip, skip,
          next ? "a record in the middle is damaged: what it held is lost"
               : "a write cut short at the end: that step had not finished",
          j->path);
    if (bad) bad(bctx, buf + at, skip);
    at += skip;
  }
  return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return -1;
    p += w, n -= (size_t)w;
  }
  return 0;
}

typedef struct rewrite {
  int fd, rejected, failed, records;
} rewrite;

static int keep_good(void *ctx, json_t *r, const char *raw, size_t len)
{
  rewrite *w = (rewrite *)ctx;
  if (write_all(w->fd, raw, len) != 0) w->failed = 1;
  w->records++;
  return 0;
}

static void keep_bad(void *ctx, const char *raw, size_t len)
{
  rewrite *w = (rewrite *)ctx;
  if (w->rejected < 0 || write_all(w->rejected, raw, len) != 0 || write_all(w->rejected, "\n", 1) != 0) w->failed = 1;
}

static int count_good(void *ctx, json_t *r, const char *raw, size_t len) { return ++*(int *)ctx, 0; }

int journal_open(journal *j, const char *path, char *err, size_t errn)
{
  memset(j, 0, sizeof *j);
  snprintf(j->path, sizeof j->path, "%s", path);
  size_t size;
  int missing;
  char *buf = slurp(path, -1, &size, &missing);
  if (!buf) return missing ? 0 : (snprintf(err, errn, "journal %s: %s", path, strerror(errno ? errno : EIO)), -1);
  scan(j, buf, size, 1, count_good, &j->records, NULL, NULL);
  if (!j->unreadable) {
    j->end = (off_t)size;
    free(buf);
    return 0;
  }
  /* Keep the unreadable bytes aside and the good records alone in the journal (written aside, then
   * renamed over it, so that a crash now leaves one or the other whole). */
  char tmp[1100], rejected[1100], dir[1024];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  snprintf(rejected, sizeof rejected, "%s.rejected", path);
  rewrite w = {open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600), open(rejected, O_WRONLY | O_CREAT | O_APPEND, 0600), 0,
               0};
  j->unreadable = 0; /* scanned again, now saying so, counted once */
  if (w.fd >= 0) scan(j, buf, size, 0, keep_good, &w, keep_bad, &w);
  int ok = w.fd >= 0 && !w.failed && fsync(w.fd) == 0 && (w.rejected < 0 || fsync(w.rejected) == 0);
  if (w.fd >= 0) close(w.fd);
  if (w.rejected >= 0) close(w.rejected);
  ok = ok && rename(tmp, path) == 0;
  snprintf(dir, sizeof dir, "%s", path);
  int dfd = ok ? open(dirname(dir), O_RDONLY) : -1;
  if (dfd >= 0) fsync(dfd), close(dfd);
  free(buf);
  if (!ok)
    return snprintf(err, errn, "journal %s: cannot set its unreadable bytes aside: %s", path,
                    strerror(errno ? errno : EIO)),
           -1;
  struct stat sb;
  j->end = stat(path, &sb) == 0 ? sb.st_size : 0;
  j->records = w.records;
  return 0;
}

int journal_append(journal *j, const char *json)
{
  size_t len = strlen(json), cap = len + 64;
  char *rec = (char *)malloc(cap);
  if (!rec) return snprintf(j->error, sizeof j->error, "out of memory"), -1;
  int n = snprintf(rec, cap, "%c" MAGIC "%zu %08x ", RS, len, (unsigned)crc32_of(json, len));
  memcpy(rec + n, json, len); /* NOLINT(bugprone-not-null-terminated-result): a framed record ending in \n */
  rec[n + (int)len] = '\n';
  size_t total = (size_t)n + len + 1, done = 0;
  int fd = open(j->path, O_WRONLY | O_CREAT, 0600), err = 0;
  if (fd < 0) err = errno;
  while (fd >= 0 && done < total) { /* at the end of the last good record, over anything torn after it */
    ssize_t w = pwrite(fd, rec + done, total - done, j->end + (off_t)done);
    if (w <= 0) {
      err = w < 0 ? errno : EIO;
      break;
    }
    done += (size_t)w;
  }
  if (fd >= 0 && done == total && fsync(fd) != 0) err = errno;
  free(rec);
  if (fd >= 0 && !err) {
    close(fd);
    j->end += (off_t)total, j->records++, j->error[0] = '\0';
    return 0;
  }
  snprintf(j->error, sizeof j->error, "%s", strerror(err));
  if (done) {
    j->torn_writes++;
    int cut = ftruncate(fd, j->end) == 0 && fsync(fd) == 0;
    const char *what =
        cut ? "cut back to the last good record" : "it stays until the next record overwrites it; replay skips it";
    if (done < total)
      LOG(LOG_ERROR, "journal %s: a record of %zu bytes was cut short after %zu (%s): %s", j->path, total, done,
          j->error, what);
    else
      LOG(LOG_ERROR, "journal %s: a record of %zu bytes could not be synced (%s): %s", j->path, total, j->error, what);
  } else {
    LOG(LOG_ERROR, "journal %s: cannot write a record: %s", j->path, j->error);
  }
  if (fd >= 0) close(fd);
  return -1;
}

typedef struct each_ctx {
  int (*fn)(void *, json_t *);
  void *ctx;
} each_ctx;

static int each_one(void *ctx, json_t *r, const char *raw, size_t len)
{
  each_ctx *e = (each_ctx *)ctx;
  return e->fn(e->ctx, r);
}

int journal_each(journal *j, int (*fn)(void *ctx, json_t *record), void *ctx)
{
  if (!j->end) return 0;
  size_t size;
  int missing;
  char *buf = slurp(j->path, j->end, &size, &missing); /* past the end: a torn write already reported */
  if (!buf) {
    LOG(LOG_ERROR, "journal %s: cannot be read: %s", j->path, missing ? "it is gone" : strerror(errno ? errno : EIO));
    return -1;
  }
  each_ctx e = {fn, ctx};
  int rc = scan(j, buf, size, 0, each_one, &e, NULL, NULL);
  free(buf);
  return rc;
}

int journal_clear(journal *j)
{
  int fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || fsync(fd) != 0) {
    if (fd >= 0) close(fd);
    LOG(LOG_ERROR, "journal %s: cannot be emptied: %s", j->path, strerror(errno));
    return -1;
  }
  close(fd);
  j->end = 0, j->records = 0;
  return 0;
}
