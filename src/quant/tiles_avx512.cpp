// tiles_avx512.cpp — the tile kernels (tiles_impl.inc) with AVX-512 VL + VNNI: still 256-bit
// vectors, so every output keeps the AVX2 build's arithmetic bit for bit, but 32 ymm registers
// (tiles of 8 rows x 8 tokens) and fused integer dot products (vpdpbusd).
#include "quant/tiles.h"

#if defined(__x86_64__) || defined(__i386__)
#include "quant/avx2_util.h"

#define OWL_TILE_NS avx512_tiles
#define OWL_TILE __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))
#define OWL_TILE_VNNI 1
#define OWL_TILE_TOKENS 8
#include "quant/tiles_impl.inc"
#endif
