/*
 * cmd_resume.c: a story comes back from the history (--resume, /resume)
 * and sessions are named (/name).  The story is the parent chain of the
 * last turn, not undone, of a session (turns record the turn they
 * continue); the context is that last turn's prompt and reply ids, and
 * its KV cache is rebuilt in chunks, with progress and a way to cancel.
 * The same chain becomes the story after a branch runs or /branches ID
 * (cmd_story_follow): a turn a branch follows keeps only the part of its
 * reply before the branch point.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "cmd_int.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "util.h"

#define CMD_STORY_MAX_RESUME	100000	/* turns a resumed story may have */

static size_t
cmd_story_len(const char *s, size_t len)
{
	return len > 0 || s == NULL ? len : strlen(s);
}

/* The context after a recorded turn: its prompt ids (which hold the
 * transcript before it) and its reply; what the story has beyond them
 * (after the pinned prefix) is out of view. */
static void
cmd_story_ctx_set(struct repl *st, const struct history_turn *t)
{
	size_t n = t->n_prompt + t->n_output, total = 0, keep;

	st->ctx.cap = n > 0 ? n : 1;
	st->ctx.ids = xreallocarray(st->ctx.ids, st->ctx.cap,
	    sizeof *st->ctx.ids);
	memcpy(st->ctx.ids, t->prompt_ids, t->n_prompt * sizeof *st->ctx.ids);
	memcpy(st->ctx.ids + t->n_prompt, t->output_ids,
	    t->n_output * sizeof *st->ctx.ids);
	st->ctx.n_ids = n;
	for (size_t i = 0; i < st->story.n; i++)
		total += st->story.turns[i].text_len +
		    st->story.turns[i].reply_len;
	keep = st->story.keep < n ? st->story.keep : n;
	st->story.n_pinned_bytes = cmd_story_bytes(st, st->ctx.ids, keep);
	n = cmd_story_bytes(st, st->ctx.ids, n);
	st->story.n_shifted_bytes = total > n ? total - n : 0;
}

/*
 * A turn that a branch of it follows keeps the reply its first `kept`
 * tokens spell: what the branch continues, and what the screen showed
 * (decoded on their own, as cmd_branch_text does: a character the cut
 * splits is U+FFFD).  A prompt typed after that branch is undone goes on
 * from there too.
 */
static void
cmd_story_cut(struct repl *st, struct repl_story_turn *u,
    const struct history_turn *t, size_t kept)
{
	char		*text = NULL;
	size_t		 len;
	struct err	 err;

	if (st->res.bpe != NULL && bpe_decode(st->res.bpe, t->output_ids,
	    kept, BPE_UTF8_REPLACE, &text, &len, &err) == 0) {
		free(u->reply);
		u->reply = text;
		u->reply_len = len;
	}
	u->cut = 1;
	u->cut_step = (int)kept;
}

/* A story turn from a recorded one, after the context ids before it:
 * prev's context and the tokens of its reply that the turn continues
 * (all of them but for a branch). */
static void
cmd_story_load_turn(struct repl *st, const struct history_turn *t,
    const struct history_turn *prev)
{
	struct repl_story	*s = &st->story;
	struct repl_story_turn	*u;
	size_t			 kept = 0, n = 0;
	struct err		 err;

	if (prev != NULL) {
		kept = t->branch && (size_t)t->branch_step < prev->n_output ?
		    (size_t)t->branch_step : prev->n_output;
		n = prev->n_prompt + kept;
		if (t->branch && s->n > 0)
			cmd_story_cut(st, &s->turns[s->n - 1], prev, kept);
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->turns = xreallocarray(s->turns, s->cap, sizeof *s->turns);
	}
	u = &s->turns[s->n++];
	memset(u, 0, sizeof *u);
	/* a branch whose parent was deleted begins the story: its context
	 * is its text */
	if (prev != NULL || !t->branch || st->res.bpe == NULL ||
	    bpe_decode(st->res.bpe, t->prompt_ids, t->n_prompt,
	    BPE_UTF8_REPLACE, &u->text, &u->text_len, &err) != 0) {
		u->text_len = cmd_story_len(t->prompt, t->prompt_len);
		u->text = xstrndup(t->prompt != NULL ? t->prompt : "",
		    u->text_len);
	}
	u->typed = xstrdup(u->text + strspn(u->text, " \n"));
	u->reply_len = cmd_story_len(t->output, t->output_len);
	u->reply = xstrndup(t->output != NULL ? t->output : "", u->reply_len);
	u->ctx_before = xreallocarray(NULL, n ? n : 1, sizeof *u->ctx_before);
	if (prev != NULL) {
		memcpy(u->ctx_before, prev->prompt_ids,
		    prev->n_prompt * sizeof *u->ctx_before);
		memcpy(u->ctx_before + prev->n_prompt, prev->output_ids,
		    kept * sizeof *u->ctx_before);
	}
	u->n_ctx_before = n;
	u->n_keep_before = s->keep;
	u->seed = t->settings.seed;
	u->hist_id = t->id;
	u->closed = t->stop == GEN_STOP_EOS || t->stop == GEN_STOP_STRING;
}

/* The turns of the story that ends at turn id, oldest first: its parent
 * chain.  Returns how many (*turns owned by the caller), or -1. */
static long
cmd_story_chain(struct repl *st, int64_t id, struct history_turn **turns,
    struct err *err)
{
	size_t n = 0, cap = 0;

	*turns = NULL;
	while (id > 0 && n < CMD_STORY_MAX_RESUME) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			*turns = xreallocarray(*turns, cap, sizeof **turns);
		}
		memset(&(*turns)[n], 0, sizeof **turns);
		if (history_get_turn(st->res.hist, id, &(*turns)[n], err) != 0) {
			for (size_t i = 0; i < n; i++)
				history_turn_fini(&(*turns)[i]);
			free(*turns);
			*turns = NULL;
			return -1;
		}
		id = (*turns)[n++].parent;
	}
	for (size_t i = 0; i < n / 2; i++) {
		struct history_turn tmp = (*turns)[i];

		(*turns)[i] = (*turns)[n - 1 - i];
		(*turns)[n - 1 - i] = tmp;
	}
	return (long)n;
}

/* The story becomes the n turns of a chain (oldest first), and the
 * context the last one's. */
static void
cmd_story_set_chain(struct repl *st, const struct history_turn *t, long n)
{
	cmd_story_clear(st);
	for (long i = 0; i < n; i++)
		cmd_story_load_turn(st, &t[i], i > 0 ? &t[i - 1] : NULL);
	if (!st->story.keep_set)
		st->story.keep = t[0].n_prompt;
	cmd_story_ctx_set(st, &t[n - 1]);
}

/*
 * The story becomes the one that ends at recorded turn id, as the screen
 * shows it: after a branch ran, or /branches ID went on from another
 * turn, /save writes that story and /undo takes that turn out, not the
 * turns of the story before.  The context is the turn's ids.  Returns -1
 * (err set, the story unchanged) when the history cannot be read.
 */
int
cmd_story_follow(struct repl *st, int64_t id, struct err *err)
{
	struct history_turn	*t = NULL;
	long			 n;

	if (st->res.hist == NULL || id <= 0) {
		err_set(err, "no turn to follow");
		return -1;
	}
	if ((n = cmd_story_chain(st, id, &t, err)) < 0)
		return -1;
	cmd_story_set_chain(st, t, n);
	for (long i = 0; i < n; i++)
		history_turn_fini(&t[i]);
	free(t);
	return 0;
}

/*
 * Resume a story from the history: the last turn of session spec (an id
 * or a /name; NULL: the latest) and its parent chain become the story,
 * the context its last turn's ids, the settings of the next turn its
 * sampling settings, and this session takes its name.  The next turn
 * rebuilds the KV cache in one prefill.  A line for the user goes to out.
 */
int
cmd_story_resume(struct repl *st, const char *spec, struct buf *out,
    struct err *err)
{
	struct history_turn	*t = NULL;
	const struct history_turn *last;
	int64_t			 id;
	long			 n;

	if (st->res.hist == NULL) {
		err_set(err, "resume: history is off");
		return -1;
	}
	if (history_last_turn(st->res.hist, spec, &id, err) != 0 ||
	    (n = cmd_story_chain(st, id, &t, err)) < 0)
		return -1;
	cmd_clear(st);
	cmd_story_set_chain(st, t, n);
	last = &t[n - 1];
	st->next.gen.sp = last->settings.sp;
	st->next.gen.max_new_tokens = last->settings.max_new_tokens;
	st->next.mode = CMD_MODE_CONTINUE;
	if (last->session_name != NULL && st->res.session_id > 0)
		history_set_session_name(st->res.hist, st->res.session_id,
		    last->session_name, err);
	if (last->session_name != NULL)
		buf_printf(out, "resumed '%s'", last->session_name);
	else
		buf_printf(out, "resumed session %lld",
		    (long long)last->session_id);
	buf_printf(out, ": %ld turn%s, %zu tokens of context\n", n,
	    n == 1 ? "" : "s", st->ctx.n_ids);
	for (long i = 0; i < n; i++)
		history_turn_fini(&t[i]);
	free(t);
	st->story.changed = 1;
	st->story.need_prefill = 1;
	return 0;
}

/* Prefill ids[0, n) on the engine, reusing its cached prefix, then take
 * one step (its token is dropped from the cache by the next prefill), so
 * that the one test hook, a pause per step that runs the model, applies. */
static int
cmd_story_prefill_to(struct repl *st, size_t n, struct err *err)
{
	struct gen_settings	 gs = st->next.gen;
	struct gen_session	*s;
	int			 rc = -1;

	gs.max_new_tokens = 2;
	gs.n_stop = 0;
	if ((s = gen_new(st->res.engine, &gs, err)) != NULL &&
	    gen_add_prompt(s, st->ctx.ids, n, 1, err) == 0 &&
	    gen_start(s, err) == 0 && gen_step(s, NULL, NULL, err) >= 0)
		rc = 0;
	gen_free(s);
	return rc;
}

/*
 * See commands.h.  The chunks are an eighth of the context (at least 16
 * tokens), so a long prefill shows progress and can be cancelled between
 * them; the KV values are the same as from one prefill.
 */
int
cmd_story_prefill(struct repl *st, const struct cmd_sink *k)
{
	size_t		n = st->ctx.n_ids, chunk, done = 0;
	struct err	err;

	if (!st->story.need_prefill || st->res.engine == NULL || n == 0)
		return 0;
	st->story.need_prefill = 0;
	st->story.cancel = 0;
	chunk = st->res.n_ctx / 8 > 16 ? (size_t)st->res.n_ctx / 8 : 16;
	while (done < n) {
		done = done + chunk < n ? done + chunk : n;
		if (cmd_story_prefill_to(st, done, &err) != 0) {
			gen_engine_forget(st->res.engine);
			k->on_note(k->arg, err.msg, 1);
			return -1;
		}
		if (n > chunk && k->on_progress != NULL)
			k->on_progress(k->arg, done, n);
		/* after the last chunk too: a Ctrl-C during it cancels */
		if (k->poll(k->arg) || st->story.cancel) {
			cmd_clear(st);
			cmd_story_clear(st);
			k->on_note(k->arg, "resume cancelled: the story starts "
			    "afresh", 0);
			return 1;
		}
	}
	return 0;
}

/* /resume [SESSION]: the story of a session (default the latest). */
enum cmd_action
cmd_do_resume(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)e;
	if (st->turn.sess != NULL) {
		err_set(err, "resume: a turn is running");
		return CMD_ERROR;
	}
	return cmd_story_resume(st, *args != '\0' ? args : NULL, out, err) == 0
	    ? CMD_DONE : CMD_ERROR;
}

/* /name [TEXT]: name this session, for --resume NAME. */
enum cmd_action
cmd_do_name(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)e;
	if (st->res.hist == NULL || st->res.session_id <= 0) {
		err_set(err, "name: history is off");
		return CMD_ERROR;
	}
	if (*args == '\0') {
		err_set(err, "name: usage: /name TEXT");
		return CMD_ERROR;
	}
	if (history_set_session_name(st->res.hist, st->res.session_id, args,
	    err) != 0)
		return CMD_ERROR;
	buf_printf(out, "session %lld is '%s' (lmsh --resume '%s')\n",
	    (long long)st->res.session_id, args, args);
	return CMD_DONE;
}
