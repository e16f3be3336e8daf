/*
 * test-blas: every kernel against its plain-C _ref twin (which sums in
 * double).
 *
 * Covers: blas_gemm with each BLIS kernel set this CPU runs (native, skx,
 * haswell, zen, zen3, generic) for both layouts of B, alpha/beta and odd
 * sizes, within 1e-5 relative to sum |a||b|; blas_matvec on packed
 * matrices with each of our kernels (c, avx2, avx512) at batch sizes 1..33
 * and shapes that are not multiples of the panel, within the same
 * tolerance; its promise that a row's result is bitwise the same in any
 * batch and with any thread count; bf16 and f16 matrices read as stored
 * bitwise equal to their fp32 widening; packing undone by unpacking;
 * decode attention against a double reference; unknown kernel sets
 * refused.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "blas.h"
#include "util.h"
#include "weights.h"

static uint64_t rng_state = 12345;

static float
rnd(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((double)(rng_state >> 40) / (double)(1u << 24) - 0.5);
}

static float *
rnd_vec(size_t n)
{
	float *p = xcalloc(n, sizeof *p);

	for (size_t i = 0; i < n; i++)
		p[i] = rnd();
	return p;
}

/* Largest |x - y| / (scale), scale = sum |a||b| of that element (+1e-30). */
static double
rel_err(const float *x, const float *y, const float *scale, size_t n)
{
	double e = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)x[i] - y[i]) / ((double)scale[i] +
		    1e-30);

		if (!(d <= e))
			e = d;
	}
	return e;
}

static void
test_gemm_one(int trans_b, size_t m, size_t n, size_t k, float beta, int nt)
{
	float *a = rnd_vec(m * k), *b = rnd_vec(n * k);
	float *c = rnd_vec(m * n), *c_ref = xcalloc(m * n, sizeof *c);
	float *aa = xcalloc(m * k, sizeof *aa), *ab = xcalloc(n * k, sizeof *ab);
	float *ac = xcalloc(m * n, sizeof *ac);
	size_t ldb = trans_b ? k : n;

	memcpy(c_ref, c, m * n * sizeof *c);
	for (size_t i = 0; i < m * k; i++)
		aa[i] = fabsf(a[i]);
	for (size_t i = 0; i < n * k; i++)
		ab[i] = fabsf(b[i]);
	for (size_t i = 0; i < m * n; i++)
		ac[i] = fabsf(c[i]);
	/* scale = 0.5 |A||B| + |beta| |C|, the size of what is summed */
	blas_gemm_ref(trans_b, m, n, k, 0.5f, aa, k, ab, ldb, fabsf(beta), ac,
	    n);
	blas_gemm(nt, trans_b, m, n, k, 0.5f, a, k, b, ldb, beta, c, n);
	blas_gemm_ref(trans_b, m, n, k, 0.5f, a, k, b, ldb, beta, c_ref, n);
	CHECK_MSG(rel_err(c, c_ref, ac, m * n) <= 1e-5,
	    "gemm %s trans_b %d %zux%zux%zu beta %g: rel err %g",
	    blas_arch_chosen(), trans_b, m, n, k, (double)beta,
	    rel_err(c, c_ref, ac, m * n));
	free(a);
	free(b);
	free(c);
	free(c_ref);
	free(aa);
	free(ab);
	free(ac);
}

static void
test_gemm(void)
{
	static const char *archs[] = { "native", "skx", "haswell", "zen",
	    "zen3", "generic" };
	struct err err;
	int ran = 0;

	fprintf(stderr, "blis native %s, chosen %s\n", blas_arch_native(),
	    blas_arch_chosen());
	CHECK(blas_set_arch("no-such-cpu", &err) == -1);
	CHECK(strstr(err.msg, "no-such-cpu") != NULL);
	for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
		if (blas_set_arch(archs[i], &err) == -1) {
			fprintf(stderr, "skip %s: %s\n", archs[i], err.msg);
			continue;
		}
		ran++;
		CHECK(strcmp(blas_arch_chosen(), archs[i]) == 0);
		test_gemm_one(1, 37, 53, 67, 0, 1);
		test_gemm_one(0, 37, 53, 67, 1, 2);
		test_gemm_one(1, 1, 300, 48, 1, 2);
		test_gemm_one(1, 130, 96, 200, 0.5f, 2);
		test_gemm_one(0, 5, 7, 1, 0, 1);
	}
	CHECK(ran >= 2);
}

/* w packed as dtype t (64-byte aligned); caller frees the return value. */
static void *
pack(struct blas_mat *m, const void *w, size_t no, size_t ni,
    enum blas_dtype t)
{
	size_t n = blas_mat_bytes(no, ni, t);
	void *p = aligned_alloc(64, n);

	CHECK(p != NULL && n % 64 == 0);
	blas_mat_pack(m, p, w, no, ni, t);
	return p;
}

static void
test_matvec_one(size_t no, size_t ni)
{
	size_t nb = 33;
	float *w = rnd_vec(no * ni), *x = rnd_vec(nb * ni);
	float *y = xcalloc(nb * no, sizeof *y);
	float *y1 = xcalloc(nb * no, sizeof *y);
	float *yr = xcalloc(nb * no, sizeof *y);
	float *sc = xcalloc(nb * no, sizeof *y);
	float *aw = xcalloc(no * ni, sizeof *aw);
	float *ax = xcalloc(nb * ni, sizeof *ax);
	struct blas_mat mw;
	void *pw = pack(&mw, w, no, ni, BLAS_F32);
	int same = 1;

	for (size_t i = 0; i < no * ni; i++)
		aw[i] = fabsf(w[i]);
	for (size_t i = 0; i < nb * ni; i++)
		ax[i] = fabsf(x[i]);
	blas_matvec_ref(aw, no, ni, ax, nb, sc);
	blas_matvec_ref(w, no, ni, x, nb, yr);
	blas_matvec(3, &mw, x, nb, y);
	CHECK_MSG(rel_err(y, yr, sc, nb * no) <= 1e-5,
	    "matvec %s %zux%zu: rel err %g", blas_mv_name(), no, ni,
	    rel_err(y, yr, sc, nb * no));
	/* each row alone, single-threaded: the same bits */
	for (size_t b = 0; b < nb; b++)
		blas_matvec(1, &mw, x + b * ni, 1, y1 + b * no);
	same = memcmp(y, y1, nb * no * sizeof *y) == 0;
	/* batches of 8 starting anywhere */
	for (size_t b = 0; b + 8 <= nb; b += 5) {
		blas_matvec(2, &mw, x + b * ni, 8, y1 + b * no);
		same &= memcmp(y, y1, nb * no * sizeof *y) == 0;
	}
	CHECK_MSG(same, "matvec %s %zux%zu: batch-dependent", blas_mv_name(),
	    no, ni);
	/* unpacking gives back the rows */
	blas_mat_unpack(&mw, 0, no, aw);
	CHECK(memcmp(aw, w, no * ni * sizeof *w) == 0);
	free(pw);
	free(w);
	free(x);
	free(y);
	free(y1);
	free(yr);
	free(sc);
	free(aw);
	free(ax);
}

/*
 * 2-byte weights read as stored give the same bits as their fp32
 * widening, packed as fp32: the kernels only widen in registers.
 */
static void
test_matvec_half(size_t no, size_t ni, enum blas_dtype t)
{
	size_t nb = 5;
	uint16_t *h = xcalloc(no * ni, sizeof *h);
	float *wf = xcalloc(no * ni, sizeof *wf), *x = rnd_vec(nb * ni);
	float *y = xcalloc(nb * no, sizeof *y), *yf = xcalloc(nb * no,
	    sizeof *y);
	struct blas_mat mh, mf;
	void *ph, *pf;

	for (size_t i = 0; i < no * ni; i++) {
		rng_state = rng_state * 6364136223846793005ull + 1;
		/* bf16: exponents near 1; f16: some subnormals too */
		h[i] = t == BLAS_BF16 ? (uint16_t)(0x3c00 |
		    (rng_state >> 52 & 0x83ff)) : (uint16_t)(rng_state >> 48 &
		    0xbfff);
	}
	weights_to_f32(t == BLAS_BF16 ? WEIGHTS_BF16 : WEIGHTS_F16, h, wf,
	    no * ni);
	ph = pack(&mh, h, no, ni, t);
	pf = pack(&mf, wf, no, ni, BLAS_F32);
	blas_matvec(2, &mh, x, nb, y);
	blas_matvec(1, &mf, x, nb, yf);
	CHECK_MSG(memcmp(y, yf, nb * no * sizeof *y) == 0,
	    "matvec %s %s %zux%zu: differs from its fp32 widening",
	    blas_mv_name(), t == BLAS_BF16 ? "bf16" : "f16", no, ni);
	blas_mat_unpack(&mh, 0, no, (float *)pf);
	CHECK(memcmp(pf, wf, no * ni * sizeof *wf) == 0);
	free(ph);
	free(pf);
	free(h);
	free(wf);
	free(x);
	free(y);
	free(yf);
}

static void
test_matvec(void)
{
	static const enum blas_mv_kernel ks[] = { BLAS_MV_C, BLAS_MV_AVX2,
	    BLAS_MV_AVX512 };
	static const size_t shapes[][2] = { { 1, 1 }, { 7, 15 }, { 13, 17 },
	    { 64, 48 }, { 301, 100 }, { 1030, 96 }, { 40, 288 } };

	for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
		if (blas_mv_select(ks[ki]) == -1) {
			fprintf(stderr, "skip matvec kernel %d\n", (int)ks[ki]);
			continue;
		}
		for (size_t si = 0; si < sizeof shapes / sizeof shapes[0];
		    si++) {
			test_matvec_one(shapes[si][0], shapes[si][1]);
			test_matvec_half(shapes[si][0], shapes[si][1],
			    BLAS_BF16);
			test_matvec_half(shapes[si][0], shapes[si][1],
			    BLAS_F16);
		}
	}
	blas_mv_select(BLAS_MV_AUTO);
	fprintf(stderr, "matvec kernel %s (%s)\n", blas_mv_name(),
	    blas_kernel_desc(BLAS_BF16));
}

static void
test_dot(void)
{
	float a[37], b[37];
	double s = 0;

	for (int i = 0; i < 37; i++) {
		a[i] = rnd();
		b[i] = rnd();
		s += (double)a[i] * b[i];
	}
	CHECK_NEAR(blas_dot(a, b, 37), s, 1e-5);
	CHECK(blas_dot(a, b, 0) == 0);
}

/*
 * Decode attention against softmax(q K^T s) V in double, for every kernel
 * set, head widths the vector kernel takes (16 to 128) and one it leaves
 * to the plain loops (24), key counts around its blocks of 8 and 16; and
 * the same row computed at two places in the cache gives the same bits.
 */
static void
test_attend_one(size_t dk, size_t np)
{
	size_t ld = dk * 3;
	float *q = rnd_vec(dk), *K = rnd_vec(np * ld), *V = rnd_vec(np * ld);
	float *S = xcalloc(np, sizeof *S), *o = xcalloc(dk, sizeof *o);
	float *o2 = xcalloc(dk, sizeof *o2);
	double *p = xcalloc(np, sizeof *p), mx = -INFINITY, z = 0, e = 0;
	float scale = 1.0f / sqrtf((float)dk);

	for (size_t j = 0; j < np; j++) {
		double s = 0;

		for (size_t i = 0; i < dk; i++)
			s += (double)q[i] * K[j * ld + i];
		p[j] = 4 * s * scale;	/* peaked, as trained heads are */
		mx = p[j] > mx ? p[j] : mx;
	}
	for (size_t j = 0; j < np; j++)
		z += p[j] = exp(p[j] - mx);
	for (size_t i = 0; i < dk; i++)
		q[i] *= 4;
	blas_attend(q, K, V, ld, dk, np, scale, S, o);
	for (size_t i = 0; i < dk; i++) {
		double r = 0;

		for (size_t j = 0; j < np; j++)
			r += p[j] / z * V[j * ld + i];
		if (fabs(r - o[i]) > e)
			e = fabs(r - o[i]);
	}
	CHECK_MSG(e < 2e-6, "attend %s dk %zu np %zu: max err %g",
	    blas_mv_name(), dk, np, e);
	/* the same keys elsewhere (S dirty): the same bits */
	memset(S, 0x7f, np * sizeof *S);
	blas_attend(q, K, V, ld, dk, np, scale, S, o2);
	CHECK_MSG(memcmp(o, o2, dk * sizeof *o) == 0, "attend %s dk %zu np "
	    "%zu: not repeatable", blas_mv_name(), dk, np);
	free(q);
	free(K);
	free(V);
	free(S);
	free(o);
	free(o2);
	free(p);
}

static void
test_attend(void)
{
	static const enum blas_mv_kernel ks[] = { BLAS_MV_C, BLAS_MV_AVX2,
	    BLAS_MV_AVX512 };
	static const size_t dks[] = { 16, 24, 32, 48, 64, 128 };
	static const size_t nps[] = { 1, 2, 7, 8, 9, 16, 17, 33, 200 };

	for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
		if (blas_mv_select(ks[ki]) == -1)
			continue;
		for (size_t a = 0; a < sizeof dks / sizeof dks[0]; a++)
			for (size_t b = 0; b < sizeof nps / sizeof nps[0]; b++)
				test_attend_one(dks[a], nps[b]);
	}
	blas_mv_select(BLAS_MV_AUTO);
}

int
main(void)
{
	test_gemm();
	test_matvec();
	test_dot();
	test_attend();
	CHECK_RESULT();
}
