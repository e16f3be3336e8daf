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
 * repetition penalty, temperature (0 = greedy), top-k, top-p, min-p,
 * typical-p. */
struct sampler_params {
	float		temperature;	/* >= 0; 0 = argmax, ties to lowest id */
	float		top_p;		/* (0, 1]; 1 keeps everything */
	int		top_k;		/* 0 = off */
	float		min_p;		/* [0, 1); 0 = off */
	float		typical_p;	/* (0, 1]; 1 = off */
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
	int		kept;		/* survives every filter */
};

/*
 * The settings table: one row per field of struct sampler_params.  Every
 * entry point reads it: the command-line options, /set and /show, the live
 * keys, the change log of a running turn, replay overrides and the history
 * columns.  A new knob is a field, a row, its filter and a man page line.
 */
enum sampler_type {
	SAMPLER_FLOAT,		/* float field */
	SAMPLER_INT		/* int field, whole values only */
};

struct sampler_setting {
	const char		*name;	/* "top_p": /set, /show, change log,
					   history column; the option is
					   --top-p (or --top_p) */
	const char		*alias;	/* second /set spelling, or NULL */
	size_t			 offset; /* of the field in sampler_params */
	enum sampler_type	 type;
	double			 lo, hi; /* the range ... */
	int			 lo_open; /* ... lo itself excluded */
	int			 hi_open; /* ... hi itself excluded */
	double			 step;	/* live-key step; 0: no key */
	double			 def;	/* default of a new turn */
	double			 off;	/* the value that disables it: also
					   what a turn recorded before its
					   history column existed used */
	const char		*off_word; /* /show's note at off ("greedy") */
	const char		*fmt;	/* printf format of a value */
	int			 since;	/* history schema version that added
					   its column */
	const char		*help;	/* one line for --help and /help */
};

extern const struct sampler_setting sampler_settings[];
extern const size_t sampler_n_settings;

/* The row called name ('-' and '_' alike, case-insensitive, alias too),
 * or NULL. */
const struct sampler_setting *sampler_setting_find(const char *name);
double		 sampler_setting_get(const struct sampler_params *,
		    const struct sampler_setting *);
/* Store v in the field as its type holds it, unchecked (values read back
 * from a file, sentinels). */
void		 sampler_setting_store(struct sampler_params *,
		    const struct sampler_setting *, double v);
/* Set one field; -1 (p unchanged) when v is outside the row's range. */
int		 sampler_setting_put(struct sampler_params *,
		    const struct sampler_setting *, double v, struct err *);
/* Parse text as a value of the row: "NAME: 'TEXT' is not a number in
 * (0, 1]" on failure. */
int		 sampler_setting_parse(const struct sampler_setting *,
		    const char *text, double *out, struct err *);
/* "(0, 1]", "[0, 2147483647]": the range as the messages print it. */
void		 sampler_setting_range(const struct sampler_setting *,
		    char *out, size_t cap);
/* The value after one live-key press of `dir` (+1 or -1) steps from v:
 * rounded to the step's grid, clamped into the range. */
double		 sampler_setting_step(const struct sampler_setting *,
		    double v, int dir);

void		 sampler_params_default(struct sampler_params *);
int		 sampler_params_check(const struct sampler_params *,
		    struct err *);
/* Set one knob by table name; refuses bad names and values. */
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
