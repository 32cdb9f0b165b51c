/* The verifier's journal: the records made while Redis cannot take them, appended and fsync'd, each one
 * framed as RS "fj1 " <length> " " <crc32, 8 hex> " " <JSON> "\n" (RS = 0x1e, which JSON text never
 * holds), so that a write cut short (a full disk, a crash) is detected and never joins the next record. */
#ifndef FRACTALD_JOURNAL_H
#define FRACTALD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

typedef struct journal {
  char path[1024];
  off_t end;                        /* the end of the last good record: the next one is written here */
  int records;                      /* good records in the file */
  char error[256];                  /* why the last append failed; "" once one succeeds */
  uint64_t unreadable, torn_writes; /* stretches that were no readable record; appends cut short */
} journal;

/* Reads the journal at path (none: empty). Every stretch that is not a readable record is reported at
 * error level, counted, appended to PATH.rejected and cut out, so that the file then holds only good
 * records. -1 with a message in err when the file cannot be read or rewritten. */
int journal_open(journal *j, const char *path, char *err, size_t errn);
/* Appends one record (JSON text) and fsyncs it. A write cut short is cut back to the last good record
 * (and, should that fail, overwritten by the next append; replay skips it either way). 0, or -1 with
 * the reason in j->error. */
int journal_append(journal *j, const char *json);
/* Calls fn with each record in order until it returns nonzero (then returns that value); 0 when every
 * record was read, -1 if the file cannot be read. Unreadable stretches are reported and counted. */
int journal_each(journal *j, int (*fn)(void *ctx, json_t *record), void *ctx);
/* Empties the journal (its records are in Redis). */
int journal_clear(journal *j);

#endif
