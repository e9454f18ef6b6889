// tiles_avx2.cpp — the tile kernels (tiles_impl.inc) for AVX2 + FMA + F16C: 16 ymm
// registers, so 4 x 2 tiles.
#include "quant/tiles.h"

#if defined(__x86_64__) || defined(__i386__)
#include "quant/avx2_util.h"

#define OWL_TILE_NS avx2_tiles
#define OWL_TILE __attribute__((target("avx2,fma,f16c")))
#define OWL_TILE_VNNI 0
#define OWL_TILE_ROWS 4
#define OWL_TILE_TOKENS 2
#define OWL_TILE_LEGACY_TOKENS 4
#include "quant/tiles_impl.inc"
#endif
