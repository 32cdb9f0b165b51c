/* fractal-client: sends one signed request to a Fractal node and prints the answer (operators, tests). */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/client.h"
#include "fractal/version.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: fractal-client [options] URL METHOD PATH\n"
             "Sends a signed request (docs/protocol.md) and prints the status line to stderr, the body to stdout.\n"
             "  -k, --key FILE        this node's key file (without it the request is unsigned)\n"
             "  -p, --peer HOTKEY     the receiver's hotkey (needed to sign)\n"
             "  -d, --data BODY       request body; @FILE reads it from a file\n"
             "  -o, --output FILE     write the body there instead of stdout\n"
             "  -t, --timeout S       seconds (default 600)\n"
             "      --header NAME     print that response header's value to stdout (the body then goes\n"
             "                        only to --output)\n"
             "  -D, --dump-header FILE  write the response's header lines to FILE\n"
             "      --version         the version, source commit, build type and CUDA backend\n"
             "  for testing a receiver:\n"
             "      --nonce N         sign with this nonce instead of the current time\n"
             "      --bad-signature   send a signature that does not verify\n"
             "      --sign-target T   sign the request target T, but send PATH\n"
             "      --nonce-header V  send V as Fractal-Nonce (the signature covers the nonce signed)\n"
             "Exit status: 0 for a 2xx answer, 1 for any other answer, 2 when no answer came.\n");
}

static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 65536, n = 0, got;
  char *buf = (char *)malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *b = (char *)realloc(buf, cap *= 2);
      if (!b) free(buf);
      buf = b;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

int main(int argc, char **argv)
{
  const char *keyfile = NULL, *peer = NULL, *data = NULL, *output = NULL, *header = NULL, *dump = NULL;
  long timeout = 600;
  fr_request_options ro = {0};
  int ch;
  static const struct option longopts[] = {{"key", required_argument, 0, 'k'},
                                           {"peer", required_argument, 0, 'p'},
                                           {"data", required_argument, 0, 'd'},
                                           {"output", required_argument, 0, 'o'},
                                           {"timeout", required_argument, 0, 't'},
                                           {"header", required_argument, 0, 'H'},
                                           {"nonce", required_argument, 0, 'n'},
                                           {"bad-signature", no_argument, 0, 'b'},
                                           {"dump-header", required_argument, 0, 'D'},
                                           {"sign-target", required_argument, 0, 'S'},
                                           {"nonce-header", required_argument, 0, 'N'},
                                           {"version", no_argument, 0, 'V'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  while ((ch = getopt_long(argc, argv, "k:p:d:o:t:D:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'k': keyfile = optarg; break;
    case 'p': peer = optarg; break;
    case 'd': data = optarg; break;
    case 'o': output = optarg; break;
    case 't': {
      char *end;
      errno = 0;
      timeout = strtol(optarg, &end, 10);
      if (errno || end == optarg || *end) timeout = 0; /* refused below */
      break;
    }
    case 'H': header = optarg; break;
    case 'D': dump = optarg; break;
    case 'n': ro.nonce = strtoull(optarg, NULL, 10); break;
    case 'b': ro.flip_signature = 1; break;
    case 'S': ro.sign_target = optarg; break;
    case 'N': ro.nonce_header = optarg; break;
    case 'V': fr_print_version(stdout, "fractal-client"); return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind + 3 != argc || timeout < 1) return usage(stderr), 2;
  fr_key key;
  if (keyfile && fr_key_load(keyfile, &key) != FR_OK)
    return fprintf(stderr, "fractal-client: %s\n", fr_last_error()), 2;
  if (keyfile && !peer) return fprintf(stderr, "fractal-client: --peer HOTKEY is needed to sign\n"), 2;
  char *body = NULL;
  size_t len = 0;
  if (data && data[0] == '@') {
    body = slurp(data + 1, &len);
    if (!body) return fprintf(stderr, "fractal-client: %s: %s\n", data + 1, strerror(errno)), 2;
  } else if (data) {
    body = strdup(data);
    len = strlen(data);
  }
  fr_response r;
  if (fr_request_ex(keyfile ? &key : NULL, peer, argv[optind], argv[optind + 1], argv[optind + 2], body, len,
                    timeout * 1000, &ro, &r) != FR_OK) {
    free(body);
    return fprintf(stderr, "fractal-client: %s\n", fr_last_error()), 2;
  }
  free(body);
  fprintf(stderr, "HTTP %ld (%.3f s)\n", r.status, r.seconds);
  int rc = r.status >= 200 && r.status < 300 ? 0 : 1;
  FILE *f;
  if (dump && (!(f = fopen(dump, "wb")) || fputs(r.headers ? r.headers : "", f) < 0 || fclose(f) != 0))
    rc = 2, fprintf(stderr, "fractal-client: %s: write failed\n", dump);
  if (output && (!(f = fopen(output, "wb")) || fwrite(r.body, 1, r.len, f) != r.len || fclose(f) != 0))
    rc = 2, fprintf(stderr, "fractal-client: %s: write failed\n", output);
  if (header) {
    char *v = (char *)malloc(r.headers ? strlen(r.headers) + 1 : 1);
    if (v && fr_response_header(&r, header, v, strlen(r.headers ? r.headers : "") + 1) == 0) printf("%s\n", v);
    free(v);
  } else if (!output) {
    fwrite(r.body, 1, r.len, stdout);
    if (r.len && r.body[r.len - 1] != '\n') putchar('\n');
  }
  fr_response_free(&r);
  return rc;
}
