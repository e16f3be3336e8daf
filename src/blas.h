#ifndef LMSH_BLAS_H
#define LMSH_BLAS_H

#include <stddef.h>

struct err;

/* BLIS kernel selection.  The first use picks the best kernel set the CPU
 * supports (LMSH_BLIS_ARCH=native|skx|haswell|zen|zen3|generic overrides). */
const char	*blas_arch_native(void);
const char	*blas_arch_chosen(void);
int		 blas_set_arch(const char *, struct err *);

/* C = alpha * A * op(B) + beta * C, row-major, on nt threads (BLIS).
 * A is [m][k] (row stride lda); B is [n][k] when trans_b (a weight matrix
 * stored (d_out, d_in)), else [k][n]; C is [m][n]. */
void		 blas_gemm(int nt, int trans_b, size_t m, size_t n, size_t k,
		    float alpha, const float *a, size_t lda, const float *b,
		    size_t ldb, float beta, float *c, size_t ldc);
void		 blas_gemm_ref(int trans_b, size_t m, size_t n, size_t k,
		    float alpha, const float *a, size_t lda, const float *b,
		    size_t ldb, float beta, float *c, size_t ldc);

/* Matrix times a few vectors: y[b][j] = sum_i w[j][i] * x[b][i] for
 * b < nb, j < n_out; w is [n_out][n_in], x [nb][n_in], y [nb][n_out].
 * Threads split the rows of w only, and every dot product runs the same
 * instructions whatever nb and nt are, so each y[b] is bitwise independent
 * of the batch it was computed in and of the thread count. */
enum blas_mv_kernel {
	BLAS_MV_AUTO,		/* the best the CPU supports */
	BLAS_MV_C,		/* plain C, sequential sum (also the _ref) */
	BLAS_MV_AVX2,		/* AVX2 + FMA, 8 lanes */
	BLAS_MV_AVX512		/* AVX-512F, 16 lanes */
};
int		 blas_mv_select(enum blas_mv_kernel);
const char	*blas_mv_name(void);
void		 blas_matvec(int nt, const float *w, size_t n_out, size_t n_in,
		    const float *x, size_t nb, float *y);
/* The same, called by every thread of an enclosing parallel region, which
 * share the rows; a barrier ends it unless nowait. */
void		 blas_matvec_team(const float *w, size_t n_out, size_t n_in,
		    const float *x, size_t nb, float *y, int nowait);
void		 blas_matvec_ref(const float *w, size_t n_out, size_t n_in,
		    const float *x, size_t nb, float *y);

/* Dot product of two fp32 vectors in a fixed order (attention). */
float		 blas_dot(const float *, const float *, size_t);

#endif
