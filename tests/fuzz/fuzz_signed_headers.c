/* libFuzzer: the signature headers and request target a client sends (protocol/auth.c): the input's first
 * three lines are the Fractal-Hotkey, Fractal-Nonce and Fractal-Signature values, the rest the target.
 * Accepted headers hold a valid hotkey and signature and a nonce whose decimal is exactly what was sent
 * (one spelling per nonce); the signed message is built for any target, of any length. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *copy = (char *)malloc(size + 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  copy[size] = '\0'; /* a NUL ends a field early, as it would end a header value */
  char *field[4] = {copy, NULL, NULL, NULL};
  for (int i = 1; i < 4 && field[i - 1]; i++) {
    char *nl = strchr(field[i - 1], '\n');
    if (nl) *nl = '\0', field[i] = nl + 1;
  }
  fr_signed_headers h = {{0}, 0, {0}};
  if (fr_signed_headers_parse(field[0], field[1], field[2], &h) == FR_OK) {
    char dec[24];
    snprintf(dec, sizeof dec, "%llu", (unsigned long long)h.nonce);
    if (strcmp(dec, field[1]) != 0 || !fr_hotkey_valid(h.hotkey) || strlen(h.signature) != FR_SIGNATURE_HEX) abort();
  }
  const char *target = field[3] ? field[3] : "";
  if (fr_target_check(target, 0) == FR_OK && (strchr(target, '?') || strstr(target, "%00"))) abort();
  (void)fr_target_check(target, 1);
  char *msg;
  size_t len;
  if (fr_sign_message(&msg, &len, h.nonce, field[0], field[2] ? field[2] : "", "POST", target, data, size) == FR_OK) {
    if (len != strlen(msg)) abort();
    free(msg);
  }
  free(copy);
  return 0;
}
