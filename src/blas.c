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
 * on one thread and sgemm packs for nothing, so we use our own kernels on
 * weights packed at load (struct blas_mat: panels of 8 rows, each a run of
 * 16-column chunks, so a panel is one straight stream; fp32, bf16 or f16
 * as stored, 2-byte types widened in registers).  Threads split the output
 * rows, never the sum, and a dot product is computed by the same
 * instructions wherever it sits in a tile, so the result for one sequence
 * does not depend on what else is in the batch or on the thread count.
 * Prefill widens blocks of packed rows for BLIS.
 *
 * Kernel sets: AVX-512F, AVX2+FMA+F16C, plain C; the tests compare each
 * with blas_matvec_ref() and blas_gemm() with blas_gemm_ref().
 */
#include "config.h"

#include <assert.h>
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

/* --- packed weight matrices ------------------------------------------------- */

/*
 * The layout: BLAS_PANEL rows at a time (a panel), each panel a run of
 * chunks of BLAS_CHUNK columns, and in a chunk the panel's rows one after
 * another.  Element (j, i) lies at
 *   ((j / 8 * n_chunks + i / 16) * 8 + j % 8) * 16 + i % 16,
 * zero-padded to whole panels and chunks.  A kernel that keeps one
 * accumulator per row of a panel then reads the matrix as one straight
 * stream, which the hardware prefetcher follows; eight rows read side by
 * side as eight streams (rows of 288 floats are only 18 cache lines) read
 * at well under half the speed on some CPUs.
 */
#define BLAS_PANEL	8	/* rows per panel */
/*
 * Bytes ahead of the kernel that it asks to be fetched.  The hardware
 * prefetcher alone kept the 2-byte kernels at 60-70% of the speed they
 * reach with it (bf16 110m shape: 27 ms a pass without, 18 ms with).
 */
#define BLAS_PF_AHEAD	8192
#define BLAS_CHUNK	16	/* columns per chunk: one AVX-512 vector */

static size_t
blas_dtype_size(enum blas_dtype t)
{
	return t == BLAS_F32 ? 4 : 2;
}

static size_t
blas_mat_chunks(size_t n_in)
{
	return (n_in + BLAS_CHUNK - 1) / BLAS_CHUNK;
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

	if (util_mul_size(blas_mat_panels(n_out), blas_mat_chunks(n_in), &n) ==
	    -1 || util_mul_size(n, BLAS_PANEL * BLAS_CHUNK * blas_dtype_size(t),
	    &n) == -1)
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

/*
 * Pack rows [r0, r1) of the matrix m describes from src, the row-major
 * rows r0.. (so a loader can pack a slice and let the source go), with
 * the padding after them zeroed.
 */
void
blas_mat_pack_rows(const struct blas_mat *m, const void *src, size_t r0,
    size_t r1)
{
	size_t es = blas_dtype_size(m->dtype), n_in = m->n_in;
	size_t n_ck = blas_mat_chunks(n_in);
	unsigned char *d = (unsigned char *)m->data;
	const unsigned char *s = src;

	/* the last panel's missing rows, when its last row comes */
	if (r1 == m->n_out)
		r1 = blas_mat_panels(m->n_out) * BLAS_PANEL;
	for (size_t j = r0; j < r1; j++)
		for (size_t c = 0; c < n_ck; c++) {
			size_t i0 = c * BLAS_CHUNK;
			size_t n = j >= m->n_out ? 0 : n_in - i0 < BLAS_CHUNK ?
			    n_in - i0 : BLAS_CHUNK;
			unsigned char *o = d + ((j / BLAS_PANEL * n_ck + c) *
			    BLAS_PANEL + j % BLAS_PANEL) * BLAS_CHUNK * es;
			const unsigned char *from = s + ((j - r0) * n_in + i0) *
			    es;

			/* constant sizes, so that the copies are inlined */
			if (n == BLAS_CHUNK && es == 4)
				memcpy(o, from, BLAS_CHUNK * 4);
			else if (n == BLAS_CHUNK)
				memcpy(o, from, BLAS_CHUNK * 2);
			else {
				memcpy(o, from, n * es);
				memset(o + n * es, 0, (BLAS_CHUNK - n) * es);
			}
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
	union { uint32_t u; float f; } v;
	uint16_t h;

	switch (t) {
	case BLAS_BF16:
		v.u = (uint32_t)((const uint16_t *)p)[k] << 16;
		return v.f;
	case BLAS_F16:
		h = ((const uint16_t *)p)[k];
		{
			uint32_t sign = (uint32_t)(h & 0x8000) << 16;
			uint32_t e = (h >> 10) & 0x1f, f = h & 0x3ff;

			if (e == 0x1f)
				v.u = sign | 0x7f800000u | f << 13;
			else if (e != 0)
				v.u = sign | (e + 112) << 23 | f << 13;
			else {
				/* subnormal: f * 2^-24, exact in fp32 */
				v.f = (float)f * 0x1p-24f;
				v.u |= sign;
			}
		}
		return v.f;
	default:
		return ((const float *)p)[k];
	}
}

/*
 * Rows [r0, r1) of a packed matrix as row-major fp32 [r1 - r0][n_in] in
 * dst (for BLIS, and for saving).
 */
void
blas_mat_unpack(const struct blas_mat *m, size_t r0, size_t r1, float *dst)
{
	size_t n_ck = blas_mat_chunks(m->n_in), es = blas_dtype_size(m->dtype);

	for (size_t j = r0; j < r1; j++)
		for (size_t c = 0; c < n_ck; c++) {
			size_t i0 = c * BLAS_CHUNK;
			size_t n = m->n_in - i0 < BLAS_CHUNK ? m->n_in - i0 :
			    BLAS_CHUNK;
			const unsigned char *s = (const unsigned char *)m->data +
			    ((j / BLAS_PANEL * n_ck + c) * BLAS_PANEL +
			    j % BLAS_PANEL) * BLAS_CHUNK * es;
			float *o = dst + (j - r0) * m->n_in + i0;

			for (size_t i = 0; i < n; i++)
				o[i] = blas_widen(m->dtype, s, i);
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

/* --- matrix times vectors ---------------------------------------------------- */

/*
 * A kernel computes y[b][j] for every row j of panels [p0, p1) and every
 * b < nb.  Each must compute every (b, j) with the same instruction
 * sequence whatever tile it falls in: one accumulator per (b, j), chunks
 * walked upwards, the last one with x masked (the weights are padded with
 * zeros), reduced the same way.
 */
typedef void	(*blas_mv_fn)(const struct blas_mat *, const float *, size_t,
		    float *, size_t, size_t);

static void
blas_mv_c(const struct blas_mat *m, const float *x, size_t nb, float *y,
    size_t p0, size_t p1)
{
	size_t n_in = m->n_in, n_ck = blas_mat_chunks(n_in);

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
					    ((p * n_ck + i / BLAS_CHUNK) *
					    BLAS_PANEL + r) * BLAS_CHUNK +
					    i % BLAS_CHUNK) * xr[i];
				y[b * m->n_out + j] = s;
			}
		}
}

/*
 * AVX2: a chunk is two 8-lane halves, added to the row's accumulator one
 * after the other; a tile is one panel by one vector (8 accumulators).
 */
static inline BLAS_AVX2 __m256i
blas_mask8(size_t r)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);

	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r), idx);
}

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

#define BLAS_TILE_AVX2(T, ES)						\
static BLAS_AVX2 void							\
blas_mv_avx2_##T(const unsigned char *w, size_t n_in, const float *x,	\
    float *y, size_t rows)						\
{									\
	__m256 acc[BLAS_PANEL];						\
	size_t n_full = n_in / BLAS_CHUNK, r = n_in % BLAS_CHUNK;	\
									\
	BLAS_UNROLL							\
	for (int p = 0; p < BLAS_PANEL; p++)				\
		acc[p] = _mm256_setzero_ps();				\
	for (size_t c = 0; c < n_full; c++) {				\
		__m256 x0 = _mm256_loadu_ps(x + c * BLAS_CHUNK);	\
		__m256 x1 = _mm256_loadu_ps(x + c * BLAS_CHUNK + 8);	\
		BLAS_UNROLL						\
		for (int p = 0; p < BLAS_PANEL; p++) {			\
			if (p * ES * BLAS_CHUNK % 64 == 0)		\
				_mm_prefetch((const char *)w + BLAS_PF_AHEAD + \
				    p * BLAS_CHUNK * ES, _MM_HINT_T0);	\
			acc[p] = _mm256_fmadd_ps(blas_ld8_##T(w +	\
			    (size_t)p * BLAS_CHUNK * ES), x0, acc[p]);	\
			acc[p] = _mm256_fmadd_ps(blas_ld8_##T(w +	\
			    ((size_t)p * BLAS_CHUNK + 8) * ES), x1, acc[p]); \
		}							\
		w += BLAS_PANEL * BLAS_CHUNK * ES;			\
	}								\
	if (r != 0) {							\
		const float *xc = x + n_full * BLAS_CHUNK;		\
		__m256 x0 = _mm256_maskload_ps(xc, blas_mask8(r));	\
		__m256 x1 = _mm256_maskload_ps(xc + 8, blas_mask8(r > 8 ? \
		    r - 8 : 0));					\
		BLAS_UNROLL						\
		for (int p = 0; p < BLAS_PANEL; p++) {			\
			acc[p] = _mm256_fmadd_ps(blas_ld8_##T(w +	\
			    (size_t)p * BLAS_CHUNK * ES), x0, acc[p]);	\
			acc[p] = _mm256_fmadd_ps(blas_ld8_##T(w +	\
			    ((size_t)p * BLAS_CHUNK + 8) * ES), x1, acc[p]); \
		}							\
	}								\
	for (size_t p = 0; p < rows; p++)				\
		y[p] = blas_hsum8(acc[p]);				\
}

BLAS_TILE_AVX2(f32, 4)
BLAS_TILE_AVX2(bf16, 2)
BLAS_TILE_AVX2(f16, 2)

static BLAS_AVX2 void
blas_mv_avx2(const struct blas_mat *m, const float *x, size_t nb, float *y,
    size_t p0, size_t p1)
{
	size_t es = blas_dtype_size(m->dtype), n_in = m->n_in;
	size_t stride = blas_mat_chunks(n_in) * BLAS_PANEL * BLAS_CHUNK * es;
	float tmp[BLAS_PANEL];

	for (size_t p = p0; p < p1; p++) {
		const unsigned char *w = (const unsigned char *)m->data +
		    p * stride;
		size_t j = p * BLAS_PANEL, rows = m->n_out - j < BLAS_PANEL ?
		    m->n_out - j : BLAS_PANEL;

		for (size_t b = 0; b < nb; b++) {
			const float *xb = x + b * n_in;

			if (m->dtype == BLAS_BF16)
				blas_mv_avx2_bf16(w, n_in, xb, tmp, rows);
			else if (m->dtype == BLAS_F16)
				blas_mv_avx2_f16(w, n_in, xb, tmp, rows);
			else
				blas_mv_avx2_f32(w, n_in, xb, tmp, rows);
			memcpy(y + b * m->n_out + j, tmp, rows * sizeof *tmp);
		}
	}
}

/*
 * AVX-512: a chunk is one vector; a tile is one panel by B vectors
 * (8 * B accumulators, B <= 3 so that they stay in the 32 registers).
 */
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

/* Store the sums of acc[0..8][q] as y[q * n_out + 0..rows). */
#define BLAS_STORE_AVX512(acc, B, y, n_out, rows) do {			\
	BLAS_UNROLL							\
	for (int q = 0; q < B; q++) {					\
		__m256 s_ = blas_reduce8(acc[0][q], acc[1][q], acc[2][q], \
		    acc[3][q], acc[4][q], acc[5][q], acc[6][q], acc[7][q]); \
		if (rows == BLAS_PANEL)					\
			_mm256_storeu_ps(y + q * n_out, s_);		\
		else {							\
			float t_[BLAS_PANEL];				\
			_mm256_storeu_ps(t_, s_);			\
			memcpy(y + q * n_out, t_, rows * sizeof *t_);	\
		}							\
	}								\
} while (0)

#define BLAS_TILE_AVX512(T, ES, B)					\
static BLAS_AVX512 void							\
blas_mv_avx512_##T##_##B(const unsigned char *w, size_t n_in,		\
    const float *x, float *y, size_t n_out, size_t rows, int pf)	\
{									\
	__m512 acc[BLAS_PANEL][B], xv[B];				\
	size_t n_full = n_in / BLAS_CHUNK, r = n_in % BLAS_CHUNK;	\
									\
	BLAS_UNROLL							\
	for (int p = 0; p < BLAS_PANEL; p++)				\
		BLAS_UNROLL						\
		for (int q = 0; q < B; q++)				\
			acc[p][q] = _mm512_setzero_ps();		\
	for (size_t c = 0; c < n_full; c++) {				\
		BLAS_UNROLL						\
		for (int q = 0; q < B; q++)				\
			xv[q] = _mm512_loadu_ps(x + q * n_in +		\
			    c * BLAS_CHUNK);				\
		BLAS_UNROLL						\
		for (int p = 0; p < BLAS_PANEL; p++) {			\
			__m512 wv = blas_ld16_##T(w + (size_t)p *	\
			    BLAS_CHUNK * ES);				\
			/* one load, not one folded into each FMA */	\
			if (B > 1)					\
				__asm__("" : "+v"(wv));			\
			if (pf && p * ES * BLAS_CHUNK % 64 == 0)	\
				_mm_prefetch((const char *)w + BLAS_PF_AHEAD + \
				    p * BLAS_CHUNK * ES, _MM_HINT_T0);	\
			BLAS_UNROLL					\
			for (int q = 0; q < B; q++)			\
				acc[p][q] = _mm512_fmadd_ps(wv, xv[q],	\
				    acc[p][q]);				\
		}							\
		w += BLAS_PANEL * BLAS_CHUNK * ES;			\
	}								\
	if (r != 0) {							\
		BLAS_UNROLL						\
		for (int q = 0; q < B; q++)				\
			xv[q] = _mm512_maskz_loadu_ps(			\
			    (__mmask16)((1u << r) - 1),			\
			    x + q * n_in + n_full * BLAS_CHUNK);	\
		BLAS_UNROLL						\
		for (int p = 0; p < BLAS_PANEL; p++) {			\
			__m512 wv = blas_ld16_##T(w + (size_t)p *	\
			    BLAS_CHUNK * ES);				\
			BLAS_UNROLL					\
			for (int q = 0; q < B; q++)			\
				acc[p][q] = _mm512_fmadd_ps(wv, xv[q],	\
				    acc[p][q]);				\
		}							\
	}								\
	BLAS_STORE_AVX512(acc, B, y, n_out, rows);			\
}

#define BLAS_TILES_AVX512(T, ES)					\
	BLAS_TILE_AVX512(T, ES, 1)					\
	BLAS_TILE_AVX512(T, ES, 2)					\
	BLAS_TILE_AVX512(T, ES, 3)					\
									\
static BLAS_AVX512 void							\
blas_mv_avx512_##T(const unsigned char *w, size_t n_in, const float *x,	\
    size_t nb, float *y, size_t n_out, size_t rows)			\
{									\
	size_t b = 0;							\
									\
	/* the first tile of a panel prefetches; the rest find it near */ \
	for (; b + 3 <= nb; b += 3)					\
		blas_mv_avx512_##T##_3(w, n_in, x + b * n_in,		\
		    y + b * n_out, n_out, rows, b == 0);		\
	if (nb - b == 2)						\
		blas_mv_avx512_##T##_2(w, n_in, x + b * n_in,		\
		    y + b * n_out, n_out, rows, b == 0);		\
	else if (nb - b == 1)						\
		blas_mv_avx512_##T##_1(w, n_in, x + b * n_in,		\
		    y + b * n_out, n_out, rows, b == 0);		\
}

BLAS_TILES_AVX512(f32, 4)
BLAS_TILES_AVX512(bf16, 2)
BLAS_TILES_AVX512(f16, 2)

static BLAS_AVX512 void
blas_mv_avx512(const struct blas_mat *m, const float *x, size_t nb, float *y,
    size_t p0, size_t p1)
{
	size_t es = blas_dtype_size(m->dtype), n_in = m->n_in;
	size_t stride = blas_mat_chunks(n_in) * BLAS_PANEL * BLAS_CHUNK * es;

	for (size_t p = p0; p < p1; p++) {
		const unsigned char *w = (const unsigned char *)m->data +
		    p * stride;
		size_t j = p * BLAS_PANEL, rows = m->n_out - j < BLAS_PANEL ?
		    m->n_out - j : BLAS_PANEL;

		if (m->dtype == BLAS_BF16)
			blas_mv_avx512_bf16(w, n_in, x, nb, y + j, m->n_out,
			    rows);
		else if (m->dtype == BLAS_F16)
			blas_mv_avx512_f16(w, n_in, x, nb, y + j, m->n_out,
			    rows);
		else
			blas_mv_avx512_f32(w, n_in, x, nb, y + j, m->n_out,
			    rows);
	}
}

static blas_mv_fn	 blas_mv_cur;		/* NULL until selected */
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
		if (!__builtin_cpu_supports("avx512f"))
			return -1;
		blas_mv_cur = blas_mv_avx512;
		blas_mv_cur_kind = BLAS_MV_AVX512;
		blas_mv_cur_name = "avx512";
		break;
	case BLAS_MV_AVX2:
		if (!blas_cpu_has(BLAS_NEED_AVX2) ||
		    !__builtin_cpu_supports("f16c"))
			return -1;
		blas_mv_cur = blas_mv_avx2;
		blas_mv_cur_kind = BLAS_MV_AVX2;
		blas_mv_cur_name = "avx2";
		break;
	default:
		blas_mv_cur = blas_mv_c;
		blas_mv_cur_kind = BLAS_MV_C;
		blas_mv_cur_name = "c";
		break;
	}
	return 0;
}

/* The kernel set in use, for the other kernels that follow it. */
enum blas_mv_kernel
blas_mv_kind(void)
{
	if (blas_mv_cur == NULL) {
		#pragma omp critical (blas_mv_init)
		if (blas_mv_cur == NULL)
			blas_mv_select(BLAS_MV_AUTO);
	}
	return blas_mv_cur_kind;
}

/* The matrix-vector kernel in use: "avx512", "avx2" or "c". */
const char *
blas_mv_name(void)
{
	if (blas_mv_cur == NULL)
		blas_mv_select(BLAS_MV_AUTO);
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
#define BLAS_MV_BLOCK		(BLAS_MV_ROWS / BLAS_PANEL) /* panels an item */

/*
 * y[k] = w[k] x for the n matrices w[0..n) (same n_in), all their rows
 * shared among the threads of the enclosing parallel region (one thread
 * outside any) in one work-shared loop of contiguous blocks, so that
 * fused projections (q, k and v; w1 and w3) cost one pass and one barrier.
 * Ends with a barrier unless nowait.  Every thread of the team must call
 * it.
 */
void
blas_matvec_team(const struct blas_mat *const *w, float *const *y, int n,
    const float *x, size_t nb, int nowait)
{
	long n_blk = 0, first[BLAS_MV_MAX_FUSED + 1];
	blas_mv_fn fn;

	if (blas_mv_cur == NULL) {
		#pragma omp critical (blas_mv_init)
		if (blas_mv_cur == NULL)
			blas_mv_select(BLAS_MV_AUTO);
	}
	fn = blas_mv_cur;
	for (int k = 0; k < n; k++) {
		first[k] = n_blk;
		n_blk += (long)((blas_mat_panels(w[k]->n_out) + BLAS_MV_BLOCK -
		    1) / BLAS_MV_BLOCK);
	}
	first[n] = n_blk;
	#pragma omp for schedule(static) nowait
	for (long t = 0; t < n_blk; t++) {
		int k = 0;

		while (t >= first[k + 1])
			k++;
		size_t p0 = (size_t)(t - first[k]) * BLAS_MV_BLOCK;
		size_t np = blas_mat_panels(w[k]->n_out);

		fn(w[k], x, nb, y[k], p0, p0 + BLAS_MV_BLOCK < np ?
		    p0 + BLAS_MV_BLOCK : np);
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

	if (blas_mv_cur == NULL) {
		#pragma omp critical (blas_mv_init)
		if (blas_mv_cur == NULL)
			blas_mv_select(BLAS_MV_AUTO);
	}
	blas_mv_cur(w, x, nb, y, p0, p0 + BLAS_MV_BLOCK < np ?
	    p0 + BLAS_MV_BLOCK : np);
	return j1 < w->n_out ? j1 : w->n_out;
}

/*
 * y = w x for nb vectors x ([nb][n_in]) into y ([nb][n_out]) on up to nt
 * threads (the caller's team when called inside a parallel region); see
 * blas.h for the determinism it promises.
 */
void
blas_matvec(int nt, const struct blas_mat *w, const float *x, size_t nb,
    float *y)
{
	size_t work = w->n_out * w->n_in * nb;

	if (blas_mv_cur == NULL)
		blas_mv_select(BLAS_MV_AUTO);
#ifdef _OPENMP
	if (omp_in_parallel()) {
		blas_matvec_team(&w, &y, 1, x, nb, 0);
		return;
	}
#endif
	if (nt > 1 && work / (size_t)nt < BLAS_MV_MIN_WORK)
		nt = (int)(work / BLAS_MV_MIN_WORK);
	if (nt <= 1) {
		blas_mv_cur(w, x, nb, y, 0, blas_mat_panels(w->n_out));
		return;
	}
	#pragma omp parallel num_threads(nt)
	blas_matvec_team(&w, &y, 1, x, nb, 0);
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

/*
 * C = A W^T + beta C for the packed matrix w ([n][k]), A [m][k] (row
 * stride lda), C [m][n], on nt threads: w is widened block by block into
 * scratch (scratch_len floats, at least w->n_in) and multiplied by BLIS.
 */
void
blas_gemm_mat(int nt, size_t m, const float *a, size_t lda,
    const struct blas_mat *w, float beta, float *c, size_t ldc,
    float *scratch, size_t scratch_len)
{
	size_t rows = scratch_len / w->n_in;

	assert(rows > 0);
	/* whole panels, so that the widening reads them in order */
	if (rows > BLAS_PANEL)
		rows -= rows % BLAS_PANEL;
	for (size_t r0 = 0; r0 < w->n_out; r0 += rows) {
		size_t r1 = r0 + rows < w->n_out ? r0 + rows : w->n_out;

		/* widened on the GEMM's threads: a pass over the weights is
		 * a tenth of a 256-row GEMM's time */
		#pragma omp parallel for num_threads(nt) schedule(static) \
		    if (nt > 1 && (r1 - r0) * w->n_in > 65536)
		for (size_t j = r0; j < r1; j += BLAS_PANEL)
			blas_mat_unpack(w, j, j + BLAS_PANEL < r1 ?
			    j + BLAS_PANEL : r1, scratch + (j - r0) * w->n_in);
		blas_gemm(nt, 1, m, r1 - r0, w->n_in, 1, a, lda, scratch,
		    w->n_in, beta, c + r0, ldc);
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
