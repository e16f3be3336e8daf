/*
 * blas_int.h: what the kernel files share (blas.c, blas_mv.c,
 * blas_attn.c): the CPU checks and the target attributes.  Not for the rest
 * of lmsh.
 */
#ifndef LMSH_BLAS_INT_H
#define LMSH_BLAS_INT_H

#include <immintrin.h>

#include "blas.h"

#define BLAS_NEED_AVX2		1
#define BLAS_NEED_AVX512	2
/* Whether the CPU runs the BLAS_NEED_* instructions asked for. */
int			 blas_cpu_has(int need);
/* The matrix-vector kernel set chosen (BLAS_MV_AUTO resolved). */
enum blas_mv_kernel	 blas_mv_kind(void);

#define BLAS_AVX2	__attribute__((target("avx2,fma,f16c")))
#define BLAS_AVX512	__attribute__((target("avx512f")))

/* Tiles keep their accumulators in registers only if fully unrolled. */
#define BLAS_UNROLL _Pragma("GCC unroll 16")

#endif
