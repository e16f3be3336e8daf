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
 * Decode's packed matrices and kernels are in blas_mv.c, its attention in
 * blas_attn.c.
 *
 * The tests compare blas_gemm() with blas_gemm_ref().
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <blis.h>

#include "util.h"
#include "blas.h"
#include "blas_int.h"

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

int
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
 * One GEMM on nt threads, big enough for BLIS's packed path (not its
 * small-matrix one): BLIS keeps the packing blocks it takes now in its
 * pools and reuses them, so later GEMMs on up to nt threads allocate
 * nothing that could make it abort.
 */
/* What a new thread of the team takes from the address space (glibc's
 * default stack, which ulimit -v counts). */
#define BLAS_THREAD_STACK	((size_t)8 << 20)

static int
blas_gemm_warm(int nt, struct err *err)
{
	enum { N = 256 };
	float *a = calloc((size_t)3 * N * N, sizeof *a);

	if (a == NULL) {
		err_set(err, "blis workspace: out of memory");
		return -1;
	}
	blas_gemm(nt, 1, N, N, N, 1, a, N, a + N * N, N, 0, a + 2 * N * N, N);
	free(a);
	return 0;
}

/*
 * Make sure the packing buffers BLIS takes for GEMMs on nt threads can be
 * had: BLIS aborts the process when its own malloc fails.  Its pools hand
 * out blocks sized for the largest datatype (a B panel is some 17 MB), an
 * A block per thread and up to a B panel per thread, so try an allocation
 * of that size, with a thread's stack each (the team may start now), first
 * (freed at once) and fail with err instead; then let
 * one GEMM fill the pools while the memory is there.  Returns 0 or -1.
 */
int
blas_gemm_reserve(int nt, struct err *err)
{
	pba_t	*pba;
	size_t	 n = (size_t)(nt > 0 ? nt : 1), bytes;
	void	*p;

	pthread_once(&blas_once, blas_init);
	pba = bli_pba_query();
	bytes = n * (bli_pool_block_size(bli_pba_pool(0, pba)) +
	    bli_pool_block_size(bli_pba_pool(1, pba)) + BLAS_THREAD_STACK);
	if ((p = malloc(bytes)) == NULL) {
		err_set(err, "blis workspace: %zu MiB: out of memory",
		    bytes >> 20);
		return -1;
	}
	free(p);
	return blas_gemm_warm(nt, err);
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

/* --- streaming read ------------------------------------------------------------ */

/*
 * Sum of p[0..n) read as fast as this CPU streams memory, in the way
 * `how` says: BLAS_STREAM_PLAIN, eight independent accumulators of the
 * widest vectors it has, so that neither an add's latency nor the loop
 * limits the rate; BLAS_STREAM_PREFETCH, the same with software prefetch
 * well ahead, which some cores need to keep enough lines in flight;
 * BLAS_STREAM_SPLIT, four quarters read side by side, as four hardware
 * prefetch streams.  Which is fastest depends on the core, so `lmsh bench`
 * takes the best of them as the machine's bandwidth.
 */
#define BLAS_STREAM_PF	2048	/* floats ahead: 8 KiB */

static inline BLAS_AVX2 float
blas_hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
	    _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

#define BLAS_STREAM_BODY(VEC, W, ZERO, ADD, LOAD, HSUM) do {		\
	VEC a[8];							\
	size_t i = 0, q = 0;						\
	float s = 0;							\
									\
	BLAS_UNROLL							\
	for (int k = 0; k < 8; k++)					\
		a[k] = ZERO();						\
	if (how == BLAS_STREAM_SPLIT) {					\
		q = n / 4 / (2 * W) * (2 * W);				\
		for (; i < q; i += 2 * W)				\
			BLAS_UNROLL					\
			for (int k = 0; k < 8; k++)			\
				a[k] = ADD(a[k], LOAD(p + k / 2 * q +	\
				    i + k % 2 * W));			\
		i = 4 * q;						\
	}								\
	for (; i + 8 * W <= n; i += 8 * W) {				\
		if (how == BLAS_STREAM_PREFETCH)			\
			BLAS_UNROLL					\
			for (int k = 0; k < 8 * W; k += 16)		\
				_mm_prefetch((const char *)(p + i + k +	\
				    BLAS_STREAM_PF), _MM_HINT_T0);	\
		BLAS_UNROLL						\
		for (int k = 0; k < 8; k++)				\
			a[k] = ADD(a[k], LOAD(p + i + W * k));		\
	}								\
	for (int k = 1; k < 8; k++)					\
		a[0] = ADD(a[0], a[k]);					\
	for (; i < n; i++)						\
		s += p[i];						\
	return s + HSUM(a[0]);						\
} while (0)

static BLAS_AVX512 float
blas_stream_avx512(const float *p, size_t n, enum blas_stream how)
{
	BLAS_STREAM_BODY(__m512, 16, _mm512_setzero_ps, _mm512_add_ps,
	    _mm512_loadu_ps, _mm512_reduce_add_ps);
}

static BLAS_AVX2 float
blas_stream_avx2(const float *p, size_t n, enum blas_stream how)
{
	BLAS_STREAM_BODY(__m256, 8, _mm256_setzero_ps, _mm256_add_ps,
	    _mm256_loadu_ps, blas_hsum8);
}

float
blas_stream_sum(const float *p, size_t n, enum blas_stream how)
{
	float a[8] = { 0 }, s = 0;
	size_t i = 0;

	if (blas_cpu_has(BLAS_NEED_AVX512))
		return blas_stream_avx512(p, n, how);
	if (blas_cpu_has(BLAS_NEED_AVX2))
		return blas_stream_avx2(p, n, how);
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			a[k] += p[i + k];
	for (; i < n; i++)
		s += p[i];
	for (int k = 0; k < 8; k++)
		s += a[k];
	return s;
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
