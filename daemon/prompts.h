/* The verifier's challenge prompts: natural text-to-video prompts composed from built-in vocabularies
 * (a subject, what it does, where, when, a look and a camera move), drawn with a CSPRNG so that no
 * prover can look a challenge up in advance. */
#ifndef FRACTALD_PROMPTS_H
#define FRACTALD_PROMPTS_H

#include <stddef.h>
#include <stdint.h>

/* uniform(n) returns a uniformly random integer in [0, n) (libsodium's randombytes_uniform). Writes a
 * NUL-terminated prompt of at most n - 1 bytes into out. */
void prompt_generate(uint32_t (*uniform)(uint32_t), char *out, size_t n);
/* How many distinct prompts the vocabularies can make (for the docs and tests). */
double prompt_space(void);

#endif
