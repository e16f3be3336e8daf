/*
 * cmd_turn.c: the turns of the REPL's command layer (commands.h), shared by
 * both front ends: a prompt is encoded and put after the transcript's
 * token ids (continue mode) or alone (fresh mode), prefilled, stepped with
 * a per-token callback, recorded in the history and folded back into the
 * transcript.  A /replay runs through the replay engine (replay.c), which
 * then owns the session.  cmd_turn_run is the driver both front ends use,
 * with a sink for tokens, notes and the poll between steps.  It also
 * keeps the logits of the next token for the candidate panel, so that a
 * change of temperature or top-p redraws the panel without a forward pass.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "cmd_int.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "record.h"
#include "replay.h"
#include "sampler.h"
#include "util.h"

static void
cmd_ctx_append(struct repl *st, const int32_t *ids, size_t n)
{
	if (n == 0)
		return;
	if (st->ctx.n_ids + n > st->ctx.cap) {
		st->ctx.cap = (st->ctx.n_ids + n) * 2;
		st->ctx.ids = xreallocarray(st->ctx.ids, st->ctx.cap,
		    sizeof *st->ctx.ids);
	}
	memcpy(st->ctx.ids + st->ctx.n_ids, ids, n * sizeof *ids);
	st->ctx.n_ids += n;
}

/* A seed for a turn when none is fixed: different each turn and each run,
 * recorded in the history so the turn can be replayed. */
static uint64_t
cmd_random_seed(void)
{
	static uint64_t	counter;
	uint64_t	s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
	    (uint64_t)(util_now() * 1e6) ^ ++counter;

	return util_splitmix64(&s) % 1000000ULL;
}

/* Copy the logits of the next token and the tokens before it. */
static void
cmd_cache_logits(struct repl *st)
{
	const float	*l;
	const int32_t	*p, *o;
	size_t		 n_p = 0, n_o = 0, w, k = 0;

	if (!st->panel.want_logits || st->turn.sess == NULL || st->res.n_vocab <= 0 ||
	    (l = gen_next_logits(st->turn.sess, 0)) == NULL)
		return;
	if (st->panel.logits == NULL)
		st->panel.logits = xcalloc((size_t)st->res.n_vocab, sizeof *st->panel.logits);
	memcpy(st->panel.logits, l, (size_t)st->res.n_vocab * sizeof *l);
	st->panel.have_logits = 1;
	cmd_cursor_keep(st, l);
	p = gen_prompt_ids(st->turn.sess, 0, &n_p);
	o = gen_output_ids(st->turn.sess, 0, &n_o);
	w = (size_t)(st->next.gen.sp.repeat_window > 0 ?
	    st->next.gen.sp.repeat_window : 0);
	if (w > n_p + n_o)
		w = n_p + n_o;
	if (w > st->panel.recent_cap) {
		st->panel.recent_cap = w;
		st->panel.recent_own = xreallocarray(st->panel.recent_own, w,
		    sizeof *st->panel.recent_own);
	}
	for (size_t i = n_p + n_o - w; i < n_p + n_o; i++)
		st->panel.recent_own[k++] = i < n_p ? p[i] : o[i - n_p];
	st->panel.recent = st->panel.recent_own;
	st->panel.n_recent = k;
}

/* What this process computes with, to compare with a recorded session. */
static struct replay_setup
cmd_setup(const struct repl *st)
{
	struct replay_setup now = { st->res.config_json, st->res.kernels, st->res.dtype };

	return now;
}

/*
 * Start the turn /replay loaded, through the replay engine: the model
 * warnings go to note, the session is the engine's (borrowed).
 */
static int
cmd_replay_start(struct repl *st, struct buf *note, struct err *err)
{
	const struct history_turn	*t = st->turn.replay;
	struct replay_setup		 now = cmd_setup(st);
	struct gen_settings		 gs;

	replay_check_model(st->res.hist, t, st->res.model_path, &now, note);
	replay_settings(t, &st->turn.replay_over, st->turn.replay_mask, &gs);
	if ((st->turn.replaying = replay_begin(st->res.engine, t, &gs, st->turn.replay_mask,
	    err)) == NULL)
		return -1;
	st->turn.sess = replay_session(st->turn.replaying);
	st->turn.new_ids = xreallocarray(NULL, t->n_prompt,
	    sizeof *st->turn.new_ids);
	memcpy(st->turn.new_ids, t->prompt_ids,
	    t->n_prompt * sizeof *t->prompt_ids);
	st->turn.n_new = t->n_prompt;
	st->turn.prompt = xstrdup(t->prompt != NULL ? t->prompt : "");
	return 0;
}

/* The ids and settings of a turn the user typed: the prompt joined to
 * the story, after a context that slides to make room. */
static int
cmd_prompt_ids(struct repl *st, const char *typed, struct gen_settings *gs,
    struct buf *note, struct err *err)
{
	size_t	 bad;
	char	*prompt;

	/* the same policy as lmsh generate and tokenize: refuse, naming the
	 * byte, unless --replace-invalid asked for U+FFFD */
	if (!st->next.replace_invalid &&
	    !utf8_is_valid(typed, strlen(typed), &bad)) {
		err_set(err, "prompt: invalid UTF-8 at byte %zu "
		    "(--replace-invalid turns such bytes into U+FFFD)", bad);
		return -1;
	}
	prompt = cmd_story_join(st, typed);
	if (bpe_encode(st->res.bpe, prompt, strlen(prompt), BPE_UTF8_REPLACE,
	    &st->turn.new_ids, &st->turn.n_new, err) != 0) {
		free(prompt);
		return -1;
	}
	st->turn.prompt = prompt;
	if (st->next.mode == CMD_MODE_FRESH)
		cmd_clear(st);
	if (st->turn.n_new == 0 && st->ctx.n_ids == 0) {
		err_set(err, "nothing to continue: type a prompt");
		return -1;
	}
	cmd_story_begin(st, typed, st->turn.n_new);
	cmd_story_fit(st, st->turn.new_ids, &st->turn.n_new, note);
	*gs = st->next.gen;
	if (!st->next.seed_fixed)
		gs->seed = cmd_random_seed();
	if (st->story.rerun_seed_set)
		gs->seed = st->story.rerun_seed;
	else if (st->story.rerun_seed_new)
		gs->seed = cmd_random_seed();
	st->story.rerun_seed_set = 0;
	st->story.rerun_seed_new = 0;
	return 0;
}

/*
 * Free the running turn's session and buffers without recording it.
 */
void
cmd_turn_reset(struct repl *st)
{
	if (st->turn.replaying == NULL)
		gen_free(st->turn.sess);
	st->turn.sess = NULL;
	free(st->turn.prompt);
	st->turn.prompt = NULL;
	free(st->turn.new_ids);
	st->turn.new_ids = NULL;
	st->turn.n_new = 0;
	cmd_replay_free(st);
	cmd_story_abort(st);
	cmd_branch_free(st);
}

/* Start the branch /branch loaded: its context (in the cache up to the
 * branch point when it is a recent reply), a new seed unless the seed is
 * fixed, and the forced token. */
static int
cmd_branch_start(struct repl *st, struct gen_settings *gs, struct err *err)
{
	int32_t	*ids = NULL;
	size_t	 n = 0;
	int	 rc = -1;

	if (cmd_branch_setup(st, gs, &ids, &n, err) != 0)
		goto out;
	gs->seed = st->next.seed_fixed ? st->next.gen.seed : cmd_random_seed();
	st->turn.prompt = xstrdup("");
	st->turn.new_ids = ids;
	st->turn.n_new = n;
	ids = NULL;
	st->turn.parent = st->branch.from->id;
	st->branch.running = 1;
	if ((st->turn.sess = gen_new(st->res.engine, gs, err)) == NULL ||
	    gen_add_prompt(st->turn.sess, st->turn.new_ids, n, 1, err) != 0 ||
	    gen_start(st->turn.sess, err) != 0 ||
	    (st->branch.forced && gen_force(st->turn.sess, st->branch.token,
	    err) != 0))
		goto out;
	rc = 0;
out:
	free(ids);
	return rc;
}

/* The status line's figures at the start of a turn. */
static void
cmd_turn_started(struct repl *st, uint64_t seed)
{
	double s = gen_prefill_seconds(st->turn.sess);

	st->turn.seed = seed;
	st->turn.step = 0;
	st->fig.n_generated = 0;
	st->fig.decode_tps = 0;
	st->fig.prefill_tps = s > 0 ? st->turn.n_new / s : 0;
	/* what a branch costs: the tokens run again, the rest was cached */
	log_debug("prefill: %zu of %zu context tokens run, %.3f ms",
	    gen_prefilled_tokens(st->turn.sess), (size_t)gen_context_used(
	    st->turn.sess, 0), s * 1e3);
	st->fig.ctx_used = gen_context_used(st->turn.sess, 0);
	st->fig.t0 = util_now();
	cmd_cursor_reset(st);
	cmd_cache_logits(st);
}

/*
 * Begin a turn: encode the prompt (NULL: the turn /replay loaded), put it
 * after the transcript in continue mode (dropping the oldest tokens, with a
 * notice in note, when the context would overflow), and prefill.  Returns
 * 0, or -1 with err set and no turn running.
 */
int
cmd_turn_begin(struct repl *st, const char *prompt, struct buf *note,
    struct err *err)
{
	struct gen_settings	 gs;
	int32_t			*ids = NULL;
	char			*rerun = NULL;
	size_t			 n;
	int			 rc = -1;

	if (prompt == NULL && st->story.rerun != NULL) {
		/* /retry, /edit TEXT */
		rerun = st->story.rerun;
		prompt = rerun;
		st->story.rerun = NULL;
	}
	if (st->res.engine == NULL || (prompt != NULL && st->res.bpe == NULL)) {
		err_set(err, "no model loaded");
		goto out;
	}
	st->turn.parent = 0;
	if (prompt == NULL && st->branch.from != NULL) {
		if (cmd_branch_start(st, &gs, err) != 0)
			goto out;
	} else if (prompt == NULL) {
		if (st->turn.replay == NULL) {
			err_set(err, "no turn to replay");
			goto out;
		}
		if (cmd_replay_start(st, note, err) != 0)
			goto out;
		gs = *gen_settings(st->turn.sess);
	} else {
		if (cmd_prompt_ids(st, prompt, &gs, note, err) != 0)
			goto out;
		/* a prompt after the transcript continues the story */
		if (st->ctx.n_ids > 0)
			st->turn.parent = st->turn.last_id;
		n = st->ctx.n_ids + st->turn.n_new;
		ids = xreallocarray(NULL, n ? n : 1, sizeof *ids);
		if (st->ctx.n_ids > 0)
			memcpy(ids, st->ctx.ids, st->ctx.n_ids * sizeof *ids);
		if (st->turn.n_new > 0)
			memcpy(ids + st->ctx.n_ids, st->turn.new_ids,
			    st->turn.n_new * sizeof *ids);
		if ((st->turn.sess = gen_new(st->res.engine, &gs, err)) == NULL ||
		    gen_add_prompt(st->turn.sess, ids, n, 1, err) != 0 ||
		    gen_start(st->turn.sess, err) != 0)
			goto out;
	}
	cmd_turn_started(st, gs.seed);
	rc = 0;
out:
	free(rerun);
	free(ids);
	if (rc != 0)
		cmd_turn_reset(st);
	return rc;
}

/*
 * Sample one token of the running turn; fn gets it (piece borrowed for the
 * call).  Returns 1 while the turn runs, 0 when it has stopped, -1 on an
 * error.  The figures of the status line are updated.
 */
int
cmd_turn_step(struct repl *st, gen_token_fn *fn, void *arg, struct err *err)
{
	double	 s;
	size_t	 n = 0;
	int	 rc;

	if (st->turn.replaying != NULL)
		rc = replay_step(st->turn.replaying, fn, arg, err);
	else
		rc = gen_step(st->turn.sess, fn, arg, err);
	gen_output_ids(st->turn.sess, 0, &n);
	st->fig.n_generated = (int)n;
	st->turn.step = st->fig.n_generated;
	s = gen_decode_seconds(st->turn.sess);
	st->fig.decode_tps = s > 0 ? st->fig.n_generated / s : 0;
	st->fig.ctx_used = gen_context_used(st->turn.sess, 0);
	if (rc == 1)
		cmd_cache_logits(st);
	return rc;
}

/* Ctrl-C: the turn stops before its next token and is kept; between
 * turns it cancels the prefill of a resumed story. */
void
cmd_turn_interrupt(struct repl *st)
{
	if (st->turn.sess != NULL)
		gen_interrupt(st->turn.sess);
	else
		st->story.cancel = 1;
}

/* Record the turn; returns its history id, or 0. */
static int64_t
cmd_record(struct repl *st, struct buf *note)
{
	struct history_turn	t;
	struct err		err;
	int64_t			id;

	if (st->res.hist == NULL)
		return 0;
	memset(&t, 0, sizeof t);
	record_turn(&t, st->turn.sess, 0, st->turn.prompt);
	t.session_id = st->res.session_id;
	t.replay_of = st->turn.replay != NULL ? st->turn.replay->id : 0;
	t.parent = st->turn.parent;
	/* a prompt continues the story's last turn, which --resume follows
	 * back (after an /undo, the turn before the undone one) */
	if (st->story.open && st->story.n > 0 &&
	    st->story.turns[st->story.n].n_ctx_before > 0) {
		const struct repl_story_turn *last =
		    &st->story.turns[st->story.n - 1];

		t.parent = last->hist_id;
		/* after an undone branch the story goes on from where the
		 * branch began: a branch of that turn, with a prompt */
		if (last->cut) {
			t.branch = 1;
			t.branch_step = last->cut_step;
		}
	}
	if (st->branch.running) {
		t.branch = 1;
		t.branch_step = st->branch.step;
		t.forced = st->branch.forced;
		t.forced_token = st->branch.token;
	}
	if (history_record_turn(st->res.hist, &t, &err) != 0)
		buf_printf(note, "history: %s\n", err.msg);
	else
		st->turn.last_id = t.id;
	id = t.id;
	history_turn_fini(&t);
	return id;
}

/* Finish a replay: the session becomes ours, and the verdict (the CLI's
 * text) goes to note. */
static void
cmd_replay_finish(struct repl *st, struct buf *note)
{
	struct replay_result	res;
	struct replay_setup	now = cmd_setup(st);

	st->turn.sess = replay_end(st->turn.replaying, &res);
	st->turn.replaying = NULL;
	replay_verdict(st->turn.replay, &res, st->res.bpe, &now, note);
}

/*
 * End the turn: record it (an interrupted one too), update the transcript
 * ids (continue mode), and free the session.  Notices go to note.  Returns
 * 0, or -1 when the turn ended with a model error (err set).
 */
int
cmd_turn_end(struct repl *st, struct buf *note, struct err *err)
{
	const int32_t	*p, *o;
	const char	*reply;
	size_t		 n_p = 0, n_o = 0;
	enum gen_stop	 why;
	int64_t		 id;
	int		 replay = st->turn.replaying != NULL;

	if (st->turn.sess == NULL)
		return 0;
	why = gen_stop_reason(st->turn.sess, 0);
	if (replay)
		cmd_replay_finish(st, note);
	id = cmd_record(st, note);
	if (replay && st->next.mode == CMD_MODE_CONTINUE)
		cmd_story_replayed(st, id);
	else if (st->branch.running && st->next.mode == CMD_MODE_CONTINUE) {
		/* the story is now the branch's: its parent's story up to
		 * the branch point, then the branch */
		if (cmd_story_follow(st, id, err) != 0)
			buf_printf(note, "story: %s\n", err->msg);
		/* the screen already shows it as it streamed */
		st->story.changed = 0;
	} else {
		reply = gen_output_text(st->turn.sess, 0, &n_o);
		cmd_story_end(st, st->turn.prompt, strlen(st->turn.prompt),
		    reply, n_o, st->turn.seed, id,
		    why == GEN_STOP_EOS || why == GEN_STOP_STRING);
	}
	st->ctx.n_ids = 0;
	if (st->next.mode == CMD_MODE_CONTINUE) {
		p = gen_prompt_ids(st->turn.sess, 0, &n_p);
		o = gen_output_ids(st->turn.sess, 0, &n_o);
		cmd_ctx_append(st, p, n_p);
		cmd_ctx_append(st, o, n_o);
	}
	if (why == GEN_STOP_CONTEXT)
		buf_printf(note, "the context is full (%d tokens): the next "
		    "prompt shifts out older text\n", st->res.n_ctx);
	else if (why == GEN_STOP_ERROR)
		err_set(err, "the model failed; the reply was kept");
	cmd_turn_reset(st);
	return why == GEN_STOP_ERROR ? -1 : 0;
}

/* Hand each line of note to the sink as a notice, and empty note. */
static void
cmd_sink_notes(const struct cmd_sink *k, struct buf *note)
{
	char *p = note->data;

	while (p != NULL && *p != '\0') {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		k->on_note(k->arg, p, 0);
		p = nl != NULL ? nl + 1 : p + strlen(p);
	}
	note->len = 0;
	if (note->data != NULL)
		note->data[0] = '\0';
}

/*
 * Between steps: the sink's poll, then, while the pace holds the next
 * token back, poll again every few milliseconds so keys stay live.
 * Returns 1 when the sink asks to stop.
 */
static int
cmd_turn_wait(const struct cmd_sink *k, const struct gen_pacer *pacer)
{
	double d;

	for (;;) {
		if (k->poll(k->arg))
			return 1;
		if ((d = gen_pace_due(pacer)) <= 0)
			return 0;
		if (d > 0.01)
			d = 0.01;
		struct timespec ts = { 0, (long)(d * 1e9) };
		nanosleep(&ts, NULL);
	}
}

/*
 * The one turn driver; see commands.h.  Between steps the sink's poll
 * may take keys (which may change the settings, logged by the engine at
 * the step they take effect) and asks to stop.  The pace (/pace) only
 * delays the next step, so it never changes a token.
 */
int
cmd_turn_run(struct repl *st, const char *prompt, const struct cmd_sink *k)
{
	struct buf	 note;
	struct err	 err;
	struct gen_pacer pacer;
	int		 rc = -1, step = 1;

	buf_init(&note);
	gen_pace_start(&pacer, st->view.pace);
	if (cmd_turn_begin(st, prompt, &note, &err) != 0) {
		cmd_sink_notes(k, &note);
		k->on_note(k->arg, err.msg, 1);
		goto out;
	}
	cmd_sink_notes(k, &note);
	while ((step = cmd_turn_step(st, k->on_token, k->arg, &err)) == 1) {
		gen_pace_shown(&pacer);
		if (cmd_turn_wait(k, &pacer))
			cmd_turn_interrupt(st);
	}
	log_debug("turn: %d tokens, %.3f s wall from the first step, "
	    "%.3f s in decode", st->fig.n_generated, util_now() - st->fig.t0,
	    gen_decode_seconds(st->turn.sess));
	if (gen_stop_reason(st->turn.sess, 0) == GEN_STOP_INTERRUPTED) {
		buf_printf(&note, "interrupted after %d tokens (kept)",
		    st->fig.n_generated);
		cmd_sink_notes(k, &note);
	}
	if (step < 0)
		k->on_note(k->arg, err.msg, 1);
	if (step < 0 && st->turn.replaying != NULL) {
		/* a replay that failed is dropped, as lmsh replay drops it */
		cmd_turn_reset(st);
		goto out;
	}
	rc = cmd_turn_end(st, &note, &err);
	cmd_sink_notes(k, &note);
	if (rc != 0)
		k->on_note(k->arg, err.msg, 1);
	if (step < 0)
		rc = -1;
out:
	buf_fini(&note);
	return rc;
}

/*
 * Hand the last n prompts of the history, oldest first, to fn.  Returns 0
 * (also when history is off), or -1 with err set.
 */
int
cmd_history_prompts(struct repl *st, int n, void (*fn)(void *, const char *),
    void *arg, struct err *err)
{
	if (st->res.hist == NULL)
		return 0;
	return history_prompts(st->res.hist, n, fn, arg, err);
}

