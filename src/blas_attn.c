/*
 * blas_attn.c: attention of one query row over the keys cached so far,
 * the decode step's share of attention.
 *
 * At a small model's width (heads of 32 to 64) the plain loops spend more
 * on a horizontal sum per key, a libm expf per key and the output row's
 * reloads than on the products: a tenth of a 15m decode step.  The
 * AVX-512 kernel keeps q and the output in registers, reduces the scores
 * of eight keys at once (blas_reduce8) and takes exp in vector form.
 * Both compute each (q, keys) the same way wherever it is called, so a
 * decode step stays independent of its batch and thread count.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "blas.h"
#include "blas_int.h"
#include "lm_exp.h"

/* The plain-C twin: the reference the tests hold the kernel to. */
static void
blas_attend_c(const float *q, const float *K, const float *V, size_t ld,
    size_t dk, size_t np, float scale, float *S, float *o)
{
	float mx = -INFINITY, sum = 0;

	for (size_t j = 0; j < np; j++) {
		S[j] = blas_dot(q, K + j * ld, dk) * scale;
		if (S[j] > mx)
			mx = S[j];
	}
	for (size_t j = 0; j < np; j++) {
		S[j] = expf(S[j] - mx);
		sum += S[j];
	}
	memset(o, 0, dk * sizeof *o);
	for (size_t j = 0; j < np; j++)
		for (size_t i = 0; i < dk; i++)
			o[i] += S[j] * V[j * ld + i];
	for (size_t i = 0; i < dk; i++)
		o[i] /= sum;
}

/*
 * The eight sums of eight keys' products, as one vector: halves added,
 * then an 8 x 8 transpose by pairwise adds.  Cheaper than eight
 * horizontal reductions.
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

/*
 * exp(x) for x <= 0 (scores minus their maximum), lm_exp.h's Cephes expf
 * with fused multiply-adds: Cody-Waite reduction by ln 2 and a degree-6
 * polynomial, about one ulp; below ln(FLT_MIN) it gives FLT_MIN-sized
 * values, as good as 0 beside the 1 that the maximum contributes.
 */
static inline __attribute__((always_inline)) BLAS_AVX512 __m512
blas_exp512(__m512 x)
{
	__m512 n, r, p;

	x = _mm512_max_ps(x, _mm512_set1_ps(LM_EXP_MIN));
	n = _mm512_roundscale_ps(_mm512_mul_ps(x,
	    _mm512_set1_ps(LM_EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT |
	    _MM_FROUND_NO_EXC);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LM_EXP_LN2_HI), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LM_EXP_LN2_LO), r);
	p = _mm512_set1_ps(LM_EXP_P0);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LM_EXP_P1));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LM_EXP_P2));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LM_EXP_P3));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LM_EXP_P4));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LM_EXP_P5));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
	p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
	return _mm512_scalef_ps(p, n);
}

#define BLAS_ATT_MAXV	8	/* head width up to 8 vectors (128) */

/* Scores of keys j..j+8 (those below np; the others 0) into S[j..). */
static inline __attribute__((always_inline)) BLAS_AVX512 void
blas_scores8(const __m512 *qv, const float *K, size_t ld, size_t j,
    size_t np, float scale, float *S, const int NV)
{
	__m512 a[8];
	__m256 s;

	BLAS_UNROLL
	for (int t = 0; t < 8; t++) {
		const float *k = K + (j + (size_t)t) * ld;

		if (j + (size_t)t >= np) {
			a[t] = _mm512_setzero_ps();
			continue;
		}
		a[t] = _mm512_mul_ps(qv[0], _mm512_loadu_ps(k));
		BLAS_UNROLL
		for (int v = 1; v < NV; v++)
			a[t] = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(k +
			    16 * v), a[t]);
	}
	s = _mm256_mul_ps(blas_reduce8(a[0], a[1], a[2], a[3], a[4], a[5],
	    a[6], a[7]), _mm256_set1_ps(scale));
	if (j + 8 <= np)
		_mm256_storeu_ps(S + j, s);
	else {
		float t[8];

		_mm256_storeu_ps(t, s);
		memcpy(S + j, t, (np - j) * sizeof *t);
	}
}

static inline __attribute__((always_inline)) BLAS_AVX512 void
blas_attend512(const float *q, const float *K, const float *V, size_t ld,
    size_t np, float scale, float *S, float *o, const int NV)
{
	__m512 qv[BLAS_ATT_MAXV], o0[BLAS_ATT_MAXV], o1[BLAS_ATT_MAXV];
	__m512 mv = _mm512_set1_ps(-INFINITY), zv = _mm512_setzero_ps();
	float mx, inv;
	size_t j;

	BLAS_UNROLL
	for (int v = 0; v < NV; v++) {
		qv[v] = _mm512_loadu_ps(q + 16 * v);
		o0[v] = o1[v] = _mm512_setzero_ps();
	}
	for (j = 0; j + 8 <= np; j += 8)
		blas_scores8(qv, K, ld, j, np, scale, S, NV);
	if (j < np)
		blas_scores8(qv, K, ld, j, np, scale, S, NV);
	/* softmax numerators in place, their sum, the output unscaled */
	for (j = 0; j < np; j += 16) {
		__mmask16 k = np - j >= 16 ? 0xffff :
		    (__mmask16)((1u << (np - j)) - 1);

		mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(mv, k, S + j));
	}
	mx = _mm512_reduce_max_ps(mv);
	for (j = 0; j < np; j += 16) {
		__mmask16 k = np - j >= 16 ? 0xffff :
		    (__mmask16)((1u << (np - j)) - 1);
		__m512 e = blas_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k,
		    S + j), _mm512_set1_ps(mx)));

		_mm512_mask_storeu_ps(S + j, k, e);
		zv = _mm512_add_ps(zv, _mm512_maskz_mov_ps(k, e));
	}
	/* two chains, so that each add waits on the one before it less */
	for (j = 0; j + 2 <= np; j += 2) {
		__m512 s0 = _mm512_set1_ps(S[j]), s1 = _mm512_set1_ps(S[j + 1]);

		BLAS_UNROLL
		for (int v = 0; v < NV; v++) {
			o0[v] = _mm512_fmadd_ps(s0, _mm512_loadu_ps(V + j * ld +
			    16 * v), o0[v]);
			o1[v] = _mm512_fmadd_ps(s1, _mm512_loadu_ps(V +
			    (j + 1) * ld + 16 * v), o1[v]);
		}
	}
	if (j < np) {
		__m512 s0 = _mm512_set1_ps(S[j]);

		BLAS_UNROLL
		for (int v = 0; v < NV; v++)
			o0[v] = _mm512_fmadd_ps(s0, _mm512_loadu_ps(V + j * ld +
			    16 * v), o0[v]);
	}
	inv = 1.0f / _mm512_reduce_add_ps(zv);
	BLAS_UNROLL
	for (int v = 0; v < NV; v++)
		_mm512_storeu_ps(o + 16 * v, _mm512_mul_ps(_mm512_add_ps(o0[v],
		    o1[v]), _mm512_set1_ps(inv)));
}

/* One copy per head width, so that every loop over it unrolls. */
#define BLAS_ATTEND_NV(NV)						\
static BLAS_AVX512 void							\
blas_attend512_##NV(const float *q, const float *K, const float *V,	\
    size_t ld, size_t np, float scale, float *S, float *o)		\
{									\
	blas_attend512(q, K, V, ld, np, scale, S, o, NV);		\
}
BLAS_ATTEND_NV(1)
BLAS_ATTEND_NV(2)
BLAS_ATTEND_NV(3)
BLAS_ATTEND_NV(4)
BLAS_ATTEND_NV(5)
BLAS_ATTEND_NV(6)
BLAS_ATTEND_NV(7)
BLAS_ATTEND_NV(8)

typedef void	(*blas_attend_fn)(const float *, const float *, const float *,
		    size_t, size_t, float, float *, float *);

static const blas_attend_fn blas_attend512_fns[BLAS_ATT_MAXV + 1] = {
	NULL, blas_attend512_1, blas_attend512_2, blas_attend512_3,
	blas_attend512_4, blas_attend512_5, blas_attend512_6,
	blas_attend512_7, blas_attend512_8
};

/*
 * o = softmax(q K^T * scale) V for one query row q (dk wide) over np >= 1
 * keys and values, rows ld floats apart; S: scratch of np floats (it gets
 * the probabilities, unnormalised).  The AVX-512 kernel takes head widths
 * that are multiples of 16 up to 128 when the matrix-vector kernels are
 * AVX-512 too; other widths and kernel sets run the plain loops.
 */
void
blas_attend(const float *q, const float *K, const float *V, size_t ld,
    size_t dk, size_t np, float scale, float *S, float *o)
{
	if (blas_mv_kind() == BLAS_MV_AVX512 && dk % 16 == 0 &&
	    dk / 16 <= BLAS_ATT_MAXV) {
		blas_attend512_fns[dk / 16](q, K, V, ld, np, scale, S, o);
		return;
	}
	blas_attend_c(q, K, V, ld, dk, np, scale, S, o);
}
