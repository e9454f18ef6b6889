// tiles_avx2.cpp — the tile kernels (tiles_impl.inc) for AVX2 + FMA + F16C: 16 ymm
// registers, so tiles of 8 rows x 4 tokens.
#include "quant/tiles.h"

#if defined(__x86_64__) || defined(__i386__)
#include "quant/avx2_util.h"

#define OWL_TILE_NS avx2_tiles
#define OWL_TILE __attribute__((target("avx2,fma,f16c")))
#define OWL_TILE_VNNI 0
#define OWL_TILE_TOKENS 4
#include "quant/tiles_impl.inc"
#endif
