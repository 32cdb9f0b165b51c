/* MP4 output reads only the frames it is given: each video is encoded from an array that ends right before
 * an inaccessible page (an overread past the last pixel faults), for sizes whose rows are and are not a
 * multiple of swscale's SIMD width, and gives the same bytes as the same frames in an ordinary buffer. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "fractal/video.h"

static char dir[64];

static unsigned char *read_all(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  unsigned char *b = NULL;
  *n = 0;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long sz = ftell(f);
    b = sz > 0 ? (unsigned char *)malloc((size_t)sz) : NULL;
    if (b && (fseek(f, 0, SEEK_SET) != 0 || fread(b, 1, (size_t)sz, f) != (size_t)sz)) free(b), b = NULL;
    if (b) *n = (size_t)sz;
  }
  fclose(f);
  return b;
}

static void encode_at_the_edge(int frames, int height, int width)
{
  size_t n = (size_t)frames * (size_t)height * (size_t)width * 3, page = (size_t)sysconf(_SC_PAGESIZE);
  size_t span = (n + page - 1) / page * page;
  unsigned char *map =
      (unsigned char *)mmap(NULL, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED || mprotect(map + span, page, PROT_NONE) != 0) {
    CHECK(0, "cannot map a guarded buffer");
    return;
  }
  unsigned char *edge = map + span - n, *plain = (unsigned char *)malloc(n);
  for (size_t i = 0; i < n; i++) edge[i] = plain[i] = (unsigned char)(i * 2654435761u >> 13);
  char a[128], b[128];
  snprintf(a, sizeof a, "%s/edge.mp4", dir);
  snprintf(b, sizeof b, "%s/plain.mp4", dir);
  CHECK_OK(fr_video_write_mp4(a, edge, frames, height, width, 8, NULL));
  CHECK_OK(fr_video_write_mp4(b, plain, frames, height, width, 8, NULL));
  size_t na, nb;
  unsigned char *fa = read_all(a, &na), *fb = read_all(b, &nb);
  CHECK(fa && fb && na == nb && memcmp(fa, fb, na) == 0,
        "%d frames of %dx%d: the same MP4 from either buffer (%zu, %zu bytes)", frames, width, height, na, nb);
  free(fa), free(fb), free(plain);
  munmap(map, span + page);
}

int main(void)
{
  snprintf(dir, sizeof dir, "/tmp/fractal-video-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  encode_at_the_edge(2, 64, 64); /* the tiny model's frames */
  encode_at_the_edge(1, 2, 2);   /* the smallest video: 6-byte rows */
  encode_at_the_edge(3, 30, 34); /* width not a multiple of 8 */
  encode_at_the_edge(1, 16, 24);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return check_done("test_video");
}
