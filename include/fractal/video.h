/* Writing frames out: an MP4 (H.264 through libavcodec, MPEG-4 Part 2 where no H.264 encoder is
 * built in) and a PNG contact sheet. Frames are RGB uint8, [frames, height, width, 3]. */
#ifndef FRACTAL_VIDEO_H
#define FRACTAL_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "fractal/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Encodes the frames as an MP4 in memory: *mp4 (malloc'd, the caller frees) holds *len bytes. codec_used
 * (nullable) receives the encoder's name. */
fr_status fr_video_encode_mp4(const uint8_t *rgb, int frames, int height, int width, int fps, uint8_t **mp4,
                              size_t *len, const char **codec_used);
/* fr_video_encode_mp4 to a file: writes path.tmp.mp4 and renames it into place. */
fr_status fr_video_write_mp4(const char *path, const uint8_t *rgb, int frames, int height, int width, int fps,
                             const char **codec_used);
/* Frames tiled left to right, top to bottom, `cols` per row (0: a near-square grid). */
fr_status fr_png_write_sheet(const char *path, const uint8_t *rgb, int frames, int height, int width, int cols);

#ifdef __cplusplus
}
#endif
#endif
