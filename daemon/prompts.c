/* Challenge prompts from vocabularies (see prompts.h). */
#include <stdio.h>
#include <string.h>

#include "prompts.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* clang-format off */ /* a table: one entry per line */
static const char *const adjectives[] = {
  "a small", "a large", "an old", "a young", "a curious", "a tired", "a playful", "a majestic", "a lonely", "a happy",
  "a fluffy", "a wet", "a glowing", "a rusty", "a tiny", "a giant", "a colorful", "a sleepy", "a brave", "a shy",
};
/* clang-format on */

/* clang-format off */ /* a table: one entry per line */
static const char *const subjects[] = {
  "red fox", "golden retriever", "tabby cat", "brown bear", "polar bear", "panda", "horse", "deer", "wolf", "owl",
  "eagle", "hummingbird", "penguin", "dolphin", "sea turtle", "jellyfish", "octopus", "koala", "rabbit", "squirrel",
  "elephant", "giraffe", "lion", "tiger", "monkey", "frog", "butterfly", "swan", "goat", "sheep",
  "robot", "astronaut", "chef", "ballet dancer", "street musician", "skateboarder", "surfer", "fisherman", "painter",
  "knight", "wizard", "little girl", "old man", "cyclist", "firefighter", "sailboat", "steam train", "vintage car",
  "hot air balloon", "paper airplane", "lighthouse", "windmill", "campfire", "waterfall", "candle", "sunflower",
  "cherry tree", "kite", "dragon", "spaceship",
};
/* clang-format on */

/* clang-format off */ /* a table: one entry per line */
static const char *const actions[] = {
  "running", "walking slowly", "jumping", "dancing", "sleeping", "playing", "swimming", "flying", "eating", "drinking water",
  "looking around", "spinning", "climbing", "sliding", "floating", "drifting", "glowing softly", "waving", "reading a book",
  "playing the guitar", "cooking", "painting a picture", "riding a bicycle", "chasing butterflies", "splashing in puddles",
  "turning its head", "stretching", "bouncing", "rolling", "resting", "racing", "exploring", "hiding", "searching",
  "watching the stars", "shaking off water", "swaying in the wind", "crossing a bridge", "balancing", "diving",
};
/* clang-format on */

/* clang-format off */ /* a table: one entry per line */
static const char *const places[] = {
  "through fresh snow", "in a sunlit meadow", "on a sandy beach", "in a dense forest", "on a city street", "in a quiet library",
  "on the surface of the moon", "under the sea", "in a wheat field", "on a mountain ridge", "in a neon-lit alley",
  "by a frozen lake", "in a bamboo grove", "on a rooftop", "in a desert", "across a river", "in a cozy kitchen",
  "in a flower garden", "on a busy market square", "inside a glass greenhouse", "in a rainforest", "on a wooden pier",
  "in a snowy village", "on a country road", "in an old castle", "in a subway station", "on a sailing ship",
  "in a field of lavender", "among autumn leaves", "in a misty valley", "on an icy glacier", "in a volcanic landscape",
  "in a toy workshop", "in a space station", "on a tropical island", "in a canyon", "at a train station", "in a vineyard",
  "in a cave full of crystals", "by a waterfall", "in a park", "on a frozen pond", "in a lantern festival",
  "in a coral reef", "on the savanna", "in a moss-covered ruin", "in a sunflower field", "on a foggy harbor",
  "in a mountain cabin", "in a busy cafe",
};
/* clang-format on */

/* clang-format off */ /* a table: one entry per line */
static const char *const times[] = {
  "at sunrise", "at sunset", "at golden hour", "at night", "under a full moon", "in heavy rain", "in light snow",
  "on a foggy morning", "at noon", "during a thunderstorm", "under the northern lights", "at dusk", "on a windy day",
  "on a clear blue day", "under cherry blossoms", "in the first light of dawn", "under a starry sky", "after the rain",
  "in autumn", "in spring",
};
/* clang-format on */

/* clang-format off */ /* a table: one entry per line */
static const char *const looks[] = {
  "cinematic", "photorealistic", "watercolor painting", "oil painting", "anime style", "claymation", "pixel art",
  "35mm film", "documentary footage", "studio ghibli style", "low poly 3d render", "pencil sketch", "vintage film",
  "high detail, 4k", "soft pastel colors", "dramatic lighting", "black and white", "macro shot", "tilt-shift",
  "dreamy, soft focus",
};
/* clang-format on */

/* clang-format off */ /* a table: one entry per line */
static const char *const cameras[] = {
  "slow motion", "tracking shot", "aerial view", "close-up", "wide shot", "the camera pans left", "the camera pans right",
  "the camera zooms in", "the camera zooms out", "handheld camera", "static camera", "dolly shot", "time-lapse",
  "low angle", "bird's eye view",
};
/* clang-format on */

static const char *pick(uint32_t (*uniform)(uint32_t), const char *const *list, size_t n)
{
  return list[uniform((uint32_t)n)];
}

void prompt_generate(uint32_t (*uniform)(uint32_t), char *out, size_t n)
{
  size_t at = 0;
#define OUT(...) (at += (size_t)snprintf(out + (at < n ? at : n), at < n ? n - at : 0, __VA_ARGS__))
  const char *subject = pick(uniform, subjects, COUNT(subjects));
  if (uniform(2)) OUT("%s %s", pick(uniform, adjectives, COUNT(adjectives)), subject);
  else OUT("%s %s", strchr("aeiou", subject[0]) ? "an" : "a", subject);
  OUT(" %s %s", pick(uniform, actions, COUNT(actions)), pick(uniform, places, COUNT(places)));
  if (uniform(3)) OUT(" %s", pick(uniform, times, COUNT(times)));
  OUT(", %s", pick(uniform, looks, COUNT(looks)));
  if (uniform(2)) OUT(", %s", pick(uniform, cameras, COUNT(cameras)));
#undef OUT
}

double prompt_space(void)
{
  size_t n = COUNT(subjects) * (COUNT(adjectives) + 1) * COUNT(actions) * COUNT(places) * (COUNT(times) + 1) *
             COUNT(looks) * (COUNT(cameras) + 1);
  return (double)n;
}
