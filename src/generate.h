#ifndef LMSH_GENERATE_H
#define LMSH_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "gen_types.h"
#include "sampler.h"

struct err;
struct bpe;
struct lm_model;
struct gen_engine;
struct gen_session;

/* One sequence's token from one step, handed to the callback.  piece is
 * borrowed and valid only during the call. */
struct gen_token {
	int		 seq;		/* sequence index in the session */
	int		 step;		/* 0 for the first generated token */
	int32_t		 id;		/* sampled token */
	float		 prob;		/* its final sampling probability */
	const char	*piece;		/* text completed by it (may be empty) */
	size_t		 piece_len;	/* bytes in piece */
	enum gen_stop	 stop;		/* GEN_RUNNING, or why it just ended */
};
typedef void gen_token_fn(void *arg, const struct gen_token *);

/* The engine: a model plus its KV cache, kept across turns so that a prompt
 * that extends the last one only prefills the new tokens. */
struct gen_engine *gen_engine_new(struct lm_model *, const struct bpe *,
		    int max_seqs, struct err *);
void		 gen_engine_free(struct gen_engine *);
struct lm_model	*gen_engine_model(struct gen_engine *);
const struct bpe *gen_engine_bpe(struct gen_engine *);
/* Forget the cached text (fresh mode, /clear). */
void		 gen_engine_forget(struct gen_engine *);

/* A session: prompts -> prefill -> steps.  Prompts are token ids; each
 * prompt is sampled n_samples times, sequence i using RNG stream i. */
struct gen_session *gen_new(struct gen_engine *, const struct gen_settings *,
		    struct err *);
int		 gen_add_prompt(struct gen_session *, const int32_t *ids,
		    size_t n, int n_samples, struct err *);
/* Prefill every prompt.  A prompt longer than the context is an error that
 * says by how many tokens. */
int		 gen_start(struct gen_session *, struct err *);
/* Sample one token for every running sequence; calls fn for each.  Returns
 * 1 while any sequence runs, 0 when all have stopped, -1 on error. */
int		 gen_step(struct gen_session *, gen_token_fn *, void *,
		    struct err *);
/* Change the sampling knobs; takes effect from the next token and is logged
 * as gen_change entries.  Invalid values are refused. */
int		 gen_set_params(struct gen_session *,
		    const struct sampler_params *, struct err *);
/* Take id as the next token of every running sequence instead of sampling
 * it (a branch's forced token); no RNG draw.  -1 if id is not a token. */
int		 gen_force(struct gen_session *, int32_t id, struct err *);
void		 gen_interrupt(struct gen_session *);
void		 gen_free(struct gen_session *);

/* Pacing: at most pace tokens a second are shown (0: full speed).  The
 * front ends wait gen_pace_due() seconds before each step and call
 * gen_pace_shown() after it; a pause simply makes the next step due at
 * once.  It never touches a session, so it cannot change a token. */
struct gen_pacer {
	double		 pace;		/* tokens per second, 0: no limit */
	double		 next;		/* util_now() when the next is due */
};
void		 gen_pace_start(struct gen_pacer *, double pace);
double		 gen_pace_due(const struct gen_pacer *);
void		 gen_pace_shown(struct gen_pacer *);

/* Results. */
int		 gen_n_seqs(const struct gen_session *);
const struct gen_settings *gen_settings(const struct gen_session *);
const struct sampler_params *gen_params(const struct gen_session *);
const int32_t	*gen_prompt_ids(const struct gen_session *, int seq, size_t *);
const int32_t	*gen_output_ids(const struct gen_session *, int seq, size_t *);
/* Final sampling probability of each generated id; borrowed. */
const float	*gen_output_probs(const struct gen_session *, int seq, size_t *);
/* Output text so far (NUL-terminated, flushed at the end); borrowed. */
const char	*gen_output_text(const struct gen_session *, int seq, size_t *);
enum gen_stop	 gen_stop_reason(const struct gen_session *, int seq);
const char	*gen_stop_name(enum gen_stop);
const struct gen_change *gen_changes(const struct gen_session *, size_t *);
double		 gen_prefill_seconds(const struct gen_session *);
double		 gen_decode_seconds(const struct gen_session *);
/* Prompt tokens actually prefilled (a cached prefix is not run again). */
size_t		 gen_prefilled_tokens(const struct gen_session *);
/* Logits the next token of seq will be sampled from ([vocab]); borrowed,
 * valid until the next gen_step(). */
const float	*gen_next_logits(const struct gen_session *, int seq);
/* Tokens in the context of seq (prompt + output), for the penalty window
 * and the status line. */
int		 gen_context_used(const struct gen_session *, int seq);

#endif
