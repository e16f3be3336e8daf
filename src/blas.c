/*
 * blas.c: the matrix products the model runs, and BLIS set-up.
 *
 * Prefill multiplies [tokens][d_in] activations by weights stored (d_out,
 * d_in), a GEMM that BLIS does well.  Debian's BLIS picks its kernels from
 * the CPU id and falls back to the slow generic ones on CPUs newer than it
 * knows (AMD Zen 5 reads as "generic"), so at first use we pick a kernel set
 * by instruction-set support instead and hand BLIS that context on every
 * call: AVX-512F/BW/DQ/VL -> skx, AVX2+FMA -> haswell, else native.
 *
 * Decode multiplies the weights by 1 to 32 vectors: there BLIS's sgemv runs
 * on one thread and sgemm packs for nothing, so we use our own kernel that
 * streams each weight row once per tile of vectors.  Its threads split the
 * output rows, never the sum, and a dot product is computed by the same
 * instructions wherever it sits in a tile, so the result for one sequence
 * does not depend on what else is in the batch or on the thread count.
 *
 * Each kernel has a plain-C _ref twin for the tests.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <blis.h>

#include "util.h"
#include "blas.h"

/* --- BLIS kernel selection ------------------------------------------------ */

#ifdef HAVE_BLIS_CNTX_INIT
/* Exported by libblis but not declared in its header. */
void	bli_cntx_init_skx(cntx_t *);
void	bli_cntx_init_haswell(cntx_t *);
void	bli_cntx_init_zen(cntx_t *);
void	bli_cntx_init_zen3(cntx_t *);
void	bli_cntx_init_generic(cntx_t *);
#endif

struct blas_arch {
	const char	*name;		/* as in LMSH_BLIS_ARCH */
#ifdef HAVE_BLIS_CNTX_INIT
	void		(*init)(cntx_t *);	/* NULL: BLIS's own choice */
#endif
	int		 need;		/* BLAS_NEED_* the kernels execute */
};

#define BLAS_NEED_AVX2		1
#define BLAS_NEED_AVX512	2

static const struct blas_arch blas_archs[] = {
#ifdef HAVE_BLIS_CNTX_INIT
	{ "native", NULL, 0 },
	{ "skx", bli_cntx_init_skx, BLAS_NEED_AVX512 },
	{ "haswell", bli_cntx_init_haswell, BLAS_NEED_AVX2 },
	{ "zen", bli_cntx_init_zen, BLAS_NEED_AVX2 },
	{ "zen3", bli_cntx_init_zen3, BLAS_NEED_AVX2 },
	{ "generic", bli_cntx_init_generic, 0 },
#else
	{ "native", 0 },
#endif
};

static pthread_once_t	 blas_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t	 blas_lock = PTHREAD_MUTEX_INITIALIZER;
static cntx_t		 blas_cntx;		/* for blas_cur, if not native */
static const struct blas_arch *blas_cur;	/* chosen kernel set */
static char		 blas_native_name[32];	/* BLIS's own pick */

static int
blas_cpu_has(int need)
{
	__builtin_cpu_init();
	if ((need & BLAS_NEED_AVX512) && !(__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl")))
		return 0;
	if ((need & BLAS_NEED_AVX2) && !(__builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("fma")))
		return 0;
	return 1;
}

static const struct blas_arch *
blas_arch_find(const char *name)
{
	for (size_t i = 0; i < sizeof blas_archs / sizeof blas_archs[0]; i++)
		if (strcmp(blas_archs[i].name, name) == 0)
			return &blas_archs[i];
	return NULL;
}

/* Callers hold blas_lock or run inside blas_once. */
static void
blas_use(const struct blas_arch *a)
{
	blas_cur = a;
#ifdef HAVE_BLIS_CNTX_INIT
	if (a->init != NULL) {
		memset(&blas_cntx, 0, sizeof blas_cntx);
		a->init(&blas_cntx);
	}
#endif
}

static void
blas_init(void)
{
	const struct blas_arch *a = NULL;
	const char *env;

	bli_init();
	snprintf(blas_native_name, sizeof blas_native_name, "%s",
	    bli_arch_string(bli_arch_query_id()));
	if ((env = getenv("LMSH_BLIS_ARCH")) != NULL && *env != '\0' &&
	    (a = blas_arch_find(env)) != NULL && !blas_cpu_has(a->need))
		a = NULL;
	if (a == NULL && (a = blas_arch_find("skx")) != NULL &&
	    !blas_cpu_has(a->need))
		a = NULL;
	if (a == NULL && (a = blas_arch_find("haswell")) != NULL &&
	    !blas_cpu_has(a->need))
		a = NULL;
	if (a == NULL)
		a = &blas_archs[0];
	blas_use(a);
}

/*
 * BLIS's own pick for this CPU (bli_arch_query_id), e.g. "zen3" or
 * "generic".  Static string.
 */
const char *
blas_arch_native(void)
{
	pthread_once(&blas_once, blas_init);
	return blas_native_name;
}

/*
 * The kernel set blas_gemm() runs: "skx", "haswell", ... or "native".
 * Static string.
 */
const char *
blas_arch_chosen(void)
{
	pthread_once(&blas_once, blas_init);
	return blas_cur->name;
}

/*
 * Use the named kernel set from now on (tests compare each with the _ref).
 * Fails, changing nothing, if the name is unknown or the CPU lacks the
 * instructions its kernels need.  Not to be called while another thread
 * runs blas_gemm().
 */
int
blas_set_arch(const char *name, struct err *err)
{
	const struct blas_arch *a;

	pthread_once(&blas_once, blas_init);
	if ((a = blas_arch_find(name)) == NULL) {
		err_set(err, "blis kernel set %s: unknown (or not in this build)",
		    name);
		return -1;
	}
	if (!blas_cpu_has(a->need)) {
		err_set(err, "blis kernel set %s: this cpu lacks its instructions",
		    name);
		return -1;
	}
	pthread_mutex_lock(&blas_lock);
	blas_use(a);
	pthread_mutex_unlock(&blas_lock);
	return 0;
}

/* --- GEMM ------------------------------------------------------------------ */

/*
 * C = alpha * A * op(B) + beta * C with BLIS on nt threads; see blas.h for
 * the shapes.  BLIS splits the m and n loops among threads, never k.
 */
void
blas_gemm(int nt, int trans_b, size_t m, size_t n, size_t k, float alpha,
    const float *a, size_t lda, const float *b, size_t ldb, float beta,
    float *c, size_t ldc)
{
	rntm_t rntm;
	cntx_t *cntx = NULL;
	inc_t rsb, csb;

	if (m == 0 || n == 0)
		return;
	pthread_once(&blas_once, blas_init);
#ifdef HAVE_BLIS_CNTX_INIT
	if (blas_cur->init != NULL)
		cntx = &blas_cntx;
#endif
	bli_rntm_init(&rntm);
	bli_rntm_set_num_threads(nt > 0 ? nt : 1, &rntm);
	/* op(B) is k x n: B^T of a row-major [n][k] is column-major. */
	rsb = trans_b ? 1 : (inc_t)ldb;
	csb = trans_b ? (inc_t)ldb : 1;
	bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n,
	    (dim_t)k, &alpha, (float *)a, (inc_t)lda, 1, (float *)b, rsb, csb,
	    &beta, c, (inc_t)ldc, 1, cntx, &rntm);
}

/*
 * Plain-C twin of blas_gemm() (sums in double, so it is the more exact of
 * the two).
 */
void
blas_gemm_ref(int trans_b, size_t m, size_t n, size_t k, float alpha,
    const float *a, size_t lda, const float *b, size_t ldb, float beta,
    float *c, size_t ldc)
{
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < n; j++) {
			double s = 0;

			for (size_t p = 0; p < k; p++)
				s += (double)a[i * lda + p] * (trans_b ?
				    b[j * ldb + p] : b[p * ldb + j]);
			c[i * ldc + j] = (float)(alpha * s +
			    (beta == 0 ? 0 : (double)beta * c[i * ldc + j]));
		}
}

/* --- matrix times vectors ---------------------------------------------------- */

/*
 * A kernel computes the tile y[b][j] for j in [j0, j1), all b < nb.  Each
 * kernel must compute every (b, j) with the same instruction sequence
 * whatever tile it falls in, which the tile functions below guarantee by
 * keeping one accumulator per (b, j), walking i upwards in vector steps and
 * reducing it the same way.
 */
typedef void	(*blas_mv_fn)(const float *, size_t, const float *, size_t,
		    float *, size_t, size_t, size_t);

static void
blas_mv_c(const float *w, size_t n_in, const float *x, size_t nb, float *y,
    size_t n_out, size_t j0, size_t j1)
{
	for (size_t j = j0; j < j1; j++)
		for (size_t b = 0; b < nb; b++) {
			const float *wr = w + j * n_in, *xr = x + b * n_in;
			float s = 0;

			for (size_t i = 0; i < n_in; i++)
				s += wr[i] * xr[i];
			y[b * n_out + j] = s;
		}
}

/* Tiles keep their accumulators in registers only if fully unrolled. */
#define BLAS_UNROLL _Pragma("GCC unroll 16")

/* AVX2: 8 lanes, tiles of 4 rows x 2 vectors (8 accumulators). */
#define BLAS_AVX2 __attribute__((target("avx2,fma")))

static inline BLAS_AVX2 float
blas_hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
	    _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

static inline BLAS_AVX2 __m256i
blas_mask8(size_t r)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);

	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r), idx);
}

#define BLAS_TILE_AVX2(R, B)						\
static BLAS_AVX2 void							\
blas_mv_avx2_##R##x##B(const float *w, size_t n_in, const float *x,	\
    float *y, size_t n_out)						\
{									\
	__m256 acc[R][B];						\
	size_t i = 0, r = n_in % 8;					\
									\
	BLAS_UNROLL							\
	for (int p = 0; p < R; p++)					\
		BLAS_UNROLL						\
		for (int q = 0; q < B; q++)				\
			acc[p][q] = _mm256_setzero_ps();		\
	for (; i + 8 <= n_in; i += 8) {					\
		__m256 wv[R], xv[B];					\
		BLAS_UNROLL						\
		for (int p = 0; p < R; p++)				\
			wv[p] = _mm256_loadu_ps(w + p * n_in + i);	\
		BLAS_UNROLL						\
		for (int q = 0; q < B; q++)				\
			xv[q] = _mm256_loadu_ps(x + q * n_in + i);	\
		BLAS_UNROLL						\
		for (int p = 0; p < R; p++)				\
			BLAS_UNROLL					\
			for (int q = 0; q < B; q++)			\
				acc[p][q] = _mm256_fmadd_ps(wv[p], xv[q], \
				    acc[p][q]);				\
	}								\
	if (r != 0) {							\
		__m256i m = blas_mask8(r);				\
		BLAS_UNROLL						\
		for (int p = 0; p < R; p++)				\
			BLAS_UNROLL					\
			for (int q = 0; q < B; q++)			\
				acc[p][q] = _mm256_fmadd_ps(		\
				    _mm256_maskload_ps(w + p * n_in + i, m), \
				    _mm256_maskload_ps(x + q * n_in + i, m), \
				    acc[p][q]);				\
	}								\
	BLAS_UNROLL							\
	for (int p = 0; p < R; p++)					\
		BLAS_UNROLL						\
		for (int q = 0; q < B; q++)				\
			y[q * n_out + p] = blas_hsum8(acc[p][q]);	\
}

BLAS_TILE_AVX2(4, 2)
BLAS_TILE_AVX2(4, 1)
BLAS_TILE_AVX2(1, 1)

static BLAS_AVX2 void
blas_mv_avx2(const float *w, size_t n_in, const float *x, size_t nb, float *y,
    size_t n_out, size_t j0, size_t j1)
{
	size_t j = j0;

	for (; j + 4 <= j1; j += 4) {
		size_t b = 0;

		for (; b + 2 <= nb; b += 2)
			blas_mv_avx2_4x2(w + j * n_in, n_in, x + b * n_in,
			    y + b * n_out + j, n_out);
		for (; b < nb; b++)
			blas_mv_avx2_4x1(w + j * n_in, n_in, x + b * n_in,
			    y + b * n_out + j, n_out);
	}
	for (; j < j1; j++)
		for (size_t b = 0; b < nb; b++)
			blas_mv_avx2_1x1(w + j * n_in, n_in, x + b * n_in,
			    y + b * n_out + j, n_out);
}

/* AVX-512: 16 lanes, tiles of 4 rows x 4 vectors (16 accumulators). */
#define BLAS_AVX512 __attribute__((target("avx512f")))

#define BLAS_TILE_AVX512(R, B)						\
static BLAS_AVX512 void							\
blas_mv_avx512_##R##x##B(const float *w, size_t n_in, const float *x,	\
    float *y, size_t n_out)						\
{									\
	__m512 acc[R][B];						\
	size_t i = 0, r = n_in % 16;					\
									\
	BLAS_UNROLL							\
	for (int p = 0; p < R; p++)					\
		BLAS_UNROLL						\
		for (int q = 0; q < B; q++)				\
			acc[p][q] = _mm512_setzero_ps();		\
	for (; i + 16 <= n_in; i += 16) {				\
		__m512 wv[R], xv[B];					\
		BLAS_UNROLL						\
		for (int p = 0; p < R; p++)				\
			wv[p] = _mm512_loadu_ps(w + p * n_in + i);	\
		BLAS_UNROLL						\
		for (int q = 0; q < B; q++)				\
			xv[q] = _mm512_loadu_ps(x + q * n_in + i);	\
		BLAS_UNROLL						\
		for (int p = 0; p < R; p++)				\
			BLAS_UNROLL					\
			for (int q = 0; q < B; q++)			\
				acc[p][q] = _mm512_fmadd_ps(wv[p], xv[q], \
				    acc[p][q]);				\
	}								\
	if (r != 0) {							\
		__mmask16 m = (__mmask16)((1u << r) - 1);		\
		BLAS_UNROLL						\
		for (int p = 0; p < R; p++)				\
			BLAS_UNROLL					\
			for (int q = 0; q < B; q++)			\
				acc[p][q] = _mm512_fmadd_ps(		\
				    _mm512_maskz_loadu_ps(m, w + p * n_in + i), \
				    _mm512_maskz_loadu_ps(m, x + q * n_in + i), \
				    acc[p][q]);				\
	}								\
	BLAS_UNROLL							\
	for (int p = 0; p < R; p++)					\
		BLAS_UNROLL						\
		for (int q = 0; q < B; q++)				\
			y[q * n_out + p] = _mm512_reduce_add_ps(acc[p][q]); \
}

BLAS_TILE_AVX512(4, 4)
BLAS_TILE_AVX512(8, 1)
BLAS_TILE_AVX512(4, 1)
BLAS_TILE_AVX512(1, 1)

static BLAS_AVX512 void
blas_mv_avx512(const float *w, size_t n_in, const float *x, size_t nb,
    float *y, size_t n_out, size_t j0, size_t j1)
{
	size_t j = j0;

	/* One vector: 8 rows at a time keep more loads in flight. */
	if (nb == 1)
		for (; j + 8 <= j1; j += 8)
			blas_mv_avx512_8x1(w + j * n_in, n_in, x, y + j, n_out);
	for (; j + 4 <= j1; j += 4) {
		size_t b = 0;

		for (; b + 4 <= nb; b += 4)
			blas_mv_avx512_4x4(w + j * n_in, n_in, x + b * n_in,
			    y + b * n_out + j, n_out);
		for (; b < nb; b++)
			blas_mv_avx512_4x1(w + j * n_in, n_in, x + b * n_in,
			    y + b * n_out + j, n_out);
	}
	for (; j < j1; j++)
		for (size_t b = 0; b < nb; b++)
			blas_mv_avx512_1x1(w + j * n_in, n_in, x + b * n_in,
			    y + b * n_out + j, n_out);
}

static blas_mv_fn	 blas_mv_cur;		/* NULL until selected */
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
		if (!__builtin_cpu_supports("avx512f"))
			return -1;
		blas_mv_cur = blas_mv_avx512;
		blas_mv_cur_name = "avx512";
		break;
	case BLAS_MV_AVX2:
		if (!blas_cpu_has(BLAS_NEED_AVX2))
			return -1;
		blas_mv_cur = blas_mv_avx2;
		blas_mv_cur_name = "avx2";
		break;
	default:
		blas_mv_cur = blas_mv_c;
		blas_mv_cur_name = "c";
		break;
	}
	return 0;
}

/* The matrix-vector kernel in use: "avx512", "avx2" or "c". */
const char *
blas_mv_name(void)
{
	if (blas_mv_cur == NULL)
		blas_mv_select(BLAS_MV_AUTO);
	return blas_mv_cur_name;
}

#define BLAS_MV_MIN_WORK	(1u << 15)	/* multiply-adds worth a thread */
#define BLAS_MV_BLOCK		16	/* rows per work item: tiles fit */

/*
 * The rows of y shared among the threads of the enclosing parallel region
 * (one thread outside any), in contiguous blocks.  Ends with a barrier
 * unless nowait.  Every thread of the team must call it.
 */
void
blas_matvec_team(const float *w, size_t n_out, size_t n_in, const float *x,
    size_t nb, float *y, int nowait)
{
	long n_blk = (long)((n_out + BLAS_MV_BLOCK - 1) / BLAS_MV_BLOCK);
	blas_mv_fn fn;

	if (blas_mv_cur == NULL) {
		#pragma omp critical (blas_mv_init)
		if (blas_mv_cur == NULL)
			blas_mv_select(BLAS_MV_AUTO);
	}
	fn = blas_mv_cur;
	if (nowait) {
		#pragma omp for schedule(static) nowait
		for (long k = 0; k < n_blk; k++) {
			size_t j0 = (size_t)k * BLAS_MV_BLOCK;
			size_t j1 = j0 + BLAS_MV_BLOCK < n_out ?
			    j0 + BLAS_MV_BLOCK : n_out;

			fn(w, n_in, x, nb, y, n_out, j0, j1);
		}
	} else {
		#pragma omp for schedule(static)
		for (long k = 0; k < n_blk; k++) {
			size_t j0 = (size_t)k * BLAS_MV_BLOCK;
			size_t j1 = j0 + BLAS_MV_BLOCK < n_out ?
			    j0 + BLAS_MV_BLOCK : n_out;

			fn(w, n_in, x, nb, y, n_out, j0, j1);
		}
	}
}

/*
 * y[b][j] = sum_i w[j][i] * x[b][i] on up to nt threads (the caller's team
 * when called inside a parallel region); see blas.h for the shapes and the
 * determinism it promises.
 */
void
blas_matvec(int nt, const float *w, size_t n_out, size_t n_in, const float *x,
    size_t nb, float *y)
{
	size_t work = n_out * n_in * nb;

	if (blas_mv_cur == NULL)
		blas_mv_select(BLAS_MV_AUTO);
#ifdef _OPENMP
	if (omp_in_parallel()) {
		blas_matvec_team(w, n_out, n_in, x, nb, y, 0);
		return;
	}
#endif
	if (nt > 1 && work / (size_t)nt < BLAS_MV_MIN_WORK)
		nt = (int)(work / BLAS_MV_MIN_WORK);
	if (nt <= 1) {
		blas_mv_cur(w, n_in, x, nb, y, n_out, 0, n_out);
		return;
	}
	#pragma omp parallel num_threads(nt)
	blas_matvec_team(w, n_out, n_in, x, nb, y, 0);
}

/*
 * Plain-C twin of blas_matvec(): sums in double.
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

/*
 * Dot product in a fixed order for a given build (the compiler may use
 * vector lanes, always the same way).
 */
float
blas_dot(const float *a, const float *b, size_t n)
{
	float s = 0;

	#pragma omp simd reduction(+:s)
	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}
