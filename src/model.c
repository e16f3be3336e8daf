/* Placeholder generated so that everything links; the owner replaces it. */
#include "config.h"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stdio.h>
#include <stdlib.h>
#include "util.h"
#include "model.h"

int
model_config_load(const char *path, struct lm_config *a1, struct err *a2)
{
	err_set(a2, "model_config_load: not implemented yet");
	return -1;
}

int
model_config_check(const struct lm_config *a0, struct err *a1)
{
	err_set(a1, "model_config_check: not implemented yet");
	return -1;
}

struct lm_model *
model_open(const struct lm_model_source *a0, struct err *a1)
{
	err_set(a1, "model_open: not implemented yet");
	return NULL;
}

struct lm_model *
model_new_random(const struct lm_config *a0, uint64_t seed, struct err *a2)
{
	err_set(a2, "model_new_random: not implemented yet");
	return NULL;
}

void
model_close(struct lm_model *a0)
{

}

const struct lm_config *
model_config(const struct lm_model *a0)
{
	return NULL;
}

void
model_set_threads(struct lm_model *a0, int a1)
{

}

struct lm_cache *
model_cache_new(const struct lm_model *a0, int n_seq, int n_ctx, struct err *a3)
{
	err_set(a3, "model_cache_new: not implemented yet");
	return NULL;
}

void
model_cache_free(struct lm_cache *a0)
{

}

void
model_cache_reset(struct lm_cache *a0, int seq)
{

}

int
model_cache_pos(const struct lm_cache *a0, int seq)
{
	return -1;
}

size_t
model_cache_bytes(const struct lm_cache *a0)
{
	return -1;
}

int
model_prefill(struct lm_model *a0, struct lm_cache *a1, int seq, const int32_t *tokens, size_t n, float *logits, int all_logits, struct err *a7)
{
	err_set(a7, "model_prefill: not implemented yet");
	return -1;
}

int
model_decode(struct lm_model *a0, struct lm_cache *a1, const int *seqs, const int32_t *tokens, int n, float *logits, struct err *a6)
{
	err_set(a6, "model_decode: not implemented yet");
	return -1;
}
