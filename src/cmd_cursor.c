/*
 * cmd_cursor.c: the token cursor on the last reply (issue 14).  While a
 * turn runs in the curses REPL, the logits each token was sampled from are
 * kept (n_vocab floats a token, up to CMD_CURSOR_MAX_BYTES), so that the
 * cursor can show the distribution at any position of the reply under the
 * settings in effect there (the turn's start settings and its live
 * changes up to that step) without running the model.  Taking another
 * candidate, or sampling afresh from the position, is a /branch of the
 * reply's recorded turn at that step.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "history.h"
#include "sampler.h"
#include "util.h"

/* Logits kept for the cursor, at most: 256 tokens of a 50k vocabulary. */
#define CMD_CURSOR_MAX_BYTES	((size_t)64 << 20)

/* A turn starts: forget the last reply's logits and leave the cursor. */
void
cmd_cursor_reset(struct repl *st)
{
	cmd_cursor_leave(st);
	st->cursor.n = 0;
}

/* Keep the logits the next token is sampled from (step n). */
void
cmd_cursor_keep(struct repl *st, const float *logits)
{
	size_t nv = (size_t)st->res.n_vocab, need = st->cursor.n + 1;

	if (nv == 0 || need * nv * sizeof *logits > CMD_CURSOR_MAX_BYTES)
		return;
	if (need > st->cursor.cap) {
		st->cursor.cap = need * 2;
		st->cursor.logits = xreallocarray(st->cursor.logits,
		    st->cursor.cap * nv, sizeof *logits);
	}
	memcpy(st->cursor.logits + st->cursor.n * nv, logits,
	    nv * sizeof *logits);
	st->cursor.n++;
}

/* The settings in effect when token pos was sampled. */
static void
cmd_cursor_settings(const struct repl *st, int pos, struct sampler_params *sp)
{
	const struct history_turn *t = st->cursor.turn;
	struct err err;

	*sp = t->settings.sp;
	for (size_t i = 0; i < t->n_changes; i++)
		if (t->changes[i].step <= pos)
			(void)sampler_params_set(sp, t->changes[i].name,
			    t->changes[i].value, &err);
}

/*
 * Put the cursor on the last token of the last reply.  It needs the
 * reply's logits (kept while it ran on the screen) and its record.
 */
int
cmd_cursor_enter(struct repl *st, struct err *err)
{
	struct history_turn *t;

	if (st->res.hist == NULL || st->turn.last_id <= 0 ||
	    st->cursor.n == 0) {
		err_set(err, "token cursor: no recorded reply to move in");
		return -1;
	}
	cmd_cursor_leave(st);
	t = xcalloc(1, sizeof *t);
	if (history_get_turn(st->res.hist, st->turn.last_id, t, err) != 0) {
		history_turn_fini(t);
		free(t);
		return -1;
	}
	st->cursor.turn = t;
	st->cursor.max = t->n_output < st->cursor.n ? (int)t->n_output :
	    (int)st->cursor.n;
	if (st->cursor.max == 0) {
		cmd_cursor_leave(st);
		err_set(err, "token cursor: the last reply has no tokens");
		return -1;
	}
	st->cursor.pos = st->cursor.max - 1;
	st->cursor.pick = 0;
	st->cursor.on = 1;
	cmd_cursor_settings(st, st->cursor.pos, &st->cursor.sp);
	return 0;
}

void
cmd_cursor_leave(struct repl *st)
{
	if (st->cursor.turn != NULL) {
		history_turn_fini(st->cursor.turn);
		free(st->cursor.turn);
	}
	st->cursor.turn = NULL;
	st->cursor.on = 0;
}

/* Move the cursor by delta tokens (clamped); the pick goes back to the
 * top candidate. */
void
cmd_cursor_move(struct repl *st, int delta)
{
	int p = st->cursor.pos + delta;

	if (!st->cursor.on)
		return;
	p = p < 0 ? 0 : p >= st->cursor.max ? st->cursor.max - 1 : p;
	st->cursor.pos = p;
	st->cursor.pick = 0;
	cmd_cursor_settings(st, p, &st->cursor.sp);
}

/* The top n candidates at the cursor, under the settings in effect there,
 * with the context before it for the penalty. */
static size_t
cmd_cursor_candidates(struct repl *st, struct sampler_cand *out, size_t n)
{
	const struct history_turn	*t = st->cursor.turn;
	size_t				 pos = (size_t)st->cursor.pos;
	size_t				 all = t->n_prompt + pos, w, k = 0;
	int32_t				*recent;

	if (st->panel.sampler == NULL &&
	    (st->panel.sampler = sampler_new(st->res.n_vocab)) == NULL)
		return 0;
	w = (size_t)(st->cursor.sp.repeat_window > 0 ?
	    st->cursor.sp.repeat_window : 0);
	w = w < all ? w : all;
	recent = xcalloc(w + 1, sizeof *recent);
	for (size_t i = all - w; i < all; i++)
		recent[k++] = i < t->n_prompt ? t->prompt_ids[i] :
		    t->output_ids[i - t->n_prompt];
	n = sampler_candidates(st->panel.sampler, &st->cursor.sp,
	    st->cursor.logits + pos * (size_t)st->res.n_vocab, recent, k, out,
	    n);
	free(recent);
	return n;
}

/* The panel's candidates: at the cursor, else the next token's. */
size_t
cmd_candidates(struct repl *st, struct sampler_cand *out, size_t n)
{
	if (st->cursor.on)
		return cmd_cursor_candidates(st, out, n);
	if (!st->panel.have_logits || st->panel.logits == NULL)
		return 0;
	if (st->panel.sampler == NULL && (st->panel.sampler =
	    sampler_new(st->res.n_vocab)) == NULL)
		return 0;
	return sampler_candidates(st->panel.sampler, &st->next.gen.sp,
	    st->panel.logits, st->panel.recent, st->panel.n_recent, out, n);
}

/* The settings the panel shows its candidates under. */
const struct sampler_params *
cmd_panel_params(const struct repl *st)
{
	return st->cursor.on ? &st->cursor.sp : &st->next.gen.sp;
}

/*
 * Continue the last reply from the cursor: with the picked candidate
 * forced there (take 1), or sampled afresh (take 0).  Loads the /branch;
 * the front end then runs it (cmd_turn_begin with no prompt).
 */
int
cmd_cursor_branch(struct repl *st, int take, struct err *err)
{
	struct sampler_cand	*c;
	struct buf		 out;
	char			 line[96];
	size_t			 n;
	int			 rc;

	if (!st->cursor.on)
		return -1;
	c = xcalloc((size_t)st->cursor.pick + 1, sizeof *c);
	n = cmd_cursor_candidates(st, c, (size_t)st->cursor.pick + 1);
	if (take && n <= (size_t)st->cursor.pick) {
		free(c);
		err_set(err, "token cursor: no candidate there");
		return -1;
	}
	if (take)
		snprintf(line, sizeof line, "/branch %lld %d %ld",
		    (long long)st->cursor.turn->id, st->cursor.pos,
		    (long)c[st->cursor.pick].id);
	else
		snprintf(line, sizeof line, "/branch %lld %d",
		    (long long)st->cursor.turn->id, st->cursor.pos);
	free(c);
	cmd_cursor_leave(st);
	buf_init(&out);
	rc = cmd_run(st, line, &out, err) == CMD_RUN ? 0 : -1;
	buf_fini(&out);
	return rc;
}
