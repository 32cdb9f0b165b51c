/* What the protocol's sources share inside the layer. */
#ifndef FRACTAL_PROTOCOL_WIRE_H
#define FRACTAL_PROTOCOL_WIRE_H

#include <stddef.h>

/* Appends the JSON string literal of s to buf[0..n) at `at` (UTF-8 passes through; quotes, backslashes and
 * controls are escaped); returns the new position, which may pass n (snprintf's convention). */
size_t fr_wire_put_string(char *buf, size_t n, size_t at, const char *s);

#endif
