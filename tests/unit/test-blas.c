/*
 * test-blas: every kernel against its plain-C _ref twin (which sums in
 * double).
 *
 * Covers: blas_gemm with each BLIS kernel set this CPU runs (native, skx,
 * haswell, zen, zen3, generic) for both layouts of B, alpha/beta and odd
 * sizes, within 1e-5 relative to sum |a||b|; blas_matvec with each of our
 * kernels (c, avx2, avx512) at batch sizes 1..33 and row counts that are
 * not multiples of the tile, within the same tolerance; its promise that a
 * row's result is bitwise the same in any batch and with any thread count;
 * unknown kernel sets refused.
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

static void
test_matvec(void)
{
	static const enum blas_mv_kernel ks[] = { BLAS_MV_C, BLAS_MV_AVX2,
	    BLAS_MV_AVX512 };
	static const size_t shapes[][2] = { { 1, 1 }, { 7, 15 }, { 13, 17 },
	    { 64, 48 }, { 301, 100 }, { 1030, 96 } };

	for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
		if (blas_mv_select(ks[ki]) == -1) {
			fprintf(stderr, "skip matvec kernel %d\n", (int)ks[ki]);
			continue;
		}
		for (size_t si = 0; si < sizeof shapes / sizeof shapes[0];
		    si++) {
			size_t no = shapes[si][0], ni = shapes[si][1], nb = 33;
			float *w = rnd_vec(no * ni), *x = rnd_vec(nb * ni);
			float *y = xcalloc(nb * no, sizeof *y);
			float *y1 = xcalloc(nb * no, sizeof *y);
			float *yr = xcalloc(nb * no, sizeof *y);
			float *sc = xcalloc(nb * no, sizeof *y);
			float *aw = xcalloc(no * ni, sizeof *aw);
			float *ax = xcalloc(nb * ni, sizeof *ax);
			int same = 1;

			for (size_t i = 0; i < no * ni; i++)
				aw[i] = fabsf(w[i]);
			for (size_t i = 0; i < nb * ni; i++)
				ax[i] = fabsf(x[i]);
			blas_matvec_ref(aw, no, ni, ax, nb, sc);
			blas_matvec_ref(w, no, ni, x, nb, yr);
			blas_matvec(3, w, no, ni, x, nb, y);
			CHECK_MSG(rel_err(y, yr, sc, nb * no) <= 1e-5,
			    "matvec %s %zux%zu: rel err %g", blas_mv_name(),
			    no, ni, rel_err(y, yr, sc, nb * no));
			/* each row alone, single-threaded: the same bits */
			for (size_t b = 0; b < nb; b++)
				blas_matvec(1, w, no, ni, x + b * ni, 1,
				    y1 + b * no);
			same = memcmp(y, y1, nb * no * sizeof *y) == 0;
			/* batches of 8 starting anywhere */
			for (size_t b = 0; b + 8 <= nb; b += 5) {
				blas_matvec(2, w, no, ni, x + b * ni, 8,
				    y1 + b * no);
				same &= memcmp(y, y1, nb * no * sizeof *y) == 0;
			}
			CHECK_MSG(same, "matvec %s %zux%zu: batch-dependent",
			    blas_mv_name(), no, ni);
			free(w);
			free(x);
			free(y);
			free(y1);
			free(yr);
			free(sc);
			free(aw);
			free(ax);
		}
	}
	blas_mv_select(BLAS_MV_AUTO);
	fprintf(stderr, "matvec kernel %s\n", blas_mv_name());
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

int
main(void)
{
	test_gemm();
	test_matvec();
	test_dot();
	CHECK_RESULT();
}
