#ifndef LMSH_REPLAY_H
#define LMSH_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "generate.h"

struct err;
struct gen_engine;
struct history_turn;

/* Settings a replay may override; the rest come from the recorded turn.
 * A recorded live change of an overridden setting is not applied. */
enum replay_override {
	REPLAY_TEMPERATURE	= 1 << 0,
	REPLAY_TOP_P		= 1 << 1,
	REPLAY_TOP_K		= 1 << 2,
	REPLAY_MIN_P		= 1 << 3,
	REPLAY_REPEAT_PENALTY	= 1 << 4,
	REPLAY_REPEAT_WINDOW	= 1 << 5,
	REPLAY_SEED		= 1 << 6,
	REPLAY_MAX_NEW		= 1 << 7,
	REPLAY_EOS		= 1 << 8,
	REPLAY_STOP		= 1 << 9
};

/* How a replay compares with the recording. */
struct replay_result {
	size_t		n_tokens;	/* tokens the replay generated */
	long		diverged;	/* first differing step; -1: identical */
	int32_t		recorded;	/* recorded token there; -1: it ended */
	int32_t		replayed;	/* replayed token there; -1: it ended */
};

/* The settings of t with the fields named in mask taken from over
 * (over may be NULL when mask is 0).  Stop strings stay borrowed from t
 * or over. */
void		 replay_settings(const struct history_turn *t,
		    const struct gen_settings *over, unsigned mask,
		    struct gen_settings *out);
/* Regenerate t's output from its prompt ids with settings s (from
 * replay_settings), applying t's live changes before the step each took
 * effect at (except those of overridden settings); fn (may be NULL) sees
 * every token.  Fills *res and returns the finished session (the caller
 * frees it with gen_free(), e.g. after recording it), or NULL. */
struct gen_session *replay_run(struct gen_engine *,
		    const struct history_turn *t, const struct gen_settings *s,
		    unsigned mask, gen_token_fn *fn, void *arg,
		    struct replay_result *res, struct err *);
/* Compare output ids with t's (fills res). */
void		 replay_compare(const struct history_turn *t,
		    const int32_t *ids, size_t n, struct replay_result *res);

#endif
