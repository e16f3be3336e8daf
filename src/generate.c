/* Placeholder generated so that everything links; the owner replaces it. */
#include "config.h"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stdio.h>
#include <stdlib.h>
#include "util.h"
#include "generate.h"

struct gen_engine *
gen_engine_new(struct lm_model *a0, const struct bpe *a1, int max_seqs, struct err *a3)
{
	err_set(a3, "gen_engine_new: not implemented yet");
	return NULL;
}

void
gen_engine_free(struct gen_engine *a0)
{

}

struct lm_model *
gen_engine_model(struct gen_engine *a0)
{
	return NULL;
}

const struct bpe *
gen_engine_bpe(struct gen_engine *a0)
{
	return NULL;
}

void
gen_engine_forget(struct gen_engine *a0)
{

}

struct gen_session *
gen_new(struct gen_engine *a0, const struct gen_settings *a1, struct err *a2)
{
	err_set(a2, "gen_new: not implemented yet");
	return NULL;
}

int
gen_add_prompt(struct gen_session *a0, const int32_t *ids, size_t n, int n_samples, struct err *a4)
{
	err_set(a4, "gen_add_prompt: not implemented yet");
	return -1;
}

int
gen_start(struct gen_session *a0, struct err *a1)
{
	err_set(a1, "gen_start: not implemented yet");
	return -1;
}

int
gen_step(struct gen_session *a0, gen_token_fn *a1, void *a2, struct err *a3)
{
	err_set(a3, "gen_step: not implemented yet");
	return -1;
}

int
gen_set_params(struct gen_session *a0, const struct sampler_params *a1, struct err *a2)
{
	err_set(a2, "gen_set_params: not implemented yet");
	return -1;
}

void
gen_interrupt(struct gen_session *a0)
{

}

void
gen_free(struct gen_session *a0)
{

}

int
gen_n_seqs(const struct gen_session *a0)
{
	return -1;
}

const struct gen_settings *
gen_settings(const struct gen_session *a0)
{
	return NULL;
}

const struct sampler_params *
gen_params(const struct gen_session *a0)
{
	return NULL;
}

const int32_t *
gen_prompt_ids(const struct gen_session *a0, int seq, size_t *a2)
{
	return NULL;
}

const int32_t *
gen_output_ids(const struct gen_session *a0, int seq, size_t *a2)
{
	return NULL;
}

const char *
gen_output_text(const struct gen_session *a0, int seq, size_t *a2)
{
	return NULL;
}

enum gen_stop
gen_stop_reason(const struct gen_session *a0, int seq)
{
	return 0;
}

const char *
gen_stop_name(enum gen_stop a0)
{
	return NULL;
}

const struct gen_change *
gen_changes(const struct gen_session *a0, size_t *a1)
{
	return NULL;
}

double
gen_prefill_seconds(const struct gen_session *a0)
{
	return -1;
}

double
gen_decode_seconds(const struct gen_session *a0)
{
	return -1;
}

const float *
gen_next_logits(const struct gen_session *a0, int seq)
{
	return NULL;
}

int
gen_context_used(const struct gen_session *a0, int seq)
{
	return -1;
}
