/*
 * blas_mv.c: weight matrices packed for decode, and the matrix-vector
 * kernels that read them.
 *
 * Decode multiplies the weights by 1 to 32 vectors: there BLIS's sgemv runs
 * on one thread and sgemm packs for nothing, so lmsh has its own kernels on
 * weights packed at load, in the dtype they were stored in (fp32, bf16 or
 * f16; 2-byte types widened in registers).
 *
 * The layout: BLAS_PANEL (32) rows at a time, a panel; in a panel, column
 * after column, and in a column the panel's 32 rows:
 *   element (j, i) at (j / 32 * n_in + i) * 32 + j % 32,
 * zero-padded to whole panels.  A panel is one straight stream, which the
 * hardware prefetcher follows.
 *
 * Every output y[b][j] is one chain of fused multiply-adds over i = 0, 1,
 * ... in order, its own accumulator lane from zero: the weights of a column
 * are a vector (32 rows), x[b][i] is broadcast.  No horizontal sums, and
 * the order cannot depend on the tiling: a sequence's logits are bitwise
 * the same whatever else is in the batch and whatever the thread count.
 * A batch runs tiles of one panel by up to 12 vectors, where each weight
 * loaded feeds 24 products and nothing is reduced afterwards (batch-32
 * products 1.5x as fast as with the 8-row panels of 16-column chunks that
 * came before, which summed 16 lanes and reduced them: 288x768 at 111 ->
 * 170 GFLOPS on one thread).
 *
 * Kernel sets: AVX-512F, AVX2+FMA+F16C, plain C; the tests compare each
 * with blas_matvec_ref().  Prefill runs them too, a tile of 12 rows at a
 * time.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "util.h"
#include "blas.h"
#include "blas_int.h"

#define BLAS_PANEL	32	/* rows per panel */
/*
 * Bytes ahead of the kernel that it asks to be fetched.  The hardware
 * prefetcher alone kept the 2-byte kernels at 60-70% of the speed they
 * reach with it (bf16 110m shape: 27 ms a pass without, 18 ms with).
 */
#define BLAS_PF_AHEAD	8192
#define BLAS_TILE_MAX	12	/* vectors in a batch tile */

static size_t
blas_dtype_size(enum blas_dtype t)
{
	return t == BLAS_F32 ? 4 : 2;
}

static size_t
blas_mat_panels(size_t n_out)
{
	return (n_out + BLAS_PANEL - 1) / BLAS_PANEL;
}

/*
 * Bytes a packed [n_out][n_in] matrix of dtype t takes (padding included,
 * a multiple of 64), or 0 if that overflows a size_t.
 */
size_t
blas_mat_bytes(size_t n_out, size_t n_in, enum blas_dtype t)
{
	size_t n;

	if (util_mul_size(blas_mat_panels(n_out), n_in, &n) == -1 ||
	    util_mul_size(n, BLAS_PANEL * blas_dtype_size(t), &n) == -1)
		return 0;
	return n;
}

/*
 * Describe in *m a packed [n_out][n_in] matrix of dtype t (2-byte types
 * stay 2 bytes) held in dst: blas_mat_bytes() bytes, 64-byte aligned,
 * borrowed by *m for as long as m is used.  Fill it with
 * blas_mat_pack_rows(), every row once.
 */
void
blas_mat_init(struct blas_mat *m, void *dst, size_t n_out, size_t n_in,
    enum blas_dtype t)
{
	m->data = dst;
	m->n_out = n_out;
	m->n_in = n_in;
	m->dtype = t;
}

/* Columns a step of unpacking handles: 64 lines of a panel stay in L1
 * while its rows come and go. */
#define BLAS_PACK_COLS	64

/* Rows [j0, j1) of one panel from src (row j0 first); rows r1 and on are
 * padding, zeroed.  Column by column: each store continues the last, and
 * the rows being read stay in L1 for a block of columns. */
static void
blas_pack_panel(const struct blas_mat *m, const unsigned char *src,
    size_t j0, size_t j1, size_t r1)
{
	size_t es = blas_dtype_size(m->dtype), n_in = m->n_in;
	size_t jr = j1 < r1 ? j1 : r1 > j0 ? r1 : j0;	/* real rows end */
	unsigned char *d = (unsigned char *)m->data + ((j0 / BLAS_PANEL *
	    n_in) * BLAS_PANEL + j0 % BLAS_PANEL) * es;

	for (size_t i = 0; i < n_in; i++) {
		unsigned char *o = d + i * BLAS_PANEL * es;

		if (es == 4) {
			uint32_t *o4 = (uint32_t *)(void *)o;
			const unsigned char *f = src + i * 4;

			for (size_t j = j0; j < jr; j++)
				memcpy(&o4[j - j0], f + (j - j0) * n_in * 4, 4);
		} else {
			uint16_t *o2 = (uint16_t *)(void *)o;
			const unsigned char *f = src + i * 2;

			for (size_t j = j0; j < jr; j++)
				memcpy(&o2[j - j0], f + (j - j0) * n_in * 2, 2);
		}
		memset(o + (jr - j0) * es, 0, (j1 - jr) * es);
	}
}

/*
 * Pack rows [r0, r1) of the matrix m describes from src, the row-major
 * rows r0.. (so a loader can pack a slice and let the source go; slices
 * may share a panel, never an element), with the padding rows after the
 * last row zeroed.  A panel at a time, so that its source rows and packed
 * columns stay in L2 while the blocks of columns go by.
 */
void
blas_mat_pack_rows(const struct blas_mat *m, const void *src, size_t r0,
    size_t r1)
{
	size_t es = blas_dtype_size(m->dtype), pad = r1;
	const unsigned char *s = src;

	if (r1 == m->n_out)
		pad = blas_mat_panels(m->n_out) * BLAS_PANEL;
	for (size_t j0 = r0, j1; j0 < pad; j0 = j1) {
		j1 = (j0 / BLAS_PANEL + 1) * BLAS_PANEL;
		if (j1 > pad)
			j1 = pad;
		blas_pack_panel(m, s + (j0 - r0) * m->n_in * es, j0, j1, r1);
	}
}

/* blas_mat_init() and blas_mat_pack_rows() of every row of src. */
void
blas_mat_pack(struct blas_mat *m, void *dst, const void *src, size_t n_out,
    size_t n_in, enum blas_dtype t)
{
	blas_mat_init(m, dst, n_out, n_in, t);
	blas_mat_pack_rows(m, src, 0, n_out);
}

/* One stored element widened to fp32, exactly. */
static float
blas_widen(enum blas_dtype t, const void *p, size_t k)
{
	switch (t) {
	case BLAS_BF16:
		return util_bf16_to_f32(((const uint16_t *)p)[k]);
	case BLAS_F16:
		return util_f16_to_f32(((const uint16_t *)p)[k]);
	default:
		return ((const float *)p)[k];
	}
}

/*
 * Rows [r0, r1) of a packed matrix as row-major fp32 [r1 - r0][n_in] in
 * dst (for saving a model).
 */
void
blas_mat_unpack(const struct blas_mat *m, size_t r0, size_t r1, float *dst)
{
	size_t n_in = m->n_in;

	for (size_t i0 = 0; i0 < n_in; i0 += BLAS_PACK_COLS) {
		size_t i1 = i0 + BLAS_PACK_COLS < n_in ? i0 + BLAS_PACK_COLS :
		    n_in;

		for (size_t j = r0; j < r1; j++) {
			size_t base = (j / BLAS_PANEL * n_in) * BLAS_PANEL +
			    j % BLAS_PANEL;
			float *o = dst + (j - r0) * n_in;

			for (size_t i = i0; i < i1; i++)
				o[i] = blas_widen(m->dtype, m->data, base +
				    i * BLAS_PANEL);
		}
	}
}

/* n stored elements of dtype t widened to fp32 (an embedding row). */
void
blas_widen_row(enum blas_dtype t, const void *src, float *dst, size_t n)
{
	if (t == BLAS_F32) {
		memcpy(dst, src, n * sizeof *dst);
		return;
	}
	for (size_t i = 0; i < n; i++)
		dst[i] = blas_widen(t, src, i);
}

/* --- kernels ------------------------------------------------------------------ */

/*
 * A kernel computes y[b][j] for every row j of panels [p0, p1) and every
 * b < nb, each as the chain the top of this file describes.
 */
typedef void	(*blas_mv_fn)(const struct blas_mat *, const float *, size_t,
		    float *, size_t, size_t);

/* Plain C: the same chains, a multiply and an add (no FMA) a step. */
static void
blas_mv_c(const struct blas_mat *m, const float *x, size_t nb, float *y,
    size_t p0, size_t p1)
{
	size_t n_in = m->n_in;

	for (size_t p = p0; p < p1; p++)
		for (size_t r = 0; r < BLAS_PANEL; r++) {
			size_t j = p * BLAS_PANEL + r;

			if (j >= m->n_out)
				break;
			for (size_t b = 0; b < nb; b++) {
				const float *xr = x + b * n_in;
				float s = 0;

				for (size_t i = 0; i < n_in; i++)
					s += blas_widen(m->dtype, m->data,
					    (p * n_in + i) * BLAS_PANEL + r) *
					    xr[i];
				y[b * m->n_out + j] = s;
			}
		}
}

/* --- AVX2: a panel is four 8-lane vectors ------------------------------------ */

static inline BLAS_AVX2 __m256
blas_ld8_f32(const void *p)
{
	return _mm256_load_ps(p);
}

static inline BLAS_AVX2 __m256
blas_ld8_bf16(const void *p)
{
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(
	    _mm_load_si128(p)), 16));
}

static inline BLAS_AVX2 __m256
blas_ld8_f16(const void *p)
{
	return _mm256_cvtph_ps(_mm_load_si128(p));
}

/* Rows r.. of one vector's output, at most 8, clipped to n_out. */
static inline BLAS_AVX2 void
blas_st8(float *y, __m256 v, size_t j, size_t n_out)
{
	if (j + 8 <= n_out)
		_mm256_storeu_ps(y + j, v);
	else if (j < n_out) {
		float t[8];

		_mm256_storeu_ps(t, v);
		memcpy(y + j, t, (n_out - j) * sizeof *t);
	}
}

/* One vector, one panel: four chains, one stream. */
#define BLAS_MV1_AVX2(T, ES)						\
static BLAS_AVX2 void							\
blas_mv1_avx2_##T(const unsigned char *w, size_t n_in, const float *x, \
    float *y, size_t n_out, size_t j0)					\
{									\
	__m256 acc[4];							\
									\
	BLAS_UNROLL							\
	for (int h = 0; h < 4; h++)					\
		acc[h] = _mm256_setzero_ps();				\
	for (size_t i = 0; i < n_in; i++) {				\
		const unsigned char *wi = w + i * BLAS_PANEL * ES;	\
		__m256 xb = _mm256_broadcast_ss(x + i);			\
									\
		_mm_prefetch((const char *)wi + BLAS_PF_AHEAD,		\
		    _MM_HINT_T0);					\
		if (ES == 4)						\
			_mm_prefetch((const char *)wi + BLAS_PF_AHEAD + 64, \
			    _MM_HINT_T0);				\
		BLAS_UNROLL						\
		for (int h = 0; h < 4; h++)				\
			acc[h] = _mm256_fmadd_ps(blas_ld8_##T(wi + h * 8 * \
			    ES), xb, acc[h]);				\
	}								\
	BLAS_UNROLL							\
	for (int h = 0; h < 4; h++)					\
		blas_st8(y, acc[h], j0 + (size_t)h * 8, n_out);		\
}

/* Half a panel (16 rows) by NB <= 6 vectors: 12 chains. */
#define BLAS_TILE_AVX2(T, ES, NB)					\
static BLAS_AVX2 void							\
blas_mvt_avx2_##T##_##NB(const unsigned char *w, size_t n_in,		\
    const float *x, float *y, size_t n_out, size_t j0)		\
{									\
	__m256 acc[NB][2];						\
									\
	BLAS_UNROLL							\
	for (int q = 0; q < NB; q++)					\
		acc[q][0] = acc[q][1] = _mm256_setzero_ps();		\
	for (size_t i = 0; i < n_in; i++) {				\
		const unsigned char *wi = w + i * BLAS_PANEL * ES;	\
		__m256 w0 = blas_ld8_##T(wi), w1 = blas_ld8_##T(wi + 8 * ES); \
		BLAS_UNROLL						\
		for (int q = 0; q < NB; q++) {				\
			__m256 xb = _mm256_broadcast_ss(x + (size_t)q *	\
			    n_in + i);					\
			acc[q][0] = _mm256_fmadd_ps(w0, xb, acc[q][0]);	\
			acc[q][1] = _mm256_fmadd_ps(w1, xb, acc[q][1]);	\
		}							\
	}								\
	BLAS_UNROLL							\
	for (int q = 0; q < NB; q++) {					\
		blas_st8(y + (size_t)q * n_out, acc[q][0], j0, n_out);	\
		blas_st8(y + (size_t)q * n_out, acc[q][1], j0 + 8, n_out); \
	}								\
}

#define BLAS_KERNELS_AVX2(T, ES)					\
BLAS_MV1_AVX2(T, ES)							\
BLAS_TILE_AVX2(T, ES, 1)						\
BLAS_TILE_AVX2(T, ES, 2)						\
BLAS_TILE_AVX2(T, ES, 3)						\
BLAS_TILE_AVX2(T, ES, 4)						\
BLAS_TILE_AVX2(T, ES, 5)						\
BLAS_TILE_AVX2(T, ES, 6)						\
									\
static BLAS_AVX2 void							\
blas_mv_avx2_##T(const struct blas_mat *m, const float *x, size_t nb,	\
    float *y, size_t p0, size_t p1)					\
{									\
	static void (*const tile[7])(const unsigned char *, size_t,	\
	    const float *, float *, size_t, size_t) = { NULL,		\
	    blas_mvt_avx2_##T##_1, blas_mvt_avx2_##T##_2,		\
	    blas_mvt_avx2_##T##_3, blas_mvt_avx2_##T##_4,		\
	    blas_mvt_avx2_##T##_5, blas_mvt_avx2_##T##_6 };		\
	size_t n_in = m->n_in, ps = n_in * BLAS_PANEL * ES;		\
	const unsigned char *w = (const unsigned char *)m->data;	\
	size_t p = p0;							\
									\
	if (nb == 1) {							\
		for (; p < p1; p++)					\
			blas_mv1_avx2_##T(w + p * ps, n_in, x, y,	\
			    m->n_out, p * BLAS_PANEL);			\
		return;							\
	}								\
	for (; p < p1; p++)						\
		for (size_t h = 0; h < 2; h++)				\
			for (size_t b = 0; b < nb; b += 6) {		\
				size_t k = nb - b < 6 ? nb - b : 6;	\
				tile[k](w + p * ps + h * 16 * ES, n_in,	\
				    x + b * n_in, y + b * m->n_out,	\
				    m->n_out, p * BLAS_PANEL + h * 16);	\
			}						\
}

BLAS_KERNELS_AVX2(f32, 4)
BLAS_KERNELS_AVX2(bf16, 2)
BLAS_KERNELS_AVX2(f16, 2)

/* --- AVX-512: a panel is two 16-lane vectors -------------------------------- */

static inline BLAS_AVX512 __m512
blas_ld16_f32(const void *p)
{
	return _mm512_load_ps(p);
}

static inline BLAS_AVX512 __m512
blas_ld16_bf16(const void *p)
{
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(
	    _mm256_load_si256(p)), 16));
}

static inline BLAS_AVX512 __m512
blas_ld16_f16(const void *p)
{
	return _mm512_cvtph_ps(_mm256_load_si256(p));
}

/* Rows j.. of one vector's output, at most 16, clipped to n_out. */
static inline BLAS_AVX512 void
blas_st16(float *y, __m512 v, size_t j, size_t n_out)
{
	if (j + 16 <= n_out)
		_mm512_storeu_ps(y + j, v);
	else if (j < n_out)
		_mm512_mask_storeu_ps(y + j, (__mmask16)((1u << (n_out - j)) -
		    1), v);
}

/*
 * One panel by NB <= 12 vectors: 2 * NB chains, each weight vector loaded
 * once and used NB times, x broadcast from memory.  With pf, it asks for
 * the stream BLAS_PF_AHEAD bytes ahead (the first tile of a panel; the
 * others find it near).  One vector has only two chains, enough: more
 * panels side by side, as more streams, read slower (15m shape: 4 panels
 * 2.77 ms a pass, 1 panel 2.30 ms).
 */
#define BLAS_TILE_AVX512(T, ES, NB)					\
static BLAS_AVX512 void							\
blas_mvt_avx512_##T##_##NB(const unsigned char *w, size_t n_in,		\
    const float *x, float *y, size_t n_out, size_t j0, int pf)		\
{									\
	__m512 acc[NB][2];						\
									\
	BLAS_UNROLL							\
	for (int q = 0; q < NB; q++)					\
		acc[q][0] = acc[q][1] = _mm512_setzero_ps();		\
	for (size_t i = 0; i < n_in; i++) {				\
		const unsigned char *wi = w + i * BLAS_PANEL * ES;	\
		__m512 w0 = blas_ld16_##T(wi);				\
		__m512 w1 = blas_ld16_##T(wi + 16 * ES);		\
									\
		if (pf) {						\
			_mm_prefetch((const char *)wi + BLAS_PF_AHEAD,	\
			    _MM_HINT_T0);				\
			if (ES == 4)					\
				_mm_prefetch((const char *)wi +		\
				    BLAS_PF_AHEAD + 64, _MM_HINT_T0);	\
		}							\
		/* loads, not one folded into each product */		\
		if (NB > 1)						\
			__asm__("" : "+v"(w0), "+v"(w1));		\
		BLAS_UNROLL						\
		for (int q = 0; q < NB; q++) {				\
			__m512 xb = _mm512_set1_ps(x[(size_t)q * n_in + i]); \
			acc[q][0] = _mm512_fmadd_ps(w0, xb, acc[q][0]);	\
			acc[q][1] = _mm512_fmadd_ps(w1, xb, acc[q][1]);	\
		}							\
	}								\
	BLAS_UNROLL							\
	for (int q = 0; q < NB; q++) {					\
		blas_st16(y + (size_t)q * n_out, acc[q][0], j0, n_out);	\
		blas_st16(y + (size_t)q * n_out, acc[q][1], j0 + 16,	\
		    n_out);						\
	}								\
}

#define BLAS_KERNELS_AVX512(T, ES)					\
BLAS_TILE_AVX512(T, ES, 1)						\
BLAS_TILE_AVX512(T, ES, 2)						\
BLAS_TILE_AVX512(T, ES, 3)						\
BLAS_TILE_AVX512(T, ES, 4)						\
BLAS_TILE_AVX512(T, ES, 5)						\
BLAS_TILE_AVX512(T, ES, 6)						\
BLAS_TILE_AVX512(T, ES, 7)						\
BLAS_TILE_AVX512(T, ES, 8)						\
BLAS_TILE_AVX512(T, ES, 9)						\
BLAS_TILE_AVX512(T, ES, 10)						\
BLAS_TILE_AVX512(T, ES, 11)						\
BLAS_TILE_AVX512(T, ES, 12)						\
									\
static BLAS_AVX512 void							\
blas_mv_avx512_##T(const struct blas_mat *m, const float *x, size_t nb, \
    float *y, size_t p0, size_t p1)					\
{									\
	static void (*const tile[BLAS_TILE_MAX + 1])(const unsigned char *, \
	    size_t, const float *, float *, size_t, size_t, int) = { NULL, \
	    blas_mvt_avx512_##T##_1, blas_mvt_avx512_##T##_2,		\
	    blas_mvt_avx512_##T##_3, blas_mvt_avx512_##T##_4,		\
	    blas_mvt_avx512_##T##_5, blas_mvt_avx512_##T##_6,		\
	    blas_mvt_avx512_##T##_7, blas_mvt_avx512_##T##_8,		\
	    blas_mvt_avx512_##T##_9, blas_mvt_avx512_##T##_10,		\
	    blas_mvt_avx512_##T##_11, blas_mvt_avx512_##T##_12 };	\
	size_t n_in = m->n_in, ps = n_in * BLAS_PANEL * ES;		\
	const unsigned char *w = (const unsigned char *)m->data;	\
									\
	for (size_t p = p0; p < p1; p++)				\
		for (size_t b = 0; b < nb; b += BLAS_TILE_MAX) {	\
			size_t k = nb - b < BLAS_TILE_MAX ? nb - b :	\
			    BLAS_TILE_MAX;				\
			tile[k](w + p * ps, n_in, x + b * n_in,		\
			    y + b * m->n_out, m->n_out, p * BLAS_PANEL,	\
			    b == 0);					\
		}							\
}

BLAS_KERNELS_AVX512(f32, 4)
BLAS_KERNELS_AVX512(bf16, 2)
BLAS_KERNELS_AVX512(f16, 2)

/* --- choosing and running a kernel -------------------------------------------- */

/* Each kernel set's kernel for each dtype (enum blas_dtype order). */
static const blas_mv_fn blas_mv_c_fns[] = { blas_mv_c, blas_mv_c, blas_mv_c };
static const blas_mv_fn blas_mv_avx2_fns[] = { blas_mv_avx2_f32,
    blas_mv_avx2_bf16, blas_mv_avx2_f16 };
static const blas_mv_fn blas_mv_avx512_fns[] = { blas_mv_avx512_f32,
    blas_mv_avx512_bf16, blas_mv_avx512_f16 };

static const blas_mv_fn	*blas_mv_cur;		/* NULL until selected */
static enum blas_mv_kernel blas_mv_cur_kind;
static const char	*blas_mv_cur_name = "";

/*
 * Choose the matrix-vector kernel: BLAS_MV_AUTO takes the widest the CPU
 * runs.  Returns -1, changing nothing, if the CPU lacks the instructions.
 * Not to be called while another thread runs blas_matvec().
 */
int
blas_mv_select(enum blas_mv_kernel k)
{
	if (k == BLAS_MV_AUTO)
		k = blas_cpu_has(BLAS_NEED_AVX512) ? BLAS_MV_AVX512 :
		    blas_cpu_has(BLAS_NEED_AVX2) ? BLAS_MV_AVX2 : BLAS_MV_C;
	switch (k) {
	case BLAS_MV_AVX512:
		if (!blas_cpu_has(BLAS_NEED_AVX512))
			return -1;
		blas_mv_cur = blas_mv_avx512_fns;
		blas_mv_cur_name = "avx512";
		break;
	case BLAS_MV_AVX2:
		if (!blas_cpu_has(BLAS_NEED_AVX2) ||
		    !__builtin_cpu_supports("f16c"))
			return -1;
		blas_mv_cur = blas_mv_avx2_fns;
		blas_mv_cur_name = "avx2";
		break;
	default:
		k = BLAS_MV_C;
		blas_mv_cur = blas_mv_c_fns;
		blas_mv_cur_name = "c";
		break;
	}
	blas_mv_cur_kind = k;
	return 0;
}

/* The kernel set in use (chosen at the first call), one per dtype. */
static const blas_mv_fn *
blas_mv_get(void)
{
	if (blas_mv_cur == NULL) {
		#pragma omp critical (blas_mv_init)
		if (blas_mv_cur == NULL)
			blas_mv_select(BLAS_MV_AUTO);
	}
	return blas_mv_cur;
}

/* The kernel set in use, for the other kernels that follow it. */
enum blas_mv_kernel
blas_mv_kind(void)
{
	blas_mv_get();
	return blas_mv_cur_kind;
}

/* The matrix-vector kernel in use: "avx512", "avx2" or "c". */
const char *
blas_mv_name(void)
{
	blas_mv_get();
	return blas_mv_cur_name;
}

/*
 * The kernels and weight dtype a model runs, for the history: e.g.
 * "mv avx512 bf16, blis skx", so that a replay on another machine can
 * say why its numbers differ.  Static string, valid until the next call.
 */
const char *
blas_kernel_desc(enum blas_dtype t)
{
	static char	 desc[64];
	static const char *const dt[] = { "f32", "bf16", "f16" };

	snprintf(desc, sizeof desc, "mv %s %s, blis %s", blas_mv_name(),
	    dt[t], blas_arch_chosen());
	return desc;
}

#define BLAS_MV_MIN_WORK	(1u << 15)	/* multiply-adds worth a thread */

/*
 * y[k] = w[k] x for the n matrices w[0..n) (same n_in), their panels
 * shared among the threads of the enclosing parallel region (one thread
 * outside any) as one contiguous run each, so that fused projections (q,
 * k and v; w1 and w3) cost one pass and one barrier, and a thread's
 * kernel sees its panels together.  Ends with a barrier unless nowait.
 * Every thread of the team must call it.
 */
void
blas_matvec_team(const struct blas_mat *const *w, float *const *y, int n,
    const float *x, size_t nb, int nowait)
{
	size_t first[BLAS_MV_MAX_FUSED + 1], a, b;
	const blas_mv_fn *fn = blas_mv_get();
	int nt = 1, t = util_thread();

#ifdef _OPENMP
	nt = omp_get_num_threads();
#endif
	first[0] = 0;
	for (int k = 0; k < n; k++)
		first[k + 1] = first[k] + blas_mat_panels(w[k]->n_out);
	a = first[n] * (size_t)t / (size_t)nt;
	b = first[n] * (size_t)(t + 1) / (size_t)nt;
	for (int k = 0; k < n && a < b; k++) {
		size_t lo = a > first[k] ? a : first[k];
		size_t hi = b < first[k + 1] ? b : first[k + 1];

		if (lo < hi)
			fn[w[k]->dtype](w[k], x, nb, y[k], lo - first[k],
			    hi - first[k]);
	}
	if (!nowait) {
		#pragma omp barrier
	}
}

/* Work items of BLAS_MV_ROWS rows that w has. */
size_t
blas_mat_blocks(const struct blas_mat *w)
{
	return (w->n_out + BLAS_MV_ROWS - 1) / BLAS_MV_ROWS;
}

#define BLAS_MV_BLOCK	(BLAS_MV_ROWS / BLAS_PANEL)	/* panels an item */

/*
 * Rows [k * BLAS_MV_ROWS, k * BLAS_MV_ROWS + BLAS_MV_ROWS) of y = w x
 * (fewer at the end), for a caller that shares the blocks among its
 * threads itself and works on the rows at once (SwiGLU after w1 and w3).
 * Returns the end of the rows done.
 */
size_t
blas_matvec_block(const struct blas_mat *w, const float *x, size_t nb,
    float *y, size_t k)
{
	size_t np = blas_mat_panels(w->n_out), p0 = k * BLAS_MV_BLOCK;
	size_t j1 = (k + 1) * BLAS_MV_ROWS;

	blas_mv_get()[w->dtype](w, x, nb, y, p0, p0 + BLAS_MV_BLOCK < np ?
	    p0 + BLAS_MV_BLOCK : np);
	return j1 < w->n_out ? j1 : w->n_out;
}

/*
 * y[k] = w[k] x for the n matrices w[0..n) (same n_in), nb vectors x
 * ([nb][n_in]) into each y[k] ([nb][n_out]), in one pass on up to nt
 * threads (the caller's team when called inside a parallel region), fewer
 * when the work is too small to share; see blas.h for the determinism it
 * promises.
 */
void
blas_matvec_fused(int nt, const struct blas_mat *const *w, float *const *y,
    int n, const float *x, size_t nb)
{
	size_t work = 0;

	for (int k = 0; k < n; k++)
		work += w[k]->n_out * w[k]->n_in * nb;
#ifdef _OPENMP
	if (omp_in_parallel()) {
		blas_matvec_team(w, y, n, x, nb, 0);
		return;
	}
#endif
	if (nt > 1 && work / (size_t)nt < BLAS_MV_MIN_WORK)
		nt = (int)(work / BLAS_MV_MIN_WORK);
	if (nt <= 1) {
		blas_matvec_team(w, y, n, x, nb, 1);
		return;
	}
	/* the region's end is the barrier */
	#pragma omp parallel num_threads(nt)
	blas_matvec_team(w, y, n, x, nb, 1);
}

/* blas_matvec_fused() of one matrix. */
void
blas_matvec(int nt, const struct blas_mat *w, const float *x, size_t nb,
    float *y)
{
	blas_matvec_fused(nt, &w, &y, 1, x, nb);
}

/*
 * Plain-C twin of blas_matvec() on an unpacked fp32 matrix w
 * ([n_out][n_in]): sums in double.
 */
void
blas_matvec_ref(const float *w, size_t n_out, size_t n_in, const float *x,
    size_t nb, float *y)
{
	for (size_t b = 0; b < nb; b++)
		for (size_t j = 0; j < n_out; j++) {
			double s = 0;

			for (size_t i = 0; i < n_in; i++)
				s += (double)w[j * n_in + i] * x[b * n_in + i];
			y[b * n_out + j] = (float)s;
		}
}
