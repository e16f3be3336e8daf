/*
 * cmd_story.c: the story as a thing the user keeps.  struct repl_story
 * (repl.h) holds the turns since the last /clear: each with the prompt as
 * typed, the text it was joined to the story as, the reply, and a copy of
 * the model's token ids before it, so that /undo, /retry and /edit can put
 * the context back exactly as it was (the engine then reuses its cached
 * prefix).  The story text is the turns' texts and replies one after the
 * other; /save writes it.  This file also holds the sliding context: when
 * a turn would not fit, a share of the unpinned transcript is shifted out
 * after the pinned prefix (--keep, /keep; default the first prompt), and
 * the story bytes the model no longer sees are counted for the screen to
 * dim.  Resuming a story from the history is cmd_resume.c.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "cmd_int.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "util.h"

/* The history keeps an undone turn, marked so; a failure to mark it
 * does not keep the story from going on. */
static void
cmd_story_mark_undone(struct repl *st, int64_t id)
{
	struct err err;

	if (st->res.hist != NULL && id > 0 &&
	    history_set_undone(st->res.hist, id, 1, &err) != 0)
		log_debug("undo: %s", err.msg);
}

static void
cmd_story_turn_fini(struct repl_story_turn *t)
{
	free(t->typed);
	free(t->text);
	free(t->reply);
	free(t->ctx_before);
	memset(t, 0, sizeof *t);
}

/*
 * Forget the story (/clear, the end): the turns, the pinned prefix unless
 * the user gave one, a pending /retry or /edit.
 */
void
cmd_story_clear(struct repl *st)
{
	struct repl_story *s = &st->story;

	cmd_story_abort(st);
	for (size_t i = 0; i < s->n; i++)
		cmd_story_turn_fini(&s->turns[i]);
	s->n = 0;
	if (!s->keep_set)
		s->keep = 0;
	s->n_pinned_bytes = 0;
	s->n_shifted_bytes = 0;
	free(s->rerun);
	s->rerun = NULL;
	s->rerun_seed_set = 0;
	s->rerun_seed_new = 0;
	s->editing = 0;
	s->changed = 1;
}

/* Free what the story owns, at the end. */
void
cmd_story_fini(struct repl *st)
{
	cmd_story_clear(st);
	free(st->story.turns);
	st->story.turns = NULL;
	st->story.cap = 0;
}

/*
 * The text a typed prompt joins the story as (caller frees): after a
 * story that does not end in whitespace, a space, or a newline when the
 * last reply ended a paragraph (end-of-text or a stop string), unless the
 * prompt starts with whitespace or punctuation.  Fresh mode joins
 * nothing.
 */
char *
cmd_story_join(const struct repl *st, const char *typed)
{
	const struct repl_story_turn	*last;
	const char			*tail;
	size_t				 len;

	/* nor before punctuation that goes on the sentence: ", then" */
	if (st->next.mode == CMD_MODE_FRESH || st->story.n == 0 ||
	    st->ctx.n_ids == 0 || *typed == '\0' ||
	    strchr(" \t\n\r,.;:!?)", typed[0]) != NULL)
		return xstrdup(typed);
	last = &st->story.turns[st->story.n - 1];
	tail = last->reply;
	len = last->reply_len;
	if (tail == NULL || len == 0) {
		tail = last->text;
		len = last->text_len;
	}
	if (len == 0 || (tail[len - 1] != '\0' &&
	    strchr(" \t\n\r", tail[len - 1]) != NULL))
		return xstrdup(typed);
	return xasprintf("%s%s", last->closed ? "\n" : " ", typed);
}

/* The bytes of n ids as the tokenizer spells them. */
size_t
cmd_story_bytes(const struct repl *st, const int32_t *ids, size_t n)
{
	size_t total = 0, len;

	for (size_t i = 0; st->res.bpe != NULL && i < n; i++)
		if (bpe_token_bytes(st->res.bpe, ids[i], &len) != NULL)
			total += len;
	return total;
}

/*
 * Continue mode: make room for n_new prompt ids and some reply.  When the
 * transcript and the prompt would not fit, the pinned prefix stays and
 * the larger of what is needed and the shift share of the rest goes; a
 * prompt longer than what is left loses its start.  Notices go to note.
 */
void
cmd_story_fit(struct repl *st, int32_t *new_ids, size_t *n_new,
    struct buf *note)
{
	struct repl_story	*s = &st->story;
	size_t			 room, want, keep, movable, need, drop, cut;

	if (st->res.n_ctx <= 0)
		return;
	room = (size_t)st->res.n_ctx;
	want = (size_t)st->next.gen.max_new_tokens;
	if (want > room / 4)
		want = room / 4 > 0 ? room / 4 : 1;
	if (st->ctx.n_ids + *n_new + want <= room)
		return;
	/* a pin of more than half the context would leave no room to slide */
	keep = s->keep < room / 2 ? s->keep : room / 2;
	if (keep > st->ctx.n_ids)
		keep = st->ctx.n_ids;
	movable = st->ctx.n_ids - keep;
	need = st->ctx.n_ids + *n_new + want - room;
	drop = (size_t)((double)movable * s->shift_share + 0.5);
	if (drop < need)
		drop = need;
	if (drop > movable)
		drop = movable;
	s->n_pinned_bytes = cmd_story_bytes(st, st->ctx.ids, keep);
	s->n_shifted_bytes += cmd_story_bytes(st, st->ctx.ids + keep, drop);
	memmove(st->ctx.ids + keep, st->ctx.ids + keep + drop,
	    (movable - drop) * sizeof *st->ctx.ids);
	st->ctx.n_ids -= drop;
	if (drop > 0)
		buf_printf(note, "context full: shifted out %zu token%s after "
		    "the first %zu\n", drop, drop == 1 ? "" : "s", keep);
	if (st->ctx.n_ids + *n_new + want <= room)
		return;
	cut = st->ctx.n_ids + *n_new + want - room;
	if (cut > *n_new)
		cut = *n_new;
	s->n_shifted_bytes += cmd_story_bytes(st, new_ids, cut);
	memmove(new_ids, new_ids + cut, (*n_new - cut) * sizeof *new_ids);
	*n_new -= cut;
	buf_printf(note, "prompt too long for the context: its first %zu "
	    "token%s left out\n", cut, cut == 1 ? "" : "s");
}

/*
 * A turn begins: remember what undoing it restores.  n_new is the
 * prompt's token count, which pins the first prompt when no --keep was
 * given.
 */
void
cmd_story_begin(struct repl *st, const char *typed, size_t n_new)
{
	struct repl_story	*s = &st->story;
	struct repl_story_turn	*t;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->turns = xreallocarray(s->turns, s->cap, sizeof *s->turns);
	}
	t = &s->turns[s->n];
	memset(t, 0, sizeof *t);
	s->open = 1;
	t->typed = xstrdup(typed);
	t->n_ctx_before = st->ctx.n_ids;
	t->ctx_before = xreallocarray(NULL, st->ctx.n_ids ? st->ctx.n_ids : 1,
	    sizeof *t->ctx_before);
	if (st->ctx.n_ids > 0)
		memcpy(t->ctx_before, st->ctx.ids,
		    st->ctx.n_ids * sizeof *t->ctx_before);
	t->n_keep_before = s->keep;
	t->n_shift_before = s->n_shifted_bytes;
	if (!s->keep_set && st->ctx.n_ids == 0 &&
	    st->next.mode == CMD_MODE_CONTINUE)
		s->keep = n_new;
}

/*
 * The turn that began ended and was kept: it joins the story as text (the
 * prompt as joined) and reply.  The bytes are copied by length, since a
 * reply may hold NUL bytes (token 0) that /save must keep.
 */
void
cmd_story_end(struct repl *st, const char *text, size_t text_len,
    const char *reply, size_t reply_len, uint64_t seed, int64_t hist_id,
    int closed)
{
	struct repl_story_turn *t = &st->story.turns[st->story.n];

	if (!st->story.open)
		return;
	st->story.open = 0;
	t->text = xstrndup(text, text_len);
	t->text_len = text_len;
	t->reply = xstrndup(reply != NULL ? reply : "", reply != NULL ?
	    reply_len : 0);
	t->reply_len = reply != NULL ? reply_len : 0;
	t->seed = seed;
	t->hist_id = hist_id;
	t->closed = closed;
	st->story.n++;
}

/*
 * A /replay ran in continue mode: the context is now the replayed turn's
 * (its prompt ids, which hold its whole transcript, and the reply), so the
 * story starts again from that text.
 */
void
cmd_story_replayed(struct repl *st, int64_t id)
{
	const int32_t	*p;
	size_t		 n_p = 0, n_o = 0, len;
	char		*text = NULL;
	const char	*reply;
	struct err	 err;
	enum gen_stop	 why = gen_stop_reason(st->turn.sess, 0);

	p = gen_prompt_ids(st->turn.sess, 0, &n_p);
	if (st->res.bpe == NULL || bpe_decode(st->res.bpe, p, n_p,
	    BPE_UTF8_REPLACE, &text, &len, &err) != 0) {
		text = xstrdup(st->turn.prompt != NULL ? st->turn.prompt : "");
		len = strlen(text);
	}
	cmd_story_clear(st);
	cmd_story_begin(st, text, n_p);
	reply = gen_output_text(st->turn.sess, 0, &n_o);
	cmd_story_end(st, text, len, reply, n_o, st->turn.seed, id,
	    why == GEN_STOP_EOS || why == GEN_STOP_STRING);
	free(text);
	/* the screen shows the replay as it streamed (with its colours):
	 * nothing to redraw */
	st->story.changed = 0;
}

/* A turn that began was dropped unrecorded (an error, the end): forget
 * what begin kept.  Nothing happens when no turn is open. */
void
cmd_story_abort(struct repl *st)
{
	struct repl_story_turn *t = &st->story.turns[st->story.n];

	if (!st->story.open)
		return;
	st->story.open = 0;
	st->story.keep = t->n_keep_before;
	cmd_story_turn_fini(t);
}

/*
 * Take the last turn out of the story and put the context back as it was
 * before it; the history marks it undone.  *t gets the turn (caller
 * finishes it with cmd_story_turn_drop).  Returns -1 when there is none.
 */
static int
cmd_story_pop(struct repl *st, struct repl_story_turn *t, struct err *err)
{
	struct repl_story *s = &st->story;

	if (s->n == 0) {
		err_set(err, "nothing to undo: the story is empty");
		return -1;
	}
	*t = s->turns[--s->n];
	st->ctx.n_ids = 0;
	if (t->n_ctx_before > st->ctx.cap) {
		st->ctx.cap = t->n_ctx_before;
		st->ctx.ids = xreallocarray(st->ctx.ids, st->ctx.cap,
		    sizeof *st->ctx.ids);
	}
	if (t->n_ctx_before > 0)
		memcpy(st->ctx.ids, t->ctx_before,
		    t->n_ctx_before * sizeof *st->ctx.ids);
	st->ctx.n_ids = t->n_ctx_before;
	st->fig.ctx_used = (int)st->ctx.n_ids;
	st->panel.have_logits = 0;
	s->keep = t->n_keep_before;
	s->n_shifted_bytes = t->n_shift_before;
	s->changed = 1;
	cmd_story_mark_undone(st, t->hist_id);
	return 0;
}

/*
 * /edit without text: the next prompt replaces the last turn.  A front
 * end calls this before it runs a prompt; returns 1 when the last turn
 * was taken out (the story changed: redraw it).
 */
int
cmd_story_take_edit(struct repl *st)
{
	struct repl_story_turn	t;
	struct err		err;

	if (!st->story.editing)
		return 0;
	st->story.editing = 0;
	if (cmd_story_pop(st, &t, &err) != 0)
		return 0;
	cmd_story_turn_fini(&t);
	return 1;
}

/*
 * The story text: each turn's text and reply.  Markdown marks each
 * prompt in bold inside the running text, so that the story reads as one
 * text; an empty story is empty.  A turn that started afresh (fresh mode)
 * begins a paragraph of its own.
 */
void
cmd_story_text(const struct repl *st, int markdown, struct buf *out)
{
	for (size_t i = 0; i < st->story.n; i++) {
		const struct repl_story_turn *t = &st->story.turns[i];

		if (i > 0 && t->n_ctx_before == 0 && out->len > 0)
			buf_puts(out, "\n\n");
		if (!markdown) {
			buf_append(out, t->text, t->text_len);
			buf_append(out, t->reply, t->reply_len);
			continue;
		}
		/* the joining whitespace stays outside the marks, which
		 * Markdown wants next to the text */
		const char *p = t->text;
		size_t lead = strspn(p, " \t\r\n"), len = t->text_len;

		buf_append(out, p, lead);
		while (len > lead && p[len - 1] != '\0' &&
		    strchr(" \t\r\n", p[len - 1]) != NULL)
			len--;
		if (len > lead) {
			buf_puts(out, "**");
			for (size_t j = lead; j < len; j++) {
				if (strchr("\\*_`[]<>#", p[j]) != NULL)
					buf_puts(out, "\\");
				buf_append(out, p + j, 1);
			}
			buf_puts(out, "**");
		}
		buf_append(out, p + len, t->text_len - len);
		buf_append(out, t->reply, t->reply_len);
	}
	if (markdown && out->len > 0 && out->data[out->len - 1] != '\n')
		buf_puts(out, "\n");
}

static int
cmd_story_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* /save FILE: the story as text, or Markdown for FILE.md. */
enum cmd_action
cmd_do_save(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	struct buf	 text;
	FILE		*f;
	int		 bad;

	(void)e;
	if (*args == '\0') {
		err_set(err, "save: usage: /save FILE (FILE.md: Markdown)");
		return CMD_ERROR;
	}
	buf_init(&text);
	cmd_story_text(st, cmd_story_ends_with(args, ".md") ||
	    cmd_story_ends_with(args, ".markdown"), &text);
	if ((f = fopen(args, "w")) == NULL) {
		err_set(err, "save: %s: %s", args, strerror(errno));
		buf_fini(&text);
		return CMD_ERROR;
	}
	bad = text.len > 0 && fwrite(text.data, 1, text.len, f) != text.len;
	bad |= fclose(f) != 0;
	if (bad) {
		err_set(err, "save: %s: %s", args, strerror(errno));
		buf_fini(&text);
		return CMD_ERROR;
	}
	buf_printf(out, "saved %zu turn%s (%zu bytes) to %s\n", st->story.n,
	    st->story.n == 1 ? "" : "s", text.len, args);
	buf_fini(&text);
	return CMD_DONE;
}

/* /undo: the last turn leaves the story, the screen and the context. */
enum cmd_action
cmd_do_undo(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	struct repl_story_turn t;

	(void)e;
	if (*args != '\0') {
		err_set(err, "undo: usage: /undo");
		return CMD_ERROR;
	}
	if (cmd_story_pop(st, &t, err) != 0)
		return CMD_ERROR;
	buf_printf(out, "undid the last turn%s\n", t.hist_id > 0 ?
	    " (the history keeps it, marked undone)" : "");
	cmd_story_turn_fini(&t);
	return CMD_DONE;
}

/* /retry [new]: the last turn again, with its seed or a new one. */
enum cmd_action
cmd_do_retry(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	struct repl_story_turn	t;
	int			new_seed = 0;

	(void)e; (void)out;
	if (strcmp(args, "new") == 0)
		new_seed = 1;
	else if (*args != '\0') {
		err_set(err, "retry: usage: /retry [new]");
		return CMD_ERROR;
	}
	if (st->res.engine == NULL) {
		err_set(err, "retry: no model loaded");
		return CMD_ERROR;
	}
	if (st->story.n == 0) {
		err_set(err, "retry: no turn to retry");
		return CMD_ERROR;
	}
	if (cmd_story_pop(st, &t, err) != 0)
		return CMD_ERROR;
	free(st->story.rerun);
	st->story.rerun = t.typed;
	t.typed = NULL;
	st->story.rerun_seed_set = !new_seed;
	st->story.rerun_seed_new = new_seed;
	st->story.rerun_seed = t.seed;
	cmd_story_turn_fini(&t);
	return CMD_RUN;
}

/*
 * /edit TEXT: the last turn again with TEXT as its prompt.  /edit alone
 * hands the last prompt to the front end (in out, for the input line, or
 * printed in line mode); the next prompt then replaces the last turn.
 */
enum cmd_action
cmd_do_edit(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	struct repl_story_turn t;

	(void)e;
	if (st->story.n == 0) {
		err_set(err, "edit: no prompt to edit");
		return CMD_ERROR;
	}
	if (*args == '\0') {
		buf_puts(out, st->story.turns[st->story.n - 1].typed);
		st->story.editing = 1;
		return CMD_EDIT;
	}
	if (st->res.engine == NULL) {
		err_set(err, "edit: no model loaded");
		return CMD_ERROR;
	}
	if (cmd_story_pop(st, &t, err) != 0)
		return CMD_ERROR;
	cmd_story_turn_fini(&t);
	free(st->story.rerun);
	st->story.rerun = xstrdup(args);
	st->story.rerun_seed_set = 0;
	st->story.rerun_seed_new = 0;
	return CMD_RUN;
}

/* /shift [X]: the share of the unpinned context a full context drops. */
enum cmd_action
cmd_do_shift(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	char	*end;
	double	 v;

	(void)e;
	if (*args != '\0') {
		v = strtod(args, &end);
		if (*end != '\0' || !(v >= 0 && v <= 1)) {
			err_set(err, "shift: '%s' is not a number in [0, 1]",
			    args);
			return CMD_ERROR;
		}
		st->story.shift_share = v;
	}
	buf_printf(out, "shift          %g (of the context after the pinned "
	    "part)\n", st->story.shift_share);
	return CMD_DONE;
}

/* /keep [N]: the pinned prefix, in tokens. */
enum cmd_action
cmd_do_keep(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	long n;

	(void)e;
	if (*args != '\0') {
		if (cmd_parse_long("keep", args, 0, INT_MAX, &n, err) != 0)
			return CMD_ERROR;
		st->story.keep = (size_t)n;
		st->story.keep_set = 1;
	}
	buf_printf(out, "keep           %zu token%s%s\n", st->story.keep,
	    st->story.keep == 1 ? "" : "s", st->story.keep_set ? "" :
	    " (the first prompt)");
	return CMD_DONE;
}
