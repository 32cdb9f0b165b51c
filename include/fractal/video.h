/* Writing frames out: an MP4 (H.264 through libavcodec, MPEG-4 Part 2 where no H.264 encoder is
 * built in) and a PNG contact sheet. Frames are RGB uint8, [frames, height, width, 3]. */
#ifndef FRACTAL_VIDEO_H
#define FRACTAL_VIDEO_H

#include <stdint.h>

#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes path.tmp and renames it into place; codec_used (nullable) receives the encoder's name. */
fr_status fr_video_write_mp4(const char *path, const uint8_t *rgb, int frames, int height, int width, int fps,
                             const char **codec_used);
/* Frames tiled left to right, top to bottom, `cols` per row (0: a near-square grid). */
fr_status fr_png_write_sheet(const char *path, const uint8_t *rgb, int frames, int height, int width, int cols);

#ifdef __cplusplus
}
#endif
#endif
