/*
 * cmd_turn.c: the turns of the REPL's command layer (commands.h), shared by
 * both front ends: a prompt is encoded and put after the transcript's
 * token ids (continue mode) or alone (fresh mode), prefilled, stepped with
 * a per-token callback, recorded in the history and folded back into the
 * transcript.  It also keeps the logits of the next token for the
 * candidate panel, so that a change of temperature or top-p redraws the
 * panel without a forward pass.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "sampler.h"
#include "util.h"

static void
cmd_ctx_append(struct repl *st, const int32_t *ids, size_t n)
{
	if (n == 0)
		return;
	if (st->n_ctx_ids + n > st->ctx_ids_cap) {
		st->ctx_ids_cap = (st->n_ctx_ids + n) * 2;
		st->ctx_ids = xreallocarray(st->ctx_ids, st->ctx_ids_cap,
		    sizeof *st->ctx_ids);
	}
	memcpy(st->ctx_ids + st->n_ctx_ids, ids, n * sizeof *ids);
	st->n_ctx_ids += n;
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

/*
 * Continue mode: make room for the new ids and some reply by dropping the
 * oldest transcript tokens.  Returns how many were dropped.
 */
static size_t
cmd_fit_context(struct repl *st, size_t n_new)
{
	size_t room, want, drop;

	if (st->n_ctx <= 0)
		return 0;
	room = (size_t)st->n_ctx;
	want = (size_t)st->gen.max_new_tokens;
	if (want > room / 4)
		want = room / 4 > 0 ? room / 4 : 1;
	if (st->n_ctx_ids + n_new + want <= room)
		return 0;
	drop = st->n_ctx_ids + n_new + want - room;
	if (drop > st->n_ctx_ids)
		drop = st->n_ctx_ids;
	if (drop == 0)
		return 0;
	memmove(st->ctx_ids, st->ctx_ids + drop,
	    (st->n_ctx_ids - drop) * sizeof *st->ctx_ids);
	st->n_ctx_ids -= drop;
	return drop;
}

/* Copy the logits of the next token and the tokens before it. */
static void
cmd_cache_logits(struct repl *st)
{
	const float	*l;
	const int32_t	*p, *o;
	size_t		 n_p = 0, n_o = 0, w, k = 0;

	if (!st->want_logits || st->sess == NULL || st->n_vocab <= 0 ||
	    (l = gen_next_logits(st->sess, 0)) == NULL)
		return;
	if (st->logits == NULL)
		st->logits = xcalloc((size_t)st->n_vocab, sizeof *st->logits);
	memcpy(st->logits, l, (size_t)st->n_vocab * sizeof *l);
	st->have_logits = 1;
	p = gen_prompt_ids(st->sess, 0, &n_p);
	o = gen_output_ids(st->sess, 0, &n_o);
	w = (size_t)(st->gen.sp.repeat_window > 0 ?
	    st->gen.sp.repeat_window : 0);
	if (w > n_p + n_o)
		w = n_p + n_o;
	if (w > st->recent_cap) {
		st->recent_cap = w;
		st->recent_own = xreallocarray(st->recent_own, w,
		    sizeof *st->recent_own);
	}
	for (size_t i = n_p + n_o - w; i < n_p + n_o; i++)
		st->recent_own[k++] = i < n_p ? p[i] : o[i - n_p];
	st->recent = st->recent_own;
	st->n_recent = k;
}

/* The ids and settings of the turn /replay loaded. */
static int
cmd_replay_ids(struct repl *st, struct gen_settings *gs, struct err *err)
{
	struct history_turn *t = st->replay;

	*gs = t->settings;
	gs->n_stop = 0;
	for (int i = 0; i < GEN_MAX_STOP; i++)
		if (t->stop_strings[i] != NULL)
			gs->stop[gs->n_stop++] = t->stop_strings[i];
	if (t->n_prompt > 0) {
		st->turn_new_ids = xreallocarray(NULL, t->n_prompt,
		    sizeof *st->turn_new_ids);
		memcpy(st->turn_new_ids, t->prompt_ids,
		    t->n_prompt * sizeof *t->prompt_ids);
		st->n_turn_new = t->n_prompt;
	} else if (bpe_encode(st->bpe, t->prompt, strlen(t->prompt),
	    BPE_UTF8_REPLACE, &st->turn_new_ids, &st->n_turn_new, err) != 0)
		return -1;
	st->turn_prompt = xstrdup(t->prompt != NULL ? t->prompt : "");
	st->replay_change = 0;
	return 0;
}

/* The ids and settings of a turn the user typed. */
static int
cmd_prompt_ids(struct repl *st, const char *prompt, struct gen_settings *gs,
    struct buf *note, struct err *err)
{
	size_t drop, bad;

	/* the same policy as lmsh generate and tokenize: refuse, naming the
	 * byte, unless --replace-invalid asked for U+FFFD */
	if (!st->replace_invalid &&
	    !utf8_is_valid(prompt, strlen(prompt), &bad)) {
		err_set(err, "prompt: invalid UTF-8 at byte %zu "
		    "(--replace-invalid turns such bytes into U+FFFD)", bad);
		return -1;
	}
	if (bpe_encode(st->bpe, prompt, strlen(prompt), BPE_UTF8_REPLACE,
	    &st->turn_new_ids, &st->n_turn_new, err) != 0)
		return -1;
	if (st->mode == CMD_MODE_FRESH)
		cmd_clear(st);
	if (st->n_turn_new == 0 && st->n_ctx_ids == 0) {
		err_set(err, "nothing to continue: type a prompt");
		return -1;
	}
	if ((drop = cmd_fit_context(st, st->n_turn_new)) > 0)
		buf_printf(note, "context full: dropped the oldest %zu "
		    "token%s\n", drop, drop == 1 ? "" : "s");
	*gs = st->gen;
	if (!st->seed_fixed)
		gs->seed = cmd_random_seed();
	st->turn_prompt = xstrdup(prompt);
	return 0;
}

/*
 * Free the running turn's session and buffers without recording it.
 */
void
cmd_turn_reset(struct repl *st)
{
	gen_free(st->sess);
	st->sess = NULL;
	free(st->turn_prompt);
	st->turn_prompt = NULL;
	free(st->turn_new_ids);
	st->turn_new_ids = NULL;
	st->n_turn_new = 0;
	cmd_replay_free(st);
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
	size_t			 n;
	double			 s;
	int			 rc = -1;

	if (st->engine == NULL || st->bpe == NULL) {
		err_set(err, "no model loaded");
		goto out;
	}
	if ((prompt == NULL ? cmd_replay_ids(st, &gs, err) :
	    cmd_prompt_ids(st, prompt, &gs, note, err)) != 0)
		goto out;
	n = (prompt != NULL ? st->n_ctx_ids : 0) + st->n_turn_new;
	ids = xreallocarray(NULL, n ? n : 1, sizeof *ids);
	if (prompt != NULL && st->n_ctx_ids > 0)
		memcpy(ids, st->ctx_ids, st->n_ctx_ids * sizeof *ids);
	if (st->n_turn_new > 0)
		memcpy(ids + n - st->n_turn_new, st->turn_new_ids,
		    st->n_turn_new * sizeof *ids);
	if ((st->sess = gen_new(st->engine, &gs, err)) == NULL ||
	    gen_add_prompt(st->sess, ids, n, 1, err) != 0 ||
	    gen_start(st->sess, err) != 0)
		goto out;
	st->turn_seed = gs.seed;
	st->turn_step = 0;
	st->n_generated = 0;
	st->decode_tps = 0;
	s = gen_prefill_seconds(st->sess);
	st->prefill_tps = s > 0 ? st->n_turn_new / s : 0;
	st->ctx_used = gen_context_used(st->sess, 0);
	st->turn_t0 = util_now();
	cmd_cache_logits(st);
	rc = 0;
out:
	free(ids);
	if (rc != 0)
		cmd_turn_reset(st);
	return rc;
}

/* Apply the replayed turn's live changes that start at this step. */
static int
cmd_replay_changes(struct repl *st, struct err *err)
{
	struct history_turn	*t = st->replay;
	struct sampler_params	 sp;
	int			 any = 0;

	if (t == NULL)
		return 0;
	sp = *gen_params(st->sess);
	while (st->replay_change < t->n_changes &&
	    t->changes[st->replay_change].step <= st->turn_step) {
		const struct gen_change *c = &t->changes[st->replay_change++];

		any = 1;
		if (strcmp(c->name, "temperature") == 0)
			sp.temperature = (float)c->value;
		else if (strcmp(c->name, "top_p") == 0)
			sp.top_p = (float)c->value;
		else if (strcmp(c->name, "top_k") == 0)
			sp.top_k = (int)c->value;
		else if (strcmp(c->name, "min_p") == 0)
			sp.min_p = (float)c->value;
		else if (strcmp(c->name, "repeat_penalty") == 0)
			sp.repeat_penalty = (float)c->value;
		else if (strcmp(c->name, "repeat_window") == 0)
			sp.repeat_window = (int)c->value;
	}
	return any ? gen_set_params(st->sess, &sp, err) : 0;
}

struct cmd_tramp {
	struct repl	*st;
	gen_token_fn	*fn;
	void		*arg;
};

static void
cmd_tramp_fn(void *arg, const struct gen_token *tok)
{
	struct cmd_tramp *t = arg;

	t->fn(t->arg, tok);
}

/*
 * Sample one token of the running turn; fn gets it (piece borrowed for the
 * call).  Returns 1 while the turn runs, 0 when it has stopped, -1 on an
 * error.  The figures of the status line are updated.
 */
int
cmd_turn_step(struct repl *st, gen_token_fn *fn, void *arg, struct err *err)
{
	struct cmd_tramp	 t = { st, fn, arg };
	double			 s;
	size_t			 n = 0;
	int			 rc;

	if (cmd_replay_changes(st, err) != 0)
		return -1;
	if (st->step_delay_ms > 0) {
		struct timespec ts = { st->step_delay_ms / 1000,
		    (st->step_delay_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	rc = gen_step(st->sess, cmd_tramp_fn, &t, err);
	gen_output_ids(st->sess, 0, &n);
	st->n_generated = (int)n;
	st->turn_step = st->n_generated;
	s = gen_decode_seconds(st->sess);
	st->decode_tps = s > 0 ? st->n_generated / s : 0;
	st->ctx_used = gen_context_used(st->sess, 0);
	if (rc == 1)
		cmd_cache_logits(st);
	return rc;
}

/* Ctrl-C: the turn stops before its next token and is kept. */
void
cmd_turn_interrupt(struct repl *st)
{
	if (st->sess != NULL)
		gen_interrupt(st->sess);
}

static void
cmd_record(struct repl *st, struct buf *note)
{
	struct history_turn	t;
	struct err		err;

	if (st->hist == NULL)
		return;
	memset(&t, 0, sizeof t);
	history_turn_from_gen(&t, st->sess, 0, st->turn_prompt);
	t.session_id = st->session_id;
	t.replay_of = st->replay != NULL ? st->replay->id : 0;
	if (history_record_turn(st->hist, &t, &err) != 0)
		buf_printf(note, "history: %s\n", err.msg);
	history_turn_fini(&t);
}

/* Compare a replay with the turn it replays, token by token. */
static void
cmd_replay_check(struct repl *st, struct buf *note)
{
	const struct history_turn	*t = st->replay;
	const int32_t			*o;
	size_t				 n, i;

	o = gen_output_ids(st->sess, 0, &n);
	for (i = 0; i < n && i < t->n_output; i++)
		if (o[i] != t->output_ids[i])
			break;
	if (i == n && n == t->n_output)
		buf_printf(note, "replay of turn %" PRId64 ": identical "
		    "(%zu tokens)\n", t->id, n);
	else
		buf_printf(note, "replay of turn %" PRId64 ": differs from "
		    "token %zu on (%zu tokens now, %zu recorded)\n", t->id, i,
		    n, t->n_output);
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
	size_t		 n_p = 0, n_o = 0;
	enum gen_stop	 why;

	if (st->sess == NULL)
		return 0;
	why = gen_stop_reason(st->sess, 0);
	cmd_record(st, note);
	if (st->replay != NULL)
		cmd_replay_check(st, note);
	st->n_ctx_ids = 0;
	if (st->mode == CMD_MODE_CONTINUE) {
		p = gen_prompt_ids(st->sess, 0, &n_p);
		o = gen_output_ids(st->sess, 0, &n_o);
		cmd_ctx_append(st, p, n_p);
		cmd_ctx_append(st, o, n_o);
	}
	if (why == GEN_STOP_CONTEXT)
		buf_printf(note, "the context is full (%d tokens): the next "
		    "prompt drops the oldest text\n", st->n_ctx);
	else if (why == GEN_STOP_ERROR)
		err_set(err, "the model failed; the reply was kept");
	cmd_turn_reset(st);
	return why == GEN_STOP_ERROR ? -1 : 0;
}

/*
 * The candidate panel's rows: the top n candidates of the cached logits
 * under the settings in effect now, so a change of temperature or top-p
 * shows without a forward pass.  Returns how many rows were filled.
 */
size_t
cmd_candidates(struct repl *st, struct sampler_cand *out, size_t n)
{
	if (!st->have_logits || st->logits == NULL)
		return 0;
	if (st->sampler == NULL && (st->sampler = sampler_new(st->n_vocab)) ==
	    NULL)
		return 0;
	return sampler_candidates(st->sampler, &st->gen.sp, st->logits,
	    st->recent, st->n_recent, out, n);
}

/*
 * Hand the last n prompts of the history, oldest first, to fn.  Returns 0
 * (also when history is off), or -1 with err set.
 */
int
cmd_history_prompts(struct repl *st, int n, void (*fn)(void *, const char *),
    void *arg, struct err *err)
{
	if (st->hist == NULL)
		return 0;
	return history_prompts(st->hist, n, fn, arg, err);
}

