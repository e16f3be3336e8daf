/*
 * cmd_branch.c: "/branch TURN STEP [TOKEN_ID]": continue a recorded turn
 * from one of its tokens.  The branch's context is the parent's context
 * and its first STEP generated tokens; TOKEN_ID, when given, is forced at
 * position STEP and sampling goes on after it.  It samples with the
 * settings that were in effect at STEP (the parent's start settings with
 * its live changes up to STEP) and a new seed, and is recorded as a turn
 * of its own with parent, branch_step and forced_token, holding its own
 * context ids.  The engine reuses the longest prefix its KV cache holds:
 * a branch of the last reply only cuts the cache back (one token is run
 * again for its logits); an older turn costs one prefill up to the
 * branch point.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_int.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "util.h"

/* Forget a pending or finished branch. */
void
cmd_branch_free(struct repl *st)
{
	if (st->branch.from != NULL) {
		history_turn_fini(st->branch.from);
		free(st->branch.from);
	}
	memset(&st->branch, 0, sizeof st->branch);
}

/* "TURN STEP [TOKEN_ID]" into the pending branch; the parent is loaded. */
enum cmd_action
cmd_do_branch(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	char	*w[4] = { NULL }, *save = NULL, *copy = xstrdup(args);
	long	 turn = 0, step = 0, tok = -1;
	int	 n = 0;
	enum cmd_action rc = CMD_ERROR;

	(void)e; (void)out;
	for (char *p = strtok_r(copy, " \t", &save); p != NULL && n < 4;
	    p = strtok_r(NULL, " \t", &save))
		w[n++] = p;
	if (n < 2 || n > 3) {
		err_set(err, "branch: usage: /branch TURN STEP [TOKEN_ID]");
		goto out;
	}
	if (st->res.hist == NULL) {
		err_set(err, "branch: history is off (started with "
		    "--no-history, or the database could not be opened)");
		goto out;
	}
	if (st->res.engine == NULL) {
		err_set(err, "branch: no model loaded");
		goto out;
	}
	if (cmd_parse_long("branch: TURN", w[0], 1, LONG_MAX, &turn, err) != 0 ||
	    cmd_parse_long("branch: STEP", w[1], 0, GEN_MAX_NEW_MAX, &step,
	    err) != 0 ||
	    (n == 3 && cmd_parse_long("branch: TOKEN_ID", w[2], 0,
	    st->res.n_vocab > 0 ? st->res.n_vocab - 1 : INT32_MAX, &tok,
	    err) != 0))
		goto out;
	cmd_replay_free(st);
	cmd_branch_free(st);
	st->branch.from = xcalloc(1, sizeof *st->branch.from);
	if (history_get_turn(st->res.hist, turn, st->branch.from, err) != 0)
		goto fail;
	if ((size_t)step > st->branch.from->n_output) {
		err_set(err, "branch: turn %ld has %zu generated tokens: STEP "
		    "must be 0 to %zu", turn, st->branch.from->n_output,
		    st->branch.from->n_output);
		goto fail;
	}
	st->branch.step = (int)step;
	st->branch.forced = n == 3;
	st->branch.token = (int32_t)tok;
	rc = CMD_RUN;
	goto out;
fail:
	cmd_branch_free(st);
out:
	free(copy);
	return rc;
}

/*
 * The settings and context of the pending branch: the parent's settings
 * with its live changes before the branch point, and a budget of what the
 * parent had left (at least one token); the seed is the caller's.  *ids
 * (caller frees) gets the parent's context and its first STEP tokens.
 */
int
cmd_branch_setup(struct repl *st, struct gen_settings *gs, int32_t **ids,
    size_t *n, struct err *err)
{
	const struct history_turn *t = st->branch.from;
	size_t step = (size_t)st->branch.step;

	*gs = t->settings;
	for (size_t i = 0; i < t->n_changes; i++)
		if ((size_t)t->changes[i].step <= step &&
		    sampler_params_set(&gs->sp, t->changes[i].name,
		    t->changes[i].value, err) != 0)
			return -1;
	gs->max_new_tokens = t->settings.max_new_tokens > st->branch.step ?
	    t->settings.max_new_tokens - st->branch.step : 1;
	*n = t->n_prompt + step;
	*ids = xreallocarray(NULL, *n + 1, sizeof **ids);
	memcpy(*ids, t->prompt_ids, t->n_prompt * sizeof **ids);
	memcpy(*ids + t->n_prompt, t->output_ids, step * sizeof **ids);
	return 0;
}
