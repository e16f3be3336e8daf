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

#include "bpe.h"
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

/* Make turn t the end of the story: its context and output become the
 * transcript's ids (the engine keeps whatever prefix it has cached). */
static void
cmd_branch_switch(struct repl *st, const struct history_turn *t)
{
	size_t n = t->n_prompt + t->n_output;

	if (n > st->ctx.cap) {
		st->ctx.cap = n;
		st->ctx.ids = xreallocarray(st->ctx.ids, n, sizeof *st->ctx.ids);
	}
	memcpy(st->ctx.ids, t->prompt_ids, t->n_prompt * sizeof *st->ctx.ids);
	memcpy(st->ctx.ids + t->n_prompt, t->output_ids,
	    t->n_output * sizeof *st->ctx.ids);
	/* an end-of-text token is not part of the text to continue */
	if (t->n_output > 0 && t->output_ids[t->n_output - 1] ==
	    t->settings.eos_id)
		n--;
	st->ctx.n_ids = n;
	st->turn.last_id = t->id;
	st->fig.ctx_used = (int)n;
	cmd_cursor_reset(st);
}

/*
 * "/branches": the tree of the current story (the last turn's), "*" on
 * where the story stands.  "/branches ID": go on from turn ID instead;
 * the transcript is redrawn as that turn's context and output (out).
 */
enum cmd_action
cmd_do_branches(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	struct history_turn	 t;
	char			*text = NULL;
	size_t			 len = 0;
	long			 id;
	enum cmd_action		 rc = CMD_ERROR;

	(void)e;
	if (st->res.hist == NULL) {
		err_set(err, "branches: history is off");
		return CMD_ERROR;
	}
	if (*args == '\0') {
		if (st->turn.last_id <= 0) {
			err_set(err, "branches: no story yet");
			return CMD_ERROR;
		}
		if (history_show_tree(st->res.hist, st->turn.last_id, out,
		    err) != 0)
			return CMD_ERROR;
		if (out->len == 0)
			buf_puts(out, "one turn, no branches\n");
		return CMD_DONE;
	}
	if (cmd_parse_long("branches: ID", args, 1, LONG_MAX, &id, err) != 0)
		return CMD_ERROR;
	memset(&t, 0, sizeof t);
	if (history_get_turn(st->res.hist, id, &t, err) != 0)
		goto out;
	if (st->res.bpe == NULL || bpe_decode(st->res.bpe, t.prompt_ids,
	    t.n_prompt, BPE_UTF8_REPLACE, &text, &len, err) != 0)
		goto out;
	/* /save and /undo then act on turn id's story; the screen shows
	 * its context (out), not the story */
	if (st->next.mode == CMD_MODE_CONTINUE &&
	    cmd_story_follow(st, id, err) == 0)
		st->story.changed = 0;
	cmd_branch_switch(st, &t);
	buf_append(out, text, len);
	free(text);
	buf_append(out, t.output, t.output_len);
	rc = CMD_REDRAW;
out:
	history_turn_fini(&t);
	return rc;
}

/* The text of the pending branch's context (the parent's context and its
 * first STEP tokens), for a front end that redraws the transcript before
 * the branch streams; caller frees.  NULL without a branch or tokenizer. */
char *
cmd_branch_text(struct repl *st, size_t *len)
{
	const struct history_turn	*t = st->branch.from;
	int32_t				*ids;
	char				*text = NULL;
	struct err			 err;
	size_t				 n;

	*len = 0;
	if (t == NULL || st->res.bpe == NULL)
		return NULL;
	n = t->n_prompt + (size_t)st->branch.step;
	ids = xreallocarray(NULL, n + 1, sizeof *ids);
	memcpy(ids, t->prompt_ids, t->n_prompt * sizeof *ids);
	memcpy(ids + t->n_prompt, t->output_ids,
	    (size_t)st->branch.step * sizeof *ids);
	if (bpe_decode(st->res.bpe, ids, n, BPE_UTF8_REPLACE, &text, len,
	    &err) != 0)
		text = NULL;
	free(ids);
	return text;
}
