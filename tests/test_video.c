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
  CHECK_OK(fr_video_write(a, edge, frames, height, width, 8, NULL));
  CHECK_OK(fr_video_write(b, plain, frames, height, width, 8, NULL));
  size_t na, nb;
  unsigned char *fa = read_all(a, &na), *fb = read_all(b, &nb);
  CHECK(fa && fb && na == nb && memcmp(fa, fb, na) == 0,
        "%d frames of %dx%d: the same MP4 from either buffer (%zu, %zu bytes)", frames, width, height, na, nb);
  /* in memory: the same bytes as the file, and whole MP4 boxes from start to end (the muxer seeks back to
   * write the media data's size: a lost seek leaves boxes that do not add up) */
  uint8_t *mem = NULL;
  size_t nm = 0;
  CHECK_OK(fr_video_encode(FR_VIDEO_MP4, edge, frames, height, width, 8, &mem, &nm, NULL));
  CHECK(mem && fa && nm == na && memcmp(mem, fa, nm) == 0, "%d frames of %dx%d: the MP4 in memory is the file's bytes",
        frames, width, height);
  int ftyp = 0, moov = 0, mdat = 0;
  size_t at = 0;
  while (mem && at + 8 <= nm) {
    size_t size = (size_t)mem[at] << 24 | (size_t)mem[at + 1] << 16 | (size_t)mem[at + 2] << 8 | mem[at + 3];
    if (size < 8 || size > nm - at) break;
    ftyp |= at == 0 && memcmp(mem + at + 4, "ftyp", 4) == 0;
    moov |= memcmp(mem + at + 4, "moov", 4) == 0;
    mdat |= memcmp(mem + at + 4, "mdat", 4) == 0;
    at += size;
  }
  CHECK(at == nm && ftyp && moov && mdat, "%d frames of %dx%d: boxes cover %zu of %zu bytes (ftyp %d moov %d mdat %d)",
        frames, width, height, at, nm, ftyp, moov, mdat);
  free(mem);
  free(fa), free(fb), free(plain);
  munmap(map, span + page);
}

/* Which names say which format; the rest is refused with the formats named. */
static void formats(void)
{
  static const struct {
    const char *path;
    int want; /* -1: refused */
  } cases[] = {{"a.mp4", FR_VIDEO_MP4},
               {"dir.gif/a.webm", FR_VIDEO_WEBM},
               {"x.gif", FR_VIDEO_GIF},
               {"f_%03d.png", FR_VIDEO_PNG_FRAMES},
               {"%d.png", FR_VIDEO_PNG_FRAMES},
               {"100%%_%5d.png", FR_VIDEO_PNG_FRAMES},
               {"a.gif.mp4", FR_VIDEO_MP4},
               {"a.avi", -1},
               {"a.png", -1},
               {"%d_%d.png", -1},
               {"%s.png", -1},
               {"%03x.png", -1},
               {"%10d.png", -1},
               {"a.MP4", -1},
               {"", -1},
               {"%d.mp4", FR_VIDEO_MP4}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fr_video_format f = FR_VIDEO_MP4;
    fr_status st = fr_video_format_of(cases[i].path, &f);
    if (cases[i].want < 0)
      CHECK(st == FR_EINVAL && strstr(fr_last_error(), cases[i].path), "\"%s\" is refused, naming it: %s",
            cases[i].path, fr_last_error());
    else CHECK(st == FR_OK && (int)f == cases[i].want, "\"%s\" is %s", cases[i].path, fr_video_format_name(f));
  }
}

/* WebM, GIF and PNG frames: the files are what their names say. */
static void other_formats(void)
{
  int frames = 3, height = 18, width = 22;
  size_t n = (size_t)frames * height * width * 3;
  uint8_t *rgb = (uint8_t *)malloc(n);
  for (size_t i = 0; i < n; i++) rgb[i] = (uint8_t)(i * 2654435761u >> 13);
  char path[160];
  snprintf(path, sizeof path, "%s/v.webm", dir);
  const char *codec = "";
  CHECK_OK(fr_video_write(path, rgb, frames, height, width, 8, &codec));
  size_t len;
  unsigned char *b = read_all(path, &len);
  CHECK(b && len > 4 && memcmp(b, "\x1a\x45\xdf\xa3", 4) == 0 && strstr(codec, "vp"),
        "a WebM: an EBML header, encoded with %s", codec);
  free(b);
  snprintf(path, sizeof path, "%s/v.gif", dir);
  CHECK_OK(fr_video_write(path, rgb, frames, 17, 23, 8, &codec)); /* odd sizes: GIF takes them */
  b = read_all(path, &len);
  CHECK(b && len > 10 && memcmp(b, "GIF89a", 6) == 0 && b[6] == 23 && b[8] == 17, "a GIF89a of 23x17");
  free(b);
  uint8_t *mem = (uint8_t *)1;
  size_t nm = 1;
  CHECK(fr_video_encode(FR_VIDEO_WEBM, rgb, frames, 17, 23, 8, &mem, &nm, NULL) == FR_EINVAL && !mem,
        "a WebM of odd sizes is refused: %s", fr_last_error());
  snprintf(path, sizeof path, "%s/f_%%02d.png", dir);
  CHECK_OK(fr_video_write(path, rgb, frames, height, width, 8, &codec));
  for (int f = 0; f <= frames; f++) {
    char one[160];
    snprintf(one, sizeof one, "%s/f_%02d.png", dir, f);
    b = read_all(one, &len);
    if (f == frames) CHECK(!b, "no PNG past the last frame");
    else
      CHECK(b && len > 24 && memcmp(b, "\x89PNG", 4) == 0 && b[19] == width && b[23] == height,
            "frame %d is a %dx%d PNG", f, width, height);
    free(b);
  }
  snprintf(path, sizeof path, "%s/none/v.gif", dir);
  CHECK(fr_video_write(path, rgb, frames, height, width, 8, NULL) == FR_EIO && strstr(fr_last_error(), "none/v.gif"),
        "an unwritable path is named: %s", fr_last_error());
  free(rgb);
}

int main(void)
{
  snprintf(dir, sizeof dir, "/tmp/fractal-video-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  encode_at_the_edge(2, 64, 64); /* the tiny model's frames */
  encode_at_the_edge(1, 2, 2);   /* the smallest video: 6-byte rows */
  encode_at_the_edge(3, 30, 34); /* width not a multiple of 8 */
  encode_at_the_edge(1, 16, 24);
  formats();
  other_formats();
  uint8_t *mem = (uint8_t *)1;
  size_t nm = 1;
  CHECK(fr_video_encode(FR_VIDEO_MP4, NULL, 0, 64, 64, 8, &mem, &nm, NULL) == FR_EINVAL && !mem && nm == 0,
        "no frames: an error and no buffer");
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return check_done("test_video");
}
