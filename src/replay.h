#ifndef LMSH_REPLAY_H
#define LMSH_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "generate.h"

struct buf;
struct err;
struct bpe;
struct gen_engine;
struct history;
struct history_turn;
struct replay;

/* Settings a replay may override; the rest come from the recorded turn.
 * A recorded live change of an overridden setting is not applied.  Bit i
 * is row i of sampler_settings; the others are the rest of gen_settings. */
#define REPLAY_SETTING(i)	(1u << (i))
enum replay_override {
	REPLAY_SEED		= 1u << 24,
	REPLAY_MAX_NEW		= 1u << 25,
	REPLAY_EOS		= 1u << 26,
	REPLAY_STOP		= 1u << 27
};

/* How a replay compares with the recording. */
struct replay_result {
	size_t		n_tokens;	/* tokens the replay generated */
	long		diverged;	/* first differing step; -1: identical */
	int32_t		recorded;	/* recorded token there; -1: it ended */
	int32_t		replayed;	/* replayed token there; -1: it ended */
};

/* What the replaying process runs on, to set beside a divergence. */
struct replay_setup {
	const char	*config_json;	/* the model config as JSON, or NULL */
	const char	*kernels;	/* kernel set in use, or NULL */
	const char	*dtype;		/* weight dtype in use, or NULL */
};

/* The settings of t with the fields named in mask taken from over
 * (over may be NULL when mask is 0).  Stop strings stay borrowed from t
 * or over. */
void		 replay_settings(const struct history_turn *t,
		    const struct gen_settings *over, unsigned mask,
		    struct gen_settings *out);
/* Parse "-t 0 --top-k 5 --seed=3" (the REPL's /replay ID OPTIONS) into
 * over and mask; every sampler_settings row by its option name, plus -t,
 * -p, -s/--seed and --max-new-tokens. */
int		 replay_parse_overrides(const char *args,
		    struct gen_settings *over, unsigned *mask, struct err *);

/* Stepwise: begin prefills t's prompt with settings s (from
 * replay_settings); each step applies t's live changes due before it
 * (except those of overridden settings), samples one token and hands it
 * to fn; an interrupted turn stops where it was cut.  replay_step returns
 * 1 while it runs, 0 when done, -1 on error.  replay_end compares, fills
 * res and returns the session (the caller frees it with gen_free(), e.g.
 * after recording it); it frees r.  replay_free drops a replay. */
struct replay	*replay_begin(struct gen_engine *, const struct history_turn *t,
		    const struct gen_settings *s, unsigned mask, struct err *);
int		 replay_step(struct replay *, gen_token_fn *, void *,
		    struct err *);
struct gen_session *replay_session(const struct replay *);
void		 replay_interrupt(struct replay *);
struct gen_session *replay_end(struct replay *, struct replay_result *);
void		 replay_free(struct replay *);
/* All of the above in one call; NULL on error. */
struct gen_session *replay_run(struct gen_engine *,
		    const struct history_turn *t, const struct gen_settings *s,
		    unsigned mask, gen_token_fn *fn, void *arg,
		    struct replay_result *res, struct err *);
/* Compare output ids with t's (fills res). */
void		 replay_compare(const struct history_turn *t,
		    const int32_t *ids, size_t n, struct replay_result *res);

/* The texts both front ends print, one line each ending in '\n'.
 * replay_check_model: every way the model at model_path differs from the
 * recorded one (warnings).  replay_verdict: "identical (N tokens)" or the
 * divergence line with both tokens (as ids when bpe is NULL), followed by
 * a line naming a different kernel set or weight dtype. */
void		 replay_check_model(struct history *,
		    const struct history_turn *t, const char *model_path,
		    const struct replay_setup *, struct buf *warn);
void		 replay_verdict(const struct history_turn *t,
		    const struct replay_result *, const struct bpe *,
		    const struct replay_setup *, struct buf *out);

#endif
