/*
 * replay.c: regenerate a recorded turn and compare it token by token.  The
 * recorded settings are the turn's settings at its start; its live changes
 * (history's setting_changes) are applied with gen_set_params() just before
 * the step that first sampled with the new value, so a turn whose knobs
 * were turned while it wrote comes out the same again.
 */
#include "config.h"

#include <string.h>

#include "history.h"
#include "replay.h"
#include "util.h"

/* Build the settings for a replay; see replay.h. */
void
replay_settings(const struct history_turn *t, const struct gen_settings *over,
    unsigned mask, struct gen_settings *out)
{
	const struct sampler_params	*o = over ? &over->sp : NULL;
	struct sampler_params		*sp = &out->sp;

	*out = t->settings;
	if (over == NULL)
		return;
	if (mask & REPLAY_TEMPERATURE)
		sp->temperature = o->temperature;
	if (mask & REPLAY_TOP_P)
		sp->top_p = o->top_p;
	if (mask & REPLAY_TOP_K)
		sp->top_k = o->top_k;
	if (mask & REPLAY_MIN_P)
		sp->min_p = o->min_p;
	if (mask & REPLAY_REPEAT_PENALTY)
		sp->repeat_penalty = o->repeat_penalty;
	if (mask & REPLAY_REPEAT_WINDOW)
		sp->repeat_window = o->repeat_window;
	if (mask & REPLAY_SEED)
		out->seed = over->seed;
	if (mask & REPLAY_MAX_NEW)
		out->max_new_tokens = over->max_new_tokens;
	if (mask & REPLAY_EOS)
		out->eos_id = over->eos_id;
	if (mask & REPLAY_STOP) {
		out->n_stop = over->n_stop;
		memcpy(out->stop, over->stop, sizeof out->stop);
	}
}

/* Apply one recorded change to p; -1 for a name we do not know, 0 when the
 * setting is overridden (left alone), 1 when applied. */
static int
replay_apply(const struct gen_change *c, unsigned mask,
    struct sampler_params *p)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} names[] = {
		{ "temperature", REPLAY_TEMPERATURE }, { "top_p", REPLAY_TOP_P },
		{ "top_k", REPLAY_TOP_K }, { "min_p", REPLAY_MIN_P },
		{ "repeat_penalty", REPLAY_REPEAT_PENALTY },
		{ "repeat_window", REPLAY_REPEAT_WINDOW },
	};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strncmp(c->name, names[i].name, sizeof c->name) == 0)
			break;
	if (i == sizeof names / sizeof names[0])
		return -1;
	if (mask & names[i].bit)
		return 0;
	switch (names[i].bit) {
	case REPLAY_TEMPERATURE:	p->temperature = (float)c->value; break;
	case REPLAY_TOP_P:		p->top_p = (float)c->value; break;
	case REPLAY_TOP_K:		p->top_k = (int)c->value; break;
	case REPLAY_MIN_P:		p->min_p = (float)c->value; break;
	case REPLAY_REPEAT_PENALTY:	p->repeat_penalty = (float)c->value; break;
	case REPLAY_REPEAT_WINDOW:	p->repeat_window = (int)c->value; break;
	}
	return 1;
}

/* Apply every change due before step (those not applied yet). */
static int
replay_changes_due(struct gen_session *g, const struct history_turn *t,
    unsigned mask, int step, size_t *next, struct err *err)
{
	struct sampler_params	p;
	int			any = 0;

	if (*next >= t->n_changes || t->changes[*next].step > step)
		return 0;
	p = *gen_params(g);
	for (; *next < t->n_changes && t->changes[*next].step <= step;
	    (*next)++) {
		int rc = replay_apply(&t->changes[*next], mask, &p);
		if (rc < 0) {
			err_set(err, "turn %lld: unknown setting '%.*s' changed "
			    "at step %d", (long long)t->id,
			    (int)sizeof t->changes[0].name,
			    t->changes[*next].name, t->changes[*next].step);
			return -1;
		}
		any |= rc;
	}
	if (any && gen_set_params(g, &p, err) != 0) {
		err_prefix(err, "turn %lld: step %d", (long long)t->id, step);
		return -1;
	}
	return 0;
}

/* Compare the replayed ids with the recorded ones; see replay.h. */
void
replay_compare(const struct history_turn *t, const int32_t *ids, size_t n,
    struct replay_result *res)
{
	size_t i;

	res->n_tokens = n;
	res->diverged = -1;
	res->recorded = res->replayed = -1;
	for (i = 0; i < n && i < t->n_output; i++)
		if (ids[i] != t->output_ids[i])
			break;
	if (i == n && i == t->n_output)
		return;
	res->diverged = (long)i;
	res->recorded = i < t->n_output ? t->output_ids[i] : -1;
	res->replayed = i < n ? ids[i] : -1;
}

/* Regenerate a recorded turn; see replay.h. */
struct gen_session *
replay_run(struct gen_engine *e, const struct history_turn *t,
    const struct gen_settings *s, unsigned mask, gen_token_fn *fn, void *arg,
    struct replay_result *res, struct err *err)
{
	struct gen_session	*g;
	const int32_t		*ids;
	size_t			 next = 0, n;
	int			 rc = 1;
	/* an interrupted turn is cut where the user cut it */
	int			 cut = t->stop == GEN_STOP_INTERRUPTED &&
	    (mask & REPLAY_MAX_NEW) == 0;

	if (t->n_prompt == 0) {
		err_set(err, "turn %lld has no prompt tokens to replay",
		    (long long)t->id);
		return NULL;
	}
	if ((g = gen_new(e, s, err)) == NULL)
		return NULL;
	if (gen_add_prompt(g, t->prompt_ids, t->n_prompt, 1, err) != 0 ||
	    gen_start(g, err) != 0)
		goto fail;
	for (int step = 0; rc == 1; step++) {
		if (cut && (size_t)step >= t->n_output) {
			/* the step after gen_interrupt() ends the sequences */
			gen_interrupt(g);
			if (gen_step(g, fn, arg, err) < 0)
				goto fail;
			break;
		}
		if (replay_changes_due(g, t, mask, step, &next, err) != 0)
			goto fail;
		if ((rc = gen_step(g, fn, arg, err)) < 0)
			goto fail;
	}
	ids = gen_output_ids(g, 0, &n);
	replay_compare(t, ids, n, res);
	return g;
fail:
	gen_free(g);
	return NULL;
}
