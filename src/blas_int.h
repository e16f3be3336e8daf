/*
 * blas_int.h: what the kernel files share (blas.c, blas_attn.c): the CPU
 * checks and the vector helpers.  Not for the rest of lmsh.
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

static inline BLAS_AVX2 float
blas_hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
	    _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/*
 * The eight sums of a panel's accumulators, as one vector: halves added,
 * then an 8 x 8 transpose by pairwise adds.  Cheaper than eight
 * horizontal reductions, which at rows of 288 cost a third as much as the
 * products.
 */
static inline __attribute__((always_inline)) BLAS_AVX512 __m256
blas_reduce8(__m512 a0, __m512 a1, __m512 a2, __m512 a3, __m512 a4,
    __m512 a5, __m512 a6, __m512 a7)
{
#define BLAS_FOLD(a) _mm256_add_ps(_mm512_castps512_ps256(a),		\
	_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)))
	__m256 t0 = _mm256_hadd_ps(BLAS_FOLD(a0), BLAS_FOLD(a1));
	__m256 t1 = _mm256_hadd_ps(BLAS_FOLD(a2), BLAS_FOLD(a3));
	__m256 t2 = _mm256_hadd_ps(BLAS_FOLD(a4), BLAS_FOLD(a5));
	__m256 t3 = _mm256_hadd_ps(BLAS_FOLD(a6), BLAS_FOLD(a7));
#undef BLAS_FOLD
	__m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);

	return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
	    _mm256_permute2f128_ps(u0, u1, 0x31));
}

#endif
