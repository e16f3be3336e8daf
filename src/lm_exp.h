/*
 * lm_exp.h: exp(x) for x in [-87.33654, 88.37626] (callers clamp or select
 * first), Cephes' expf: Cody-Waite reduction by ln 2, a degree-6
 * polynomial, about one ulp.  Plain float operations only, so that a loop
 * of it vectorises and every vector width gives the same bits as the
 * scalar code on every IEEE machine (the build does not contract to FMA:
 * -std=c11).  Rounding to an integer adds and subtracts 1.5 * 2^23.  Used
 * by the sampler's weights and the model's SiLU.
 */
#ifndef LMSH_LM_EXP_H
#define LMSH_LM_EXP_H

#include <stdint.h>

/* The range and Cephes' constants, also for the vector kernels that
 * compute the same function with intrinsics (blas_attn.c). */
#define LM_EXP_MIN	(-87.33654f)	/* about ln(FLT_MIN) */
#define LM_EXP_MAX	88.37626f	/* about ln(FLT_MAX) */
#define LM_EXP_LOG2E	1.44269504088896341f
#define LM_EXP_LN2_HI	0.693359375f	/* ln 2 = LN2_HI + LN2_LO */
#define LM_EXP_LN2_LO	(-2.12194440e-4f)
#define LM_EXP_P0	1.9875691500e-4f
#define LM_EXP_P1	1.3981999507e-3f
#define LM_EXP_P2	8.3334519073e-3f
#define LM_EXP_P3	4.1665795894e-2f
#define LM_EXP_P4	1.6666665459e-1f
#define LM_EXP_P5	5.0000001201e-1f

static inline float
lm_exp_core(float x)
{
	union { float f; int32_t i; } t, sc, magic = { 12582912.0f };
	float n, r, p;

	t.f = x * LM_EXP_LOG2E + magic.f;
	n = t.f - magic.f;
	r = x - n * LM_EXP_LN2_HI - n * LM_EXP_LN2_LO;
	p = LM_EXP_P0;
	p = p * r + LM_EXP_P1;
	p = p * r + LM_EXP_P2;
	p = p * r + LM_EXP_P3;
	p = p * r + LM_EXP_P4;
	p = p * r + LM_EXP_P5;
	p = p * r * r + r + 1.0f;
	sc.i = (t.i - magic.i + 127) << 23;
	return p * sc.f;
}

#endif
