/* Video files through libavformat/libavcodec (RGB converted by libswscale: yuv420p for MP4 and WebM, a
 * fixed 3-3-2 palette with dithering for GIF), encoded into memory, and PNGs through libpng. Output files are
 * written aside and renamed, so a failure leaves nothing half-written. A build configured with
 * -DFRACTAL_VIDEO=OFF has neither and says so. */
#include <stdio.h>
#include <string.h>

#include "fractal/video.h"

static int ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* 1 if path holds exactly one integer conversion (%d, %Nd, %0Nd, N one digit) and otherwise only %%. */
static int one_frame_number(const char *path)
{
  int conversions = 0;
  for (const char *p = path; *p; p++) {
    if (*p != '%') continue;
    if (p[1] == '%') {
      p++;
      continue;
    }
    const char *q = p + 1;
    if (*q == '0') q++;
    if (*q >= '1' && *q <= '9') q++;
    if (*q != 'd') return 0;
    conversions++, p = q;
  }
  return conversions == 1;
}

fr_status fr_video_format_of(const char *path, fr_video_format *out)
{
  if (strchr(path, '%') && ends_with(path, ".png") && one_frame_number(path)) *out = FR_VIDEO_PNG_FRAMES;
  else if (strchr(path, '%') && ends_with(path, ".png"))
    return fr_fail(FR_EINVAL, "%s: a frame pattern needs exactly one frame number (%%d, %%03d; %%%% for a %%)", path);
  else if (ends_with(path, ".mp4")) *out = FR_VIDEO_MP4;
  else if (ends_with(path, ".webm")) *out = FR_VIDEO_WEBM;
  else if (ends_with(path, ".gif")) *out = FR_VIDEO_GIF;
  else
    return fr_fail(FR_EINVAL,
                   "%s: not a format Fractal writes: want .mp4, .webm, .gif or a frame pattern such as frame_%%03d.png",
                   path);
  return FR_OK;
}

const char *fr_video_format_name(fr_video_format f)
{
  static const char *const names[] = {"mp4", "webm", "gif", "png frames"};
  return (unsigned)f < 4 ? names[f] : "?";
}

#ifndef FR_HAVE_VIDEO
static fr_status no_video(const char *path)
{
  return fr_fail(FR_EUNSUPPORTED, "%s: this build has no video output (it was configured with -DFRACTAL_VIDEO=OFF)",
                 path);
}

fr_status fr_video_write(const char *path, const uint8_t *rgb, int frames, int height, int width, int fps,
                         const char **codec_used)
{
  (void)rgb, (void)frames, (void)height, (void)width, (void)fps, (void)codec_used;
  return no_video(path);
}

fr_status fr_video_encode(fr_video_format format, const uint8_t *rgb, int frames, int height, int width, int fps,
                          uint8_t **data, size_t *len, const char **codec_used)
{
  (void)rgb, (void)frames, (void)height, (void)width, (void)fps, (void)codec_used;
  *data = NULL, *len = 0;
  return no_video(fr_video_format_name(format));
}

fr_status fr_png_write_sheet(const char *path, const uint8_t *rgb, int frames, int height, int width, int cols)
{
  (void)rgb, (void)frames, (void)height, (void)width, (void)cols;
  return no_video(path);
}
#else
#include <errno.h>
#include <stdlib.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <png.h>

static fr_status av_failed(const char *path, const char *what, int err)
{
  char msg[AV_ERROR_MAX_STRING_SIZE] = "";
  av_strerror(err, msg, sizeof msg);
  return fr_fail(FR_EIO, "%s: %s: %s", path, what, msg);
}

/* The MP4 in memory: the muxer writes and seeks back (to fill in sizes) through these callbacks. */
typedef struct membuf {
  uint8_t *data;
  size_t len, cap, pos;
} membuf;

#if LIBAVFORMAT_VERSION_MAJOR >= 61
static int mem_write(void *opaque, const uint8_t *buf, int n)
#else
static int mem_write(void *opaque, uint8_t *buf, int n)
#endif
{
  membuf *m = (membuf *)opaque;
  if (n < 0) return AVERROR(EINVAL);
  size_t end = m->pos + (size_t)n;
  if (end > m->cap) {
    size_t cap = m->cap ? m->cap : 1 << 16;
    while (cap < end) cap *= 2;
    uint8_t *d = (uint8_t *)realloc(m->data, cap);
    if (!d) return AVERROR(ENOMEM);
    m->data = d, m->cap = cap;
  }
  if (m->pos > m->len) memset(m->data + m->len, 0, m->pos - m->len); /* a seek past the end leaves a hole */
  memcpy(m->data + m->pos, buf, (size_t)n);
  m->pos = end;
  if (end > m->len) m->len = end;
  return n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
  membuf *m = (membuf *)opaque;
  int64_t base = 0;
  switch (whence & ~AVSEEK_FORCE) {
  case AVSEEK_SIZE: return (int64_t)m->len;
  case SEEK_SET: base = 0; break;
  case SEEK_CUR: base = (int64_t)m->pos; break;
  case SEEK_END: base = (int64_t)m->len; break;
  default: return AVERROR(EINVAL);
  }
  if (offset > INT64_MAX - base || base + offset < 0) return AVERROR(EINVAL);
  m->pos = (size_t)(base + offset);
  return (int64_t)m->pos;
}

typedef struct encoder {
  AVFormatContext *fmt;
  AVIOContext *io;
  AVCodecContext *ctx;
  AVStream *stream;
  AVFrame *frame;
  AVFrame *rgb; /* the input staged with FFmpeg's padding: swscale reads past a row's last pixel */
  AVPacket *pkt;
  struct SwsContext *sws;
} encoder;

static void encoder_close(encoder *e)
{
  sws_freeContext(e->sws);
  av_packet_free(&e->pkt);
  av_frame_free(&e->frame);
  av_frame_free(&e->rgb);
  avcodec_free_context(&e->ctx);
  if (e->io) av_freep(&e->io->buffer);
  avio_context_free(&e->io);
  avformat_free_context(e->fmt);
}

/* Sends one frame (NULL flushes) and writes every packet the encoder has ready. */
static int encode(encoder *e, AVFrame *frame)
{
  int rc = avcodec_send_frame(e->ctx, frame);
  while (rc >= 0) {
    rc = avcodec_receive_packet(e->ctx, e->pkt);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
    if (rc < 0) return rc;
    if (e->pkt->duration <= 0) e->pkt->duration = 1; /* one frame; else the MP4 drops the last one */
    av_packet_rescale_ts(e->pkt, e->ctx->time_base, e->stream->time_base);
    e->pkt->stream_index = e->stream->index;
    rc = av_interleaved_write_frame(e->fmt, e->pkt);
  }
  return rc;
}

/* swscale converts whole SIMD words, padding included, and drops the extra pixels: zeroed, the padding
 * brings no uninitialised byte into its arithmetic, whatever the allocator left there. */
static void zero_padding(AVFrame *f)
{
  for (int i = 0; i < AV_NUM_DATA_POINTERS && f->buf[i]; i++) memset(f->buf[i]->data, 0, f->buf[i]->size);
}

/* What each container is made of. */
typedef struct container {
  const char *muxer;
  enum AVCodecID codecs[2]; /* the first one libavcodec has */
  enum AVPixelFormat pix;
} container;

static const container containers[] = {
    [FR_VIDEO_MP4] = {"mp4", {AV_CODEC_ID_H264, AV_CODEC_ID_MPEG4}, AV_PIX_FMT_YUV420P},
    [FR_VIDEO_WEBM] = {"webm", {AV_CODEC_ID_VP9, AV_CODEC_ID_VP8}, AV_PIX_FMT_YUV420P},
    [FR_VIDEO_GIF] = {"gif", {AV_CODEC_ID_GIF, AV_CODEC_ID_GIF}, AV_PIX_FMT_RGB8},
};

static fr_status open_encoder(encoder *e, fr_video_format format, membuf *out, int height, int width, int fps,
                              const char **codec_used)
{
  const container *c = &containers[format];
  const char *tmp = fr_video_format_name(format); /* what errors name */
  int rc = avformat_alloc_output_context2(&e->fmt, NULL, c->muxer, NULL);
  if (rc < 0) return av_failed(tmp, "muxer", rc);
  const AVCodec *codec = avcodec_find_encoder(c->codecs[0]);
  if (!codec) codec = avcodec_find_encoder(c->codecs[1]);
  if (!codec) return fr_fail(FR_EUNSUPPORTED, "%s: libavcodec has no encoder for it", tmp);
  if (codec_used) *codec_used = codec->name;
  e->stream = avformat_new_stream(e->fmt, NULL);
  e->ctx = avcodec_alloc_context3(codec);
  e->frame = av_frame_alloc();
  e->rgb = av_frame_alloc();
  e->pkt = av_packet_alloc();
  if (!e->stream || !e->ctx || !e->frame || !e->rgb || !e->pkt) return fr_fail(FR_ENOMEM, "%s: out of memory", tmp);
  e->ctx->width = width, e->ctx->height = height;
  e->ctx->time_base = (AVRational){1, fps};
  e->ctx->framerate = (AVRational){fps, 1};
  e->ctx->pix_fmt = c->pix;
  e->ctx->gop_size = 12;
  /* quality: a constant rate factor where the encoder has one, else a generous bit rate */
  int crf = codec->id == AV_CODEC_ID_H264 || codec->id == AV_CODEC_ID_VP9;
  e->ctx->bit_rate = crf || codec->id == AV_CODEC_ID_GIF ? 0 : (int64_t)width * height * fps * 2;
  if (codec->id == AV_CODEC_ID_H264) av_opt_set(e->ctx->priv_data, "crf", "18", 0);
  if (codec->id == AV_CODEC_ID_VP9) av_opt_set(e->ctx->priv_data, "crf", "24", 0);
  if (codec->id == AV_CODEC_ID_VP9 || codec->id == AV_CODEC_ID_VP8) av_opt_set(e->ctx->priv_data, "cpu-used", "5", 0);
  if (e->fmt->oformat->flags & AVFMT_GLOBALHEADER) e->ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if ((rc = avcodec_open2(e->ctx, codec, NULL)) < 0) return av_failed(tmp, "opening the encoder", rc);
  if ((rc = avcodec_parameters_from_context(e->stream->codecpar, e->ctx)) < 0) return av_failed(tmp, "stream", rc);
  e->stream->time_base = e->ctx->time_base;
  e->frame->format = e->ctx->pix_fmt, e->frame->width = width, e->frame->height = height;
  if ((rc = av_frame_get_buffer(e->frame, 0)) < 0) return av_failed(tmp, "frame buffer", rc);
  /* swscale's RGB readers load whole SIMD words, up to 24 bytes past a row's last pixel, which for the
   * last row is past the end of the caller's array: they get the aligned, padded rows of FFmpeg's frames. */
  e->rgb->format = AV_PIX_FMT_RGB24, e->rgb->width = width, e->rgb->height = height;
  if ((rc = av_frame_get_buffer(e->rgb, 0)) < 0) return av_failed(tmp, "frame buffer", rc);
  zero_padding(e->rgb);
  int flags = SWS_BICUBIC | (c->pix == AV_PIX_FMT_RGB8 ? SWS_ERROR_DIFFUSION : 0);
  e->sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, c->pix, flags, NULL, NULL, NULL);
  if (!e->sws) return fr_fail(FR_EUNSUPPORTED, "%s: no converter from RGB", tmp);
  uint8_t *iobuf = (uint8_t *)av_malloc(1 << 16);
  if (!iobuf) return fr_fail(FR_ENOMEM, "%s: out of memory", tmp);
  e->io = avio_alloc_context(iobuf, 1 << 16, 1, out, NULL, mem_write, mem_seek);
  if (!e->io) return av_free(iobuf), fr_fail(FR_ENOMEM, "%s: out of memory", tmp);
  e->fmt->pb = e->io;
  e->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
  if ((rc = avformat_write_header(e->fmt, NULL)) < 0) return av_failed(tmp, "header", rc);
  return FR_OK;
}

fr_status fr_video_encode(fr_video_format format, const uint8_t *rgb, int frames, int height, int width, int fps,
                          uint8_t **data, size_t *len, const char **codec_used)
{
  *data = NULL, *len = 0;
  if (format != FR_VIDEO_MP4 && format != FR_VIDEO_WEBM && format != FR_VIDEO_GIF)
    return fr_fail(FR_EINVAL, "%s: not a single-file video format", fr_video_format_name(format));
  const char *what = fr_video_format_name(format);
  int even = format != FR_VIDEO_GIF;
  if (frames < 1 || height < 2 || width < 2 || (even && (height % 2 || width % 2)) || fps < 1 || fps > 240)
    return fr_fail(FR_EINVAL, "cannot encode %d frames of %dx%d at %d fps as %s%s", frames, width, height, fps, what,
                   even ? " (even sizes needed)" : "");
  av_log_set_level(AV_LOG_ERROR);
  encoder e;
  membuf out = {NULL, 0, 0, 0};
  memset(&e, 0, sizeof e);
  fr_status st = open_encoder(&e, format, &out, height, width, fps, codec_used);
  for (int i = 0; st == FR_OK && i <= frames; i++) {
    AVFrame *f = NULL;
    if (i < frames) {
      int rc = av_frame_make_writable(e.frame);
      if (rc < 0) {
        st = av_failed(what, "frame", rc);
        break;
      }
      av_image_copy_plane(e.rgb->data[0], e.rgb->linesize[0], rgb + (size_t)i * (size_t)height * (size_t)width * 3,
                          width * 3, width * 3, height);
      sws_scale(e.sws, (const uint8_t *const *)e.rgb->data, e.rgb->linesize, 0, height, e.frame->data,
                e.frame->linesize);
      e.frame->pts = i;
      f = e.frame;
    }
    int rc = encode(&e, f);
    if (rc < 0) st = av_failed(what, "encoding", rc);
  }
  if (st == FR_OK) {
    int rc = av_write_trailer(e.fmt);
    if (rc < 0) st = av_failed(what, "trailer", rc);
  }
  if (st == FR_OK && e.io) {
    avio_flush(e.io);
    if (e.io->error < 0) st = av_failed(what, "writing", e.io->error);
  }
  encoder_close(&e);
  if (st != FR_OK) {
    free(out.data);
    return st;
  }
  *data = out.data, *len = out.len;
  return FR_OK;
}

/* Writes len bytes to path.tmp, then renames it to path. */
static fr_status write_aside(const char *path, const uint8_t *data, size_t len)
{
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return fr_fail(FR_EIO, "%s: %s", tmp, strerror(errno));
  int bad = fwrite(data, 1, len, f) != len;
  bad |= fclose(f) != 0;
  fr_status st = FR_OK;
  if (bad) st = fr_fail(FR_EIO, "%s: %s", tmp, strerror(errno));
  else if (rename(tmp, path) != 0) st = fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  if (st != FR_OK) remove(tmp);
  return st;
}

/* One RGB image as a PNG, written aside and renamed. */
static fr_status png_write(const char *path, const uint8_t *rgb, size_t width, size_t height)
{
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)width, img.height = (png_uint_32)height, img.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&img, tmp, 0, rgb, 0, NULL)) {
    remove(tmp);
    return fr_fail(FR_EIO, "%s: %s", path, img.message);
  }
  if (rename(tmp, path) != 0) return fr_fail(FR_EIO, "%s: %s", path, strerror(errno));
  return FR_OK;
}

fr_status fr_video_write(const char *path, const uint8_t *rgb, int frames, int height, int width, int fps,
                         const char **codec_used)
{
  fr_video_format format;
  FR_TRY(fr_video_format_of(path, &format));
  if (format == FR_VIDEO_PNG_FRAMES) {
    if (frames < 1 || height < 1 || width < 1) return fr_fail(FR_EINVAL, "%s: nothing to write", path);
    if (codec_used) *codec_used = "png";
    size_t bytes = (size_t)height * (size_t)width * 3;
    for (int i = 0; i < frames; i++) {
      char name[4100];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* checked: one integer conversion (fr_video_format_of) */
      snprintf(name, sizeof name, path, i);
#pragma GCC diagnostic pop
      FR_TRY(png_write(name, rgb + (size_t)i * bytes, (size_t)width, (size_t)height));
    }
    return FR_OK;
  }
  uint8_t *data;
  size_t len;
  fr_status st = fr_video_encode(format, rgb, frames, height, width, fps, &data, &len, codec_used);
  if (st != FR_OK) return fr_fail_context(st, "%s", path);
  st = write_aside(path, data, len);
  free(data);
  return st;
}

fr_status fr_png_write_sheet(const char *path, const uint8_t *rgb, int frames, int height, int width, int cols)
{
  if (frames < 1 || height < 1 || width < 1) return fr_fail(FR_EINVAL, "%s: nothing to write", path);
  if (cols <= 0)
    for (cols = 1; cols * cols < frames; cols++) {}
  int rows = (frames + cols - 1) / cols;
  size_t sw = (size_t)cols * (size_t)width, sh = (size_t)rows * (size_t)height;
  uint8_t *sheet = (uint8_t *)calloc(sw * sh * 3, 1);
  if (!sheet) return fr_fail(FR_ENOMEM, "out of memory");
  for (int f = 0; f < frames; f++)
    for (int y = 0; y < height; y++)
      memcpy(sheet + (((size_t)(f / cols) * height + y) * sw + (size_t)(f % cols) * width) * 3,
             rgb + (((size_t)f * height + y) * width) * 3, (size_t)width * 3);
  fr_status st = png_write(path, sheet, sw, sh);
  free(sheet);
  return st;
}
#endif
