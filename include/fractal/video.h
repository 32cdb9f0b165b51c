/* Writing frames out: an MP4 (H.264 through libavcodec, MPEG-4 Part 2 where no H.264 encoder is built
 * in), a WebM (VP9, else VP8), an animated GIF (a fixed 256-colour palette, dithered), one PNG per frame,
 * and a PNG contact sheet. Frames are RGB uint8, [frames, height, width, 3]. */
#ifndef FRACTAL_VIDEO_H
#define FRACTAL_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fr_video_format {
  FR_VIDEO_MP4,       /* .mp4 */
  FR_VIDEO_WEBM,      /* .webm */
  FR_VIDEO_GIF,       /* .gif */
  FR_VIDEO_PNG_FRAMES /* a pattern with one integer conversion ending in .png: frame_%03d.png, frames from 0 */
} fr_video_format;

/* The format a path's name says: its extension, or a .png frame pattern (exactly one %d, %Nd or %0Nd, and
 * %% for a literal %). Anything else is FR_EINVAL with a message naming the path and the formats. */
fr_status fr_video_format_of(const char *path, fr_video_format *out);
const char *fr_video_format_name(fr_video_format f); /* "mp4", "webm", "gif", "png frames" */

/* Encodes the frames in memory as an MP4, WebM or GIF: *data (malloc'd, the caller frees) holds *len bytes.
 * MP4 and WebM need even sizes. codec_used (nullable) receives the encoder's name. */
fr_status fr_video_encode(fr_video_format format, const uint8_t *rgb, int frames, int height, int width, int fps,
                          uint8_t **data, size_t *len, const char **codec_used);
/* Writes the frames to path in the format its name says (fr_video_format_of). Each file is written aside
 * and renamed into place, so a failure leaves no half-written file under the name. */
fr_status fr_video_write(const char *path, const uint8_t *rgb, int frames, int height, int width, int fps,
                         const char **codec_used);
/* Frames tiled left to right, top to bottom, `cols` per row (0: a near-square grid). */
fr_status fr_png_write_sheet(const char *path, const uint8_t *rgb, int frames, int height, int width, int cols);

#ifdef __cplusplus
}
#endif
#endif
