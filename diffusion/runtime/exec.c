/* The job arena: first-fit allocation with coalescing free blocks over one backend allocation. The
 * allocator is deterministic, so the planning run's high-water mark is exactly the memory the real run
 * needs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/exec.h"

static void arena_init(fr_arena *a, unsigned char *base, size_t capacity)
{
  memset(a, 0, sizeof *a);
  a->base = base;
  a->capacity = capacity;
}

/* The planning run: the twin hands out placeholder addresses (offsets above FR_ARENA_ALIGN, never
 * dereferenced), distinct and non-NULL so the ops' aliasing checks stay meaningful. */
static fr_status exec_plan(fr_exec *ex, fr_backend *be)
{
  memset(ex, 0, sizeof *ex);
  arena_init(&ex->arena, NULL, SIZE_MAX);
  return fr_backend_open_plan(be, &ex->be);
}

static fr_status exec_open(fr_exec *ex, fr_backend *be, size_t bytes)
{
  memset(ex, 0, sizeof *ex);
  ex->be = be;
  fr_tensor block;
  int64_t n = (int64_t)((bytes + 3) / 4);
  FR_TRY(fr_tensor_alloc(be, FR_F32, 1, &n, &block));
  arena_init(&ex->arena, (unsigned char *)block.data, (size_t)n * 4);
  return FR_OK;
}

static void exec_close(fr_exec *ex)
{
  if (fr_exec_planning(ex)) {
    fr_backend_close(ex->be);
  } else if (ex->arena.base) {
    int64_t n = (int64_t)(ex->arena.capacity / 4);
    fr_tensor block = fr_tensor_make_dims(FR_F32, ex->arena.base, 1, &n);
    block.device = fr_backend_device(ex->be);
    fr_tensor_free(ex->be, &block);
  }
  free(ex->arena.free_list);
  memset(ex, 0, sizeof *ex);
}

int fr_exec_planning(const fr_exec *ex) { return fr_backend_planning(ex->be); }

void *fr_exec_comm_data(const fr_exec *ex, const fr_tensor *t) { return fr_exec_planning(ex) ? NULL : t->data; }

fr_status fr_exec_run(fr_backend *be, fr_exec_body body, void *ctx, int plan_only)
{
  fr_exec ex;
  FR_TRY(exec_plan(&ex, be));
  fr_status st = body(&ex, ctx);
  size_t peak = ex.arena.high_water;
  exec_close(&ex);
  if (st != FR_OK || plan_only) return st;
  st = exec_open(&ex, be, peak);
  if (st == FR_OK) st = body(&ex, ctx);
  exec_close(&ex);
  return st;
}

static fr_status push_free(fr_arena *a, int at, size_t off, size_t size)
{
  if (a->nfree == a->cap_free) {
    int cap = a->cap_free ? 2 * a->cap_free : 64;
    fr_arena_block *fl = (fr_arena_block *)realloc(a->free_list, sizeof *fl * (size_t)cap);
    if (!fl) return fr_fail(FR_ENOMEM, "out of memory in the arena's free list");
    a->free_list = fl;
    a->cap_free = cap;
  }
  memmove(&a->free_list[at + 1], &a->free_list[at], sizeof *a->free_list * (size_t)(a->nfree - at));
  a->free_list[at] = (fr_arena_block){off, size};
  a->nfree++;
  return FR_OK;
}

/* First fit among free blocks; otherwise the top of the arena grows. */
static fr_status arena_alloc(fr_arena *a, size_t size, size_t *off)
{
  size = (size + FR_ARENA_ALIGN - 1) / FR_ARENA_ALIGN * FR_ARENA_ALIGN;
  if (size == 0) size = FR_ARENA_ALIGN;
  for (int i = 0; i < a->nfree; i++) {
    fr_arena_block *b = &a->free_list[i];
    if (b->size < size) continue;
    *off = b->off;
    b->off += size, b->size -= size;
    if (b->size == 0) {
      memmove(b, b + 1, sizeof *b * (size_t)(a->nfree - i - 1));
      a->nfree--;
    }
    return FR_OK;
  }
  if (a->high_water > a->capacity - size)
    return fr_fail(FR_ENOMEM,
                   "job arena exhausted: %zu bytes in use, %zu more asked, capacity %zu (the planning run "
                   "should have sized it)",
                   a->high_water, size, a->capacity);
  *off = a->high_water;
  a->high_water += size;
  return FR_OK;
}

/* Returns a block, merging it with free neighbours; a block at the top lowers the top. */
static void arena_release(fr_arena *a, size_t off, size_t size)
{
  size = (size + FR_ARENA_ALIGN - 1) / FR_ARENA_ALIGN * FR_ARENA_ALIGN;
  if (size == 0) size = FR_ARENA_ALIGN;
  int at = 0;
  while (at < a->nfree && a->free_list[at].off < off) at++;
  if (push_free(a, at, off, size) != FR_OK) return; /* losing a block only costs space */
  if (at + 1 < a->nfree && a->free_list[at].off + a->free_list[at].size == a->free_list[at + 1].off) {
    a->free_list[at].size += a->free_list[at + 1].size;
    memmove(&a->free_list[at + 1], &a->free_list[at + 2], sizeof *a->free_list * (size_t)(a->nfree - at - 2));
    a->nfree--;
  }
  if (at > 0 && a->free_list[at - 1].off + a->free_list[at - 1].size == a->free_list[at].off) {
    a->free_list[at - 1].size += a->free_list[at].size;
    memmove(&a->free_list[at], &a->free_list[at + 1], sizeof *a->free_list * (size_t)(a->nfree - at - 1));
    a->nfree--;
  }
}

fr_status fr_exec_alloc(fr_exec *ex, fr_tensor *t, int ndim, const int64_t *shape)
{
  return fr_exec_alloc_as(ex, t, FR_F32, ndim, shape);
}

fr_status fr_exec_alloc_as(fr_exec *ex, fr_tensor *t, fr_dtype dtype, int ndim, const int64_t *shape)
{
  *t = fr_tensor_make_dims(dtype, NULL, ndim, shape);
  size_t off = 0;
  FR_TRY(arena_alloc(&ex->arena, fr_tensor_nbytes(t), &off));
  t->data = fr_exec_planning(ex) ? (void *)(uintptr_t)(FR_ARENA_ALIGN + off) : ex->arena.base + off;
  t->device = fr_backend_device(ex->be);
  return FR_OK;
}

fr_status fr_exec_alloc4(fr_exec *ex, fr_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
  int64_t s[4] = {a, b, c, d};
  return fr_exec_alloc(ex, t, 4, s);
}

void fr_exec_free(fr_exec *ex, fr_tensor *t)
{
  if (!t->data) return;
  size_t off = fr_exec_planning(ex) ? (size_t)((uintptr_t)t->data - FR_ARENA_ALIGN)
                                    : (size_t)((unsigned char *)t->data - ex->arena.base);
  arena_release(&ex->arena, off, fr_tensor_nbytes(t));
  t->data = NULL;
}

fr_tensor fr_view(const fr_tensor *t, int ndim, const int64_t *shape)
{
  fr_tensor v = fr_tensor_make_dims(t->dtype, t->data, ndim, shape);
  v.device = t->device;
  return v;
}

fr_tensor fr_view4(const fr_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
  int64_t s[4] = {a, b, c, d};
  return fr_view(t, 4, s);
}

fr_tensor fr_view3(const fr_tensor *t, int64_t a, int64_t b, int64_t c)
{
  int64_t s[3] = {a, b, c};
  return fr_view(t, 3, s);
}

fr_tensor fr_view2(const fr_tensor *t, int64_t a, int64_t b)
{
  int64_t s[2] = {a, b};
  return fr_view(t, 2, s);
}

fr_tensor fr_rows(const fr_tensor *t, int64_t first, int64_t count)
{
  fr_tensor v = *t;
  int64_t row = fr_tensor_numel(t) / (t->shape[0] ? t->shape[0] : 1);
  v.shape[0] = count;
  if (first < 0 || count < 0 || first + count > t->shape[0]) { /* a bug: the op that gets it says "no data" */
    v.data = NULL;
    return v;
  }
  v.data = (unsigned char *)t->data + (size_t)(first * row) * fr_dtype_size(t->dtype);
  return v;
}
