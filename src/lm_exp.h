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

static inline float
lm_exp_core(float x)
{
	union { float f; int32_t i; } t, sc, magic = { 12582912.0f };
	float n, r, p;

	t.f = x * 1.44269504088896341f + magic.f;
	n = t.f - magic.f;
	r = x - n * 0.693359375f - n * -2.12194440e-4f;
	p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	sc.i = (t.i - magic.i + 127) << 23;
	return p * sc.f;
}

#endif
