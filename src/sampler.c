/* Placeholder generated so that everything links; the owner replaces it. */
#include "config.h"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stdio.h>
#include <stdlib.h>
#include "util.h"
#include "sampler.h"

void
rng_seed(struct lm_rng *a0, uint64_t seed, uint64_t stream)
{

}

uint64_t
rng_next(struct lm_rng *a0)
{
	return -1;
}

double
rng_uniform(struct lm_rng *a0)
{
	return -1;
}

void
sampler_params_default(struct sampler_params *a0)
{

}

int
sampler_params_check(const struct sampler_params *a0, struct err *a1)
{
	err_set(a1, "sampler_params_check: not implemented yet");
	return -1;
}

struct sampler *
sampler_new(int n_vocab)
{
	return NULL;
}

void
sampler_free(struct sampler *a0)
{

}

int32_t
sampler_pick(struct sampler *a0, const struct sampler_params *a1, const float *logits, const int32_t *recent, size_t n_recent, struct lm_rng *a5, float *prob)
{
	return -1;
}

size_t
sampler_candidates(struct sampler *a0, const struct sampler_params *a1, const float *logits, const int32_t *recent, size_t n_recent, struct sampler_cand *out, size_t n)
{
	return -1;
}

int
sampler_softmax_temp(const float *logits, size_t n, float temp, float *probs, struct err *a4)
{
	err_set(a4, "sampler_softmax_temp: not implemented yet");
	return -1;
}

int
sampler_nucleus(const float *probs, size_t n, float p, float *out, struct err *a4)
{
	err_set(a4, "sampler_nucleus: not implemented yet");
	return -1;
}
