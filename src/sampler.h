#ifndef LMSH_SAMPLER_H
#define LMSH_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct sampler;

#define SAMPLER_TEMPERATURE_DEFAULT	0.8f
#define SAMPLER_TOP_P_DEFAULT		0.9f
#define SAMPLER_REPEAT_WINDOW_DEFAULT	64

/* Every knob that decides which token is picked.  Applied in this order:
 * repetition penalty, temperature (0 = greedy), top-k, top-p, min-p. */
struct sampler_params {
	float		temperature;	/* >= 0; 0 = argmax, ties to lowest id */
	float		top_p;		/* (0, 1]; 1 keeps everything */
	int		top_k;		/* 0 = off */
	float		min_p;		/* [0, 1); 0 = off */
	float		repeat_penalty;	/* >= 1 (1 = off), CTRL-style */
	int		repeat_window;	/* recent tokens the penalty looks at */
};

/* The RNG: xoshiro256** seeded through splitmix64 (documented in the man
 * page so that anyone can reproduce a stream).  One uniform per token. */
struct lm_rng {
	uint64_t	s[4];		/* xoshiro256** state */
};
void		 rng_seed(struct lm_rng *, uint64_t seed, uint64_t stream);
uint64_t	 rng_next(struct lm_rng *);
double		 rng_uniform(struct lm_rng *);	/* [0, 1), 53 bits */
/* The seed whose stream 0 equals stream `stream` of seed. */
uint64_t	 rng_stream_seed(uint64_t seed, uint64_t stream);

/* One candidate for the panel and for tests. */
struct sampler_cand {
	int32_t		id;
	float		p_raw;		/* softmax(logits) */
	float		p_temp;		/* after penalty and temperature */
	float		p_final;	/* after all filters, renormalised; 0 if cut */
	float		cum;		/* cumulative p_temp before this one */
	int		kept;		/* survives top-k/top-p/min-p */
};

void		 sampler_params_default(struct sampler_params *);
int		 sampler_params_check(const struct sampler_params *,
		    struct err *);
/* Set one knob by name ("temperature", "top_p", "top_k", "min_p",
 * "repeat_penalty", "repeat_window"); refuses bad names and values. */
int		 sampler_params_set(struct sampler_params *, const char *name,
		    double value, struct err *);

struct sampler	*sampler_new(int n_vocab);
void		 sampler_free(struct sampler *);
/* Threads one pick may use (default 1); never changes the result. */
void		 sampler_set_threads(struct sampler *, int);
/* Pick a token from logits (not modified).  recent: the last tokens of the
 * sequence, for the penalty.  *prob gets the chosen token's final
 * probability.  Consumes exactly one rng_uniform() unless greedy. */
int32_t		 sampler_pick(struct sampler *, const struct sampler_params *,
		    const float *logits, const int32_t *recent, size_t n_recent,
		    struct lm_rng *, float *prob);
/* The top n candidates by p_temp, for display; returns how many. */
size_t		 sampler_candidates(struct sampler *,
		    const struct sampler_params *, const float *logits,
		    const int32_t *recent, size_t n_recent,
		    struct sampler_cand *out, size_t n);

/* Reference-text building blocks (full-vocabulary, for tests). */
int		 sampler_softmax_temp(const float *logits, size_t n, float temp,
		    float *probs, struct err *);
/* exp((logit - max) / temperature) exactly as sampler_pick computes it. */
float		 sampler_weight(float logit, float max, float temperature);
int		 sampler_nucleus(const float *probs, size_t n, float p,
		    float *out, struct err *);

#endif
