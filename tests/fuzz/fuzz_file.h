/* For fuzz targets whose parser takes a path: the input as a file in memory (memfd), reopened by path
 * through /proc/self/fd, so the parser reads exactly those bytes with its own I/O. */
#ifndef FRACTAL_FUZZ_FILE_H
#define FRACTAL_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The path of a file holding data[0..size), replaced on every call; slot picks one of two files. */
static const char *fuzz_file(int slot, const uint8_t *data, size_t size)
{
  static int fd[2] = {-1, -1};
  static char path[2][64];
  if (fd[slot] < 0) {
    fd[slot] = memfd_create("fractal-fuzz", 0);
    if (fd[slot] < 0) perror("memfd_create"), abort();
    snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
  }
  if (ftruncate(fd[slot], 0) != 0 || (size && pwrite(fd[slot], data, size, 0) != (ssize_t)size))
    perror("memfd"), abort();
  return path[slot];
}

#endif
