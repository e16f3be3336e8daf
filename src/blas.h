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
/* Fail with err, not BLIS's abort, if its workspace cannot be had. */
int		 blas_gemm_reserve(int nt, struct err *);
void		 blas_gemm_ref(int trans_b, size_t m, size_t n, size_t k,
		    float alpha, const float *a, size_t lda, const float *b,
		    size_t ldb, float beta, float *c, size_t ldc);

/* A weight matrix [n_out][n_in] packed for the matrix-vector kernels
 * (blas.c describes the layout), in the dtype it was stored in: 2-byte
 * weights are widened in registers, never in memory. */
enum blas_dtype {
	BLAS_F32,
	BLAS_BF16,
	BLAS_F16
};
struct blas_mat {
	const void	*data;		/* packed; borrowed from the packer */
	size_t		 n_out;		/* rows (d_out) */
	size_t		 n_in;		/* columns (d_in) */
	enum blas_dtype	 dtype;		/* element type of data */
};
size_t		 blas_mat_bytes(size_t n_out, size_t n_in, enum blas_dtype);
void		 blas_mat_init(struct blas_mat *, void *dst, size_t n_out,
		    size_t n_in, enum blas_dtype);
void		 blas_mat_pack_rows(const struct blas_mat *, const void *src,
		    size_t r0, size_t r1);
void		 blas_mat_pack(struct blas_mat *, void *dst, const void *src,
		    size_t n_out, size_t n_in, enum blas_dtype);
void		 blas_mat_unpack(const struct blas_mat *, size_t r0, size_t r1,
		    float *dst);
void		 blas_widen_row(enum blas_dtype, const void *src, float *dst,
		    size_t n);

/* Matrix times a few vectors: y[b][j] = sum_i w[j][i] * x[b][i] for
 * b < nb, j < n_out; x [nb][n_in], y [nb][n_out].
 * Threads split the rows of w only, and every dot product runs the same
 * instructions whatever nb and nt are, so each y[b] is bitwise independent
 * of the batch it was computed in and of the thread count.  A 2-byte
 * matrix gives the same bits as its fp32 widening. */
enum blas_mv_kernel {
	BLAS_MV_AUTO,		/* the best the CPU supports */
	BLAS_MV_C,		/* plain C, sequential sum */
	BLAS_MV_AVX2,		/* AVX2 + FMA + F16C, 8 lanes */
	BLAS_MV_AVX512		/* AVX-512F, 16 lanes */
};
int		 blas_mv_select(enum blas_mv_kernel);
const char	*blas_mv_name(void);
/* "mv avx512 bf16, blis skx": what rounds the numbers, for the history. */
const char	*blas_kernel_desc(enum blas_dtype);
void		 blas_matvec(int nt, const struct blas_mat *, const float *x,
		    size_t nb, float *y);
/* The same for up to BLAS_MV_MAX_FUSED matrices of the same n_in (q, k
 * and v; w1 and w3) in one pass: y[k] = w[k] x. */
void		 blas_matvec_fused(int nt, const struct blas_mat *const *w,
		    float *const *y, int n, const float *x, size_t nb);
/* y[k] = w[k] x for up to BLAS_MV_MAX_FUSED matrices of the same n_in in
 * one pass, called by every thread of an enclosing parallel region, which
 * share the rows; a barrier ends it unless nowait. */
#define BLAS_MV_MAX_FUSED	4
void		 blas_matvec_team(const struct blas_mat *const *w,
		    float *const *y, int n, const float *x, size_t nb,
		    int nowait);
/* The same a block of BLAS_MV_ROWS rows at a time, for callers that share
 * the blocks among their threads and use the rows at once. */
#define BLAS_MV_ROWS		64
size_t		 blas_mat_blocks(const struct blas_mat *);
size_t		 blas_matvec_block(const struct blas_mat *, const float *x,
		    size_t nb, float *y, size_t k);
/* The fp32 reference on an unpacked matrix, summing in double. */
void		 blas_matvec_ref(const float *w, size_t n_out, size_t n_in,
		    const float *x, size_t nb, float *y);
/* Sum of n floats, read as fast as the CPU streams (bandwidth probe),
 * in one of the ways blas_stream_sum() describes. */
enum blas_stream {
	BLAS_STREAM_PLAIN, BLAS_STREAM_PREFETCH, BLAS_STREAM_SPLIT,
	BLAS_STREAM__N
};

float		 blas_stream_sum(const float *, size_t n, enum blas_stream);

/* Dot product of two fp32 vectors in a fixed order (attention). */
float		 blas_dot(const float *, const float *, size_t);
/* Decode attention of one query row: o = softmax(q K^T * scale) V over np
 * keys, rows ld apart, dk wide; S: np floats of scratch (blas_attn.c). */
void		 blas_attend(const float *q, const float *K, const float *V,
		    size_t ld, size_t dk, size_t np, float scale, float *S,
		    float *o);

#endif
