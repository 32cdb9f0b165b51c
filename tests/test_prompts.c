/* The challenge prompt generator: exact prompts from fixed draws, and from the CSPRNG prompts that are
 * plain printable text within the protocol's limit, articled correctly and practically never repeated. */
#include <sodium.h>

#include "daemon/prompts.h"
#include "testutil.h"

static uint32_t first(uint32_t n) { return 0 * n; }
static uint32_t last(uint32_t n) { return n - 1; }

int main(void)
{
  char p[2001];
  prompt_generate(first, p, sizeof p);
  CHECK(strcmp(p, "a red fox running through fresh snow, cinematic") == 0, "first draws: '%s'", p);
  prompt_generate(last, p, sizeof p);
  CHECK(strcmp(p, "a shy spaceship diving in a busy cafe in spring, dreamy, soft focus, bird's eye view") == 0,
        "last draws: '%s'", p);
  char tiny[12];
  prompt_generate(last, tiny, sizeof tiny);
  CHECK(strcmp(tiny, "a shy space") == 0, "a short buffer is cut and terminated: '%s'", tiny);
  CHECK(prompt_space() > 1e10, "the vocabularies make %.3g prompts", prompt_space());

  CHECK(sodium_init() >= 0, "libsodium");
  enum { N = 20000 };
  static char all[N][256];
  int bad = 0, articles = 0;
  for (int i = 0; i < N; i++) {
    prompt_generate(randombytes_uniform, all[i], sizeof all[i]);
    size_t len = strlen(all[i]);
    for (size_t k = 0; k < len; k++)
      if (all[i][k] < 0x20 || all[i][k] > 0x7e) bad++;
    if (len < 20 || len > 250 || strstr(all[i], "  ") || strstr(all[i], ",,")) bad++;
    const char *noun = strncmp(all[i], "an ", 3) == 0 ? all[i] + 3 : strncmp(all[i], "a ", 2) == 0 ? all[i] + 2 : NULL;
    if (!noun) bad++;
    else if ((all[i][1] == 'n') != (strchr("aeiou", noun[0]) != NULL)) articles++;
  }
  CHECK(bad == 0, "%d prompts are not plain printable text of 20..250 bytes starting with an article", bad);
  CHECK(articles == 0, "%d prompts use the wrong article", articles);
  qsort(all, N, sizeof all[0], (int (*)(const void *, const void *))strcmp);
  int dup = 0;
  for (int i = 1; i < N; i++) dup += strcmp(all[i], all[i - 1]) == 0;
  CHECK(dup < 5, "%d repeated prompts among %d", dup, N);
  return check_done("test_prompts");
}
