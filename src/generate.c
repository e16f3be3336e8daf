/*
 * generate.c: a generation session: prompts -> prefill -> one sampled token
 * per running sequence per step -> stop rules.
 *
 * The engine owns the model's KV cache and remembers, for each cache slot,
 * the tokens whose keys and values the slot holds.  A session's sequence i
 * uses slot i; when its prompt shares a prefix with what the slot holds,
 * the slot is cut back to that prefix and only the rest is prefilled (the
 * REPL's continue mode sends the whole conversation each turn).
 *
 * A sequence keeps its context (prompt then output ids) in one array, so
 * the penalty window and the prompt/output views are slices of it.  Text
 * goes through the tokenizer's streaming decoder (whole UTF-8 characters)
 * and then through a hold-back buffer: the longest tail that could still
 * become a stop string is kept until it can be decided, so a stop string is
 * never emitted.  Each step samples every running sequence (sequence i
 * draws from RNG stream i of the seed, so its tokens do not depend on the
 * batch), then feeds the sampled tokens of those still running to the model
 * in one batched decode.  A sampled token is only decoded if generation
 * goes on, so the context may fill up to n_ctx + 1 tokens, as with the
 * reference loop that runs the model on at most context_length tokens.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpe.h"
#include "generate.h"
#include "model.h"
#include "sampler.h"
#include "util.h"

/* What a cache slot holds. */
struct gen_cached {
	int32_t		*ids;		/* tokens whose K/V are in the slot */
	size_t		 n;		/* how many */
	size_t		 cap;		/* allocated */
};

struct gen_engine {
	struct lm_model		*model;		/* borrowed */
	const struct bpe	*bpe;		/* borrowed; may be NULL */
	struct lm_cache		*cache;		/* n_slots slots of n_ctx */
	int			 n_slots;	/* cache slots */
	int			 n_ctx;		/* positions per slot */
	int			 n_vocab;	/* logits per token */
	struct gen_cached	*cached;	/* [n_slots] */
	long			 test_delay_ms;	/* $LMSH_TEST_STEP_MS: a pause
						   after each step, so tests
						   can act mid-reply */
};

struct gen_prompt {
	int32_t		*ids;		/* owned copy */
	size_t		 n;		/* tokens */
	int		 n_samples;	/* sequences drawn from it */
};

struct gen_seq {
	int32_t			*ctx;		/* prompt then output ids */
	float			*probs;		/* per output id: its final
						   sampling probability */
	size_t			 n_tok;		/* tokens in ctx */
	size_t			 n_prompt;	/* prompt part of ctx */
	struct buf		 text;		/* emitted text */
	struct buf		 hold;		/* text held back (stop prefix) */
	struct bpe_stream	*stream;	/* streaming decoder or NULL */
	struct lm_rng		 rng;		/* stream seq of the seed */
	enum gen_stop		 stop;		/* GEN_RUNNING or why it ended */
	int			 row;		/* row of its logits, or -1 */
};

struct gen_session {
	struct gen_engine	*eng;		/* borrowed */
	struct gen_settings	 set;		/* stop[] points into stop_copy */
	char			*stop_copy[GEN_MAX_STOP]; /* owned */
	struct sampler_params	 sp;		/* current knobs */
	struct gen_change	*changes;	/* log of live changes */
	size_t			 n_changes;
	size_t			 changes_cap;
	struct gen_prompt	*prompts;	/* [n_prompts] */
	int			 n_prompts;
	struct gen_seq		*seqs;		/* [n_seqs] after gen_start */
	int			 n_seqs;
	struct sampler		**samplers;	/* [n_samplers], one per thread */
	int			 n_samplers;
	int32_t			*pick;		/* [n_seqs] sampled this step */
	float			*pick_p;	/* [n_seqs] its probability */
	int			*run;		/* [n_run] running sequences */
	int			 n_run;
	float			*logits;	/* [n_seqs][n_vocab] */
	int			*b_slot;	/* [n_seqs] batch: cache slots */
	int32_t			*b_tok;		/* [n_seqs] batch: tokens */
	int			*b_seq;		/* [n_seqs] batch: sequences */
	struct buf		 piece;		/* text of the current event */
	int			 step;		/* index of the next token */
	int32_t			 forced;	/* next token of every running
						   sequence, or -1: sample */
	int			 started;	/* gen_start() done */
	volatile sig_atomic_t	 interrupted;	/* set by gen_interrupt() */
	size_t			 n_prefilled;	/* prompt tokens actually run */
	double			 prefill_s;	/* seconds in prefill */
	double			 decode_s;	/* seconds sampling and decoding */
};

/* ---- engine ---------------------------------------------------------------- */

static int
gen_engine_alloc_cache(struct gen_engine *e, int n_slots, struct err *err)
{
	struct lm_cache *c;

	if ((c = model_cache_new(e->model, n_slots, 0, err)) == NULL)
		return -1;
	model_cache_free(e->cache);
	for (int i = 0; i < e->n_slots; i++)
		free(e->cached[i].ids);
	free(e->cached);
	e->cache = c;
	e->n_slots = n_slots;
	e->n_ctx = model_cache_ctx(c);
	e->cached = xcalloc((size_t)n_slots, sizeof *e->cached);
	return 0;
}

/*
 * An engine for model (and tokenizer bpe, which may be NULL when only ids
 * are wanted) with a KV cache of max_seqs slots; it grows when a session
 * needs more.  Both are borrowed and must outlive the engine.  NULL with err
 * set if the cache cannot be allocated.  Free with gen_engine_free().
 */
struct gen_engine *
gen_engine_new(struct lm_model *model, const struct bpe *bpe, int max_seqs,
    struct err *err)
{
	struct gen_engine	*e = xcalloc(1, sizeof *e);
	const char		*env;

	e->model = model;
	e->bpe = bpe;
	e->n_vocab = model_config(model)->vocab_size;
	/* the one test hook: every front end steps through gen_step */
	if ((env = getenv("LMSH_TEST_STEP_MS")) != NULL)
		e->test_delay_ms = atol(env) > 0 ? atol(env) % 10000 : 0;
	if (gen_engine_alloc_cache(e, max_seqs < 1 ? 1 : max_seqs, err) != 0) {
		free(e);
		return NULL;
	}
	return e;
}

/* Free the engine and its cache (not the model or tokenizer); NULL is ok. */
void
gen_engine_free(struct gen_engine *e)
{
	if (e == NULL)
		return;
	for (int i = 0; i < e->n_slots; i++)
		free(e->cached[i].ids);
	free(e->cached);
	model_cache_free(e->cache);
	free(e);
}

/* The engine's model (borrowed). */
struct lm_model *
gen_engine_model(struct gen_engine *e)
{
	return e->model;
}

/* The engine's tokenizer (borrowed; NULL if it has none). */
const struct bpe *
gen_engine_bpe(struct gen_engine *e)
{
	return e->bpe;
}

/* Forget what every cache slot holds, so the next prompt is prefilled whole. */
void
gen_engine_forget(struct gen_engine *e)
{
	for (int i = 0; i < e->n_slots; i++) {
		model_cache_reset(e->cache, i);
		e->cached[i].n = 0;
	}
}

static void
gen_cached_push(struct gen_cached *c, const int32_t *ids, size_t n)
{
	if (c->n + n > c->cap) {
		c->cap = c->n + n + 64;
		c->ids = xreallocarray(c->ids, c->cap, sizeof *c->ids);
	}
	memcpy(c->ids + c->n, ids, n * sizeof *ids);
	c->n += n;
}

/*
 * Prefill slot with prompt, reusing the longest prefix the slot already
 * holds (at least the last token is run, for its logits).
 */
static int
gen_engine_prefill(struct gen_engine *e, int slot, const int32_t *ids,
    size_t n, float *logits, size_t *n_run, struct err *err)
{
	struct gen_cached	*c = &e->cached[slot];
	size_t			 k = 0;

	while (k < c->n && k < n && c->ids[k] == ids[k])
		k++;
	if (k == n)
		k--;
	if ((int)c->n != model_cache_pos(e->cache, slot))
		k = 0;	/* out of step with the cache: start over */
	model_cache_truncate(e->cache, slot, (int)k);
	if (k == 0)
		model_cache_reset(e->cache, slot);
	c->n = k;
	if (model_prefill(e->model, e->cache, slot, ids + k, n - k, logits, 0,
	    err) != 0) {
		model_cache_reset(e->cache, slot);
		c->n = 0;
		return -1;
	}
	gen_cached_push(c, ids + k, n - k);
	*n_run += n - k;
	return 0;
}

/*
 * Give sequence i the prefill of an earlier sequence of the session with
 * the same prompt (the samples of one prompt): its keys, values and first
 * logits are copied rather than recomputed, which is bitwise the same.
 * 0 when shared, -1 when there is none to share.
 */
static int
gen_engine_share(struct gen_session *s, int i, float *row)
{
	struct gen_engine	*e = s->eng;
	struct gen_seq		*q = &s->seqs[i];
	size_t			 nv = (size_t)e->n_vocab;

	for (int j = 0; j < i; j++) {
		struct gen_seq *o = &s->seqs[j];

		if (o->row != j || o->n_prompt != q->n_prompt ||
		    memcmp(o->ctx, q->ctx, q->n_prompt * sizeof *q->ctx) != 0)
			continue;
		if (model_cache_copy(e->cache, i, j, (int)q->n_prompt) != 0)
			return -1;
		e->cached[i].n = 0;
		gen_cached_push(&e->cached[i], q->ctx, q->n_prompt);
		memcpy(row, s->logits + (size_t)j * nv, nv * sizeof *row);
		q->row = i;
		return 0;
	}
	return -1;
}

/* ---- session set-up ---------------------------------------------------------- */

/*
 * A session on engine e with settings gs (copied, stop strings included).
 * NULL with err set for bad sampling knobs, a bad EOS id, or stop strings
 * without a tokenizer.  Free with gen_free().
 */
struct gen_session *
gen_new(struct gen_engine *e, const struct gen_settings *gs, struct err *err)
{
	struct gen_session *s;

	if (sampler_params_check(&gs->sp, err) != 0)
		return NULL;
	if (gs->eos_id >= e->n_vocab || gs->eos_id < -1) {
		err_set(err, "eos token id %d: outside the vocabulary (0 to %d)",
		    gs->eos_id, e->n_vocab - 1);
		return NULL;
	}
	if (gs->n_stop < 0 || gs->n_stop > GEN_MAX_STOP) {
		err_set(err, "%d stop strings: at most %d", gs->n_stop,
		    GEN_MAX_STOP);
		return NULL;
	}
	if (gs->n_stop > 0 && e->bpe == NULL) {
		err_set(err, "stop strings need a tokenizer");
		return NULL;
	}
	if (gs->max_new_tokens < 0) {
		err_set(err, "max_new_tokens %d: must be >= 0",
		    gs->max_new_tokens);
		return NULL;
	}
	s = xcalloc(1, sizeof *s);
	s->eng = e;
	s->forced = -1;
	s->set = *gs;
	for (int i = 0; i < gs->n_stop; i++) {
		if (gs->stop[i] == NULL || gs->stop[i][0] == '\0') {
			err_set(err, "stop string %d is empty", i + 1);
			gen_free(s);
			return NULL;
		}
		s->stop_copy[i] = xstrdup(gs->stop[i]);
		s->set.stop[i] = s->stop_copy[i];
	}
	for (int i = gs->n_stop; i < GEN_MAX_STOP; i++)
		s->set.stop[i] = NULL;
	s->sp = gs->sp;
	buf_init(&s->piece);
	return s;
}

/*
 * Add a prompt of n token ids, to be sampled n_samples times (copied).
 * Errors: after gen_start(), an empty prompt, ids outside the vocabulary.
 */
int
gen_add_prompt(struct gen_session *s, const int32_t *ids, size_t n,
    int n_samples, struct err *err)
{
	struct gen_prompt *p;

	if (s->started) {
		err_set(err, "prompts must be added before the session starts");
		return -1;
	}
	if (n == 0) {
		err_set(err, "empty prompt: give at least one token");
		return -1;
	}
	if (n_samples < 1 || n_samples > 65536 ||
	    s->n_seqs + n_samples > 65536) {
		err_set(err, "%d samples: out of range", n_samples);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= s->eng->n_vocab) {
			err_set(err, "prompt token %d (at %zu): outside the "
			    "vocabulary (0 to %d)", ids[i], i,
			    s->eng->n_vocab - 1);
			return -1;
		}
	s->prompts = xreallocarray(s->prompts, (size_t)s->n_prompts + 1,
	    sizeof *s->prompts);
	p = &s->prompts[s->n_prompts++];
	p->ids = xcalloc(n, sizeof *p->ids);
	memcpy(p->ids, ids, n * sizeof *ids);
	p->n = n;
	p->n_samples = n_samples;
	s->n_seqs += n_samples;
	return 0;
}

/* Lay out the sequences: prompt by prompt, sample by sample. */
static int
gen_make_seqs(struct gen_session *s, struct err *err)
{
	struct gen_engine	*e = s->eng;
	size_t			 nv = (size_t)e->n_vocab, bytes;
	int			 k = 0;

	if (util_mul_size((size_t)s->n_seqs, nv * sizeof(float), &bytes) != 0 ||
	    (s->logits = malloc(bytes)) == NULL) {
		err_set(err, "logits for %d sequences: out of memory",
		    s->n_seqs);
		return -1;
	}
	s->seqs = xcalloc((size_t)s->n_seqs, sizeof *s->seqs);
	s->b_slot = xcalloc((size_t)s->n_seqs, sizeof *s->b_slot);
	s->b_tok = xcalloc((size_t)s->n_seqs, sizeof *s->b_tok);
	s->b_seq = xcalloc((size_t)s->n_seqs, sizeof *s->b_seq);
	s->pick = xcalloc((size_t)s->n_seqs, sizeof *s->pick);
	s->pick_p = xcalloc((size_t)s->n_seqs, sizeof *s->pick_p);
	s->run = xcalloc((size_t)s->n_seqs, sizeof *s->run);
	for (int p = 0; p < s->n_prompts; p++) {
		const struct gen_prompt *pr = &s->prompts[p];

		for (int j = 0; j < pr->n_samples; j++, k++) {
			struct gen_seq *q = &s->seqs[k];
			size_t cap = pr->n + (size_t)s->set.max_new_tokens;

			q->ctx = xcalloc(cap, sizeof *q->ctx);
			q->probs = xcalloc(cap + 1, sizeof *q->probs);
			memcpy(q->ctx, pr->ids, pr->n * sizeof *pr->ids);
			q->n_tok = q->n_prompt = pr->n;
			buf_init(&q->text);
			buf_init(&q->hold);
			if (e->bpe != NULL)
				q->stream = bpe_stream_new(e->bpe,
				    BPE_UTF8_REPLACE);
			rng_seed(&q->rng, s->set.seed, (uint64_t)k);
			q->row = -1;
		}
	}
	return 0;
}

/*
 * Prefill every sequence's prompt.  A prompt longer than the context is an
 * error that says by how many tokens; a sequence that cannot produce any
 * token (max_new_tokens 0) stops at once.  Returns 0, or -1 with err set.
 */
int
gen_start(struct gen_session *s, struct err *err)
{
	struct gen_engine	*e = s->eng;
	double			 t0;

	if (s->started) {
		err_set(err, "session already started");
		return -1;
	}
	if (s->n_seqs == 0) {
		err_set(err, "no prompt to generate from");
		return -1;
	}
	for (int p = 0; p < s->n_prompts; p++)
		if (s->prompts[p].n > (size_t)e->n_ctx) {
			err_set(err, "prompt is %zu tokens, %zu more than the "
			    "context length %d", s->prompts[p].n,
			    s->prompts[p].n - (size_t)e->n_ctx, e->n_ctx);
			return -1;
		}
	/* sequences are sampled in parallel, each with its own RNG, so the
	 * thread count cannot change a token */
	s->n_samplers = model_threads(e->model);
	if (s->n_samplers > s->n_seqs)
		s->n_samplers = s->n_seqs;
	if (s->n_samplers < 1)
		s->n_samplers = 1;
	s->samplers = xcalloc((size_t)s->n_samplers, sizeof *s->samplers);
	for (int i = 0; i < s->n_samplers; i++)
		if ((s->samplers[i] = sampler_new(e->n_vocab)) == NULL) {
			err_set(err, "sampler for %d tokens: out of memory",
			    e->n_vocab);
			return -1;
		}
	/* each pick stays on one thread: measured next to the model's
	 * decode threads, splitting one pick over several was slower */
	if (s->n_seqs > e->n_slots &&
	    gen_engine_alloc_cache(e, s->n_seqs, err) != 0)
		return -1;
	if (gen_make_seqs(s, err) != 0)
		return -1;
	s->started = 1;
	t0 = util_now();
	for (int i = 0; i < s->n_seqs; i++) {
		struct gen_seq *q = &s->seqs[i];
		float *row = s->logits + (size_t)i * (size_t)e->n_vocab;

		if (s->set.max_new_tokens == 0) {
			q->stop = GEN_STOP_MAX;
			continue;
		}
		if (gen_engine_share(s, i, row) == 0)
			continue;
		if (gen_engine_prefill(e, i, q->ctx, q->n_prompt, row,
		    &s->n_prefilled, err) != 0) {
			for (int j = i; j < s->n_seqs; j++)
				s->seqs[j].stop = GEN_STOP_ERROR;
			s->prefill_s += util_now() - t0;
			return -1;
		}
		q->row = i;
	}
	s->prefill_s += util_now() - t0;
	return 0;
}

/* ---- settings ----------------------------------------------------------------- */

static void
gen_log_change(struct gen_session *s, const char *name, double value)
{
	struct gen_change *c;

	/* a second change of the same knob before the same token replaces
	 * the first: replay then ends with the same value */
	for (size_t i = s->n_changes; i-- > 0;) {
		c = &s->changes[i];
		if (c->step != s->step)
			break;
		if (strcmp(c->name, name) == 0) {
			c->value = value;
			return;
		}
	}
	if (s->n_changes == s->changes_cap) {
		s->changes_cap = s->changes_cap ? 2 * s->changes_cap : 8;
		s->changes = xreallocarray(s->changes, s->changes_cap,
		    sizeof *s->changes);
	}
	c = &s->changes[s->n_changes++];
	memset(c, 0, sizeof *c);
	c->step = s->step;
	snprintf(c->name, sizeof c->name, "%s", name);
	c->value = value;
}

/*
 * Replace the sampling knobs from the next token on.  Every knob that
 * differs is logged as a gen_change at the current step.  Invalid values
 * are refused and nothing changes.
 */
int
gen_set_params(struct gen_session *s, const struct sampler_params *p,
    struct err *err)
{
	struct sampler_params *o = &s->sp;

	if (sampler_params_check(p, err) != 0)
		return -1;
	for (size_t i = 0; i < sampler_n_settings; i++) {
		const struct sampler_setting	*row = &sampler_settings[i];
		double				 v = sampler_setting_get(p, row);

		if (v != sampler_setting_get(o, row))
			gen_log_change(s, row->name, v);
	}
	*o = *p;
	return 0;
}

/*
 * Ask the session to stop: the next gen_step() ends every running sequence
 * with GEN_STOP_INTERRUPTED.  Only sets a flag, so a signal handler may
 * call it.
 */
void
gen_interrupt(struct gen_session *s)
{
	s->interrupted = 1;
}

/* ---- stepping --------------------------------------------------------------- */

/* Where the earliest stop string starts in text, or -1. */
static long
gen_find_stop(const struct gen_session *s, const char *text, size_t len)
{
	long best = -1;

	for (int i = 0; i < s->set.n_stop; i++) {
		const char	*st = s->set.stop[i];
		const char	*hit = memmem(text, len, st, strlen(st));

		if (hit != NULL && (best < 0 || hit - text < best))
			best = hit - text;
	}
	return best;
}

/* Length of the longest tail of text that begins some stop string. */
static size_t
gen_stop_tail(const struct gen_session *s, const char *text, size_t len)
{
	size_t best = 0;

	for (int i = 0; i < s->set.n_stop; i++) {
		const char	*st = s->set.stop[i];
		size_t		 sl = strlen(st);

		for (size_t k = sl - 1 < len ? sl - 1 : len; k > best; k--)
			if (memcmp(text + len - k, st, k) == 0) {
				best = k;
				break;
			}
	}
	return best;
}

/* Move n bytes from the front of q's hold into its text and the piece. */
static void
gen_emit(struct gen_session *s, struct gen_seq *q, size_t n)
{
	buf_append(&q->text, q->hold.data, n);
	buf_append(&s->piece, q->hold.data, n);
	memmove(q->hold.data, q->hold.data + n, q->hold.len - n + 1);
	q->hold.len -= n;
}

/*
 * Run new text through the stop strings.  Returns 1 if a stop string
 * appeared (text before it emitted, the rest dropped).
 */
static int
gen_text(struct gen_session *s, struct gen_seq *q, const char *t, size_t len)
{
	long at;

	buf_append(&q->hold, t, len);
	if (q->hold.len == 0)
		return 0;
	if ((at = gen_find_stop(s, q->hold.data, q->hold.len)) >= 0) {
		gen_emit(s, q, (size_t)at);
		q->hold.len = 0;
		return 1;
	}
	gen_emit(s, q, q->hold.len - gen_stop_tail(s, q->hold.data,
	    q->hold.len));
	return 0;
}

/* The sequence ends: whatever the decoder and the hold-back keep goes out. */
static void
gen_flush(struct gen_session *s, struct gen_seq *q)
{
	const char	*p;
	size_t		 n;
	struct err	 err;

	if (q->stream != NULL && bpe_stream_flush(q->stream, &p, &n, &err) == 0)
		buf_append(&q->hold, p, n);
	if (q->hold.len > 0)
		gen_emit(s, q, q->hold.len);
}

/* Append the sampled id and work out its text and whether q stops. */
static void
gen_take(struct gen_session *s, struct gen_seq *q, int32_t id)
{
	const char	*p = NULL;
	size_t		 n = 0;
	struct err	 err;

	q->probs[q->n_tok - q->n_prompt] = s->pick_p[q - s->seqs];
	q->ctx[q->n_tok++] = id;
	if (id == s->set.eos_id) {
		q->stop = GEN_STOP_EOS;
		gen_flush(s, q);
		return;
	}
	/* ids the tokenizer does not know (a padded vocabulary) add no text */
	if (q->stream != NULL && bpe_stream_push(q->stream, id, &p, &n,
	    &err) != 0)
		n = 0;
	if (gen_text(s, q, p, n)) {
		q->stop = GEN_STOP_STRING;
		return;
	}
	if (q->n_tok - q->n_prompt >= (size_t)s->set.max_new_tokens)
		q->stop = GEN_STOP_MAX;
	else if (q->n_tok > (size_t)s->eng->n_ctx)
		q->stop = GEN_STOP_CONTEXT;
	if (q->stop != GEN_RUNNING)
		gen_flush(s, q);
}

static void
gen_event(struct gen_session *s, int i, int32_t id, float prob,
    gen_token_fn *fn, void *arg)
{
	struct gen_token t;

	if (fn == NULL)
		return;
	t.seq = i;
	t.step = s->step;
	t.id = id;
	t.prob = prob;
	t.piece = s->piece.data != NULL ? s->piece.data : "";
	t.piece_len = s->piece.len;
	t.stop = s->seqs[i].stop;
	fn(arg, &t);
}

/* Every running sequence ends with why; fn hears of each (id -1). */
static void
gen_stop_all(struct gen_session *s, enum gen_stop why, gen_token_fn *fn,
    void *arg)
{
	for (int i = 0; i < s->n_seqs; i++) {
		struct gen_seq *q = &s->seqs[i];

		if (q->stop != GEN_RUNNING)
			continue;
		s->piece.len = 0;
		q->stop = why;
		q->row = -1;
		gen_flush(s, q);
		gen_event(s, i, -1, 0, fn, arg);
	}
}

/* The probability the settings in force give the forced token: what
 * sampler_pick would have reported had it drawn it (0 when a filter cuts
 * it).  It draws nothing from the sequence's RNG. */
static float
gen_forced_prob(struct gen_session *s, struct sampler *sm, struct gen_seq *q)
{
	size_t			 nv = (size_t)s->eng->n_vocab;
	struct sampler_cand	*c = xcalloc(nv, sizeof *c);
	size_t			 n;
	float			 p = 0;

	s->pick[q - s->seqs] = s->forced;
	n = sampler_candidates(sm, &s->sp, s->logits + (size_t)q->row * nv,
	    q->ctx, q->n_tok, c, nv);
	for (size_t i = 0; i < n; i++)
		if (c[i].id == s->forced)
			p = c[i].p_final;
	free(c);
	return p;
}

/*
 * Force the next token of every running sequence to id instead of
 * sampling it (a branch that picks another candidate).  It draws nothing
 * from the RNG, so the tokens after it are sampled as after any other
 * token; its recorded probability is the one the settings in force give
 * it.  -1 for an id outside the vocabulary.
 */
int
gen_force(struct gen_session *s, int32_t id, struct err *err)
{
	if (id < 0 || id >= s->eng->n_vocab) {
		err_set(err, "token %ld: not in the vocabulary (0 to %d)",
		    (long)id, s->eng->n_vocab - 1);
		return -1;
	}
	s->forced = id;
	return 0;
}

/* Sample the next token of every running sequence, threads sharing them. */
static void
gen_sample(struct gen_session *s)
{
	size_t nv = (size_t)s->eng->n_vocab;

	s->n_run = 0;
	for (int i = 0; i < s->n_seqs; i++)
		if (s->seqs[i].stop == GEN_RUNNING)
			s->run[s->n_run++] = i;
#ifdef _OPENMP
#pragma omp parallel for num_threads(s->n_samplers) schedule(static) \
    if (s->n_run > 1 && s->n_samplers > 1)
#endif
	for (int j = 0; j < s->n_run; j++) {
		struct gen_seq	*q = &s->seqs[s->run[j]];
		int		 t = util_thread();

		if (s->forced >= 0)
			s->pick_p[s->run[j]] = gen_forced_prob(s,
			    s->samplers[t], q);
		else
			s->pick[s->run[j]] = sampler_pick(s->samplers[t],
			    &s->sp, s->logits + (size_t)q->row * nv, q->ctx,
			    q->n_tok, &q->rng, &s->pick_p[s->run[j]]);
	}
	s->forced = -1;
}

/*
 * One step: sample a token for every running sequence, call fn (may be
 * NULL) for each with the token, its probability and its text, then run
 * the sequences that go on through one batched decode.  A sequence that
 * ends gets stop != GEN_RUNNING in its last event; after gen_interrupt()
 * each running sequence gets a last event with id -1.  Returns 1 while any
 * sequence runs, 0 when all have stopped, -1 on a model error (err set;
 * the running sequences stop with GEN_STOP_ERROR).
 */
int
gen_step(struct gen_session *s, gen_token_fn *fn, void *arg, struct err *err)
{
	struct gen_engine	*e = s->eng;
	int			 nb = 0;
	double			 t0, spent = 0;

	if (!s->started) {
		err_set(err, "gen_step before gen_start");
		return -1;
	}
	if (s->interrupted) {
		gen_stop_all(s, GEN_STOP_INTERRUPTED, fn, arg);
		return 0;
	}
	t0 = util_now();
	gen_sample(s);
	spent += util_now() - t0;
	for (int j = 0; j < s->n_run; j++) {
		int		 i = s->run[j];
		struct gen_seq	*q = &s->seqs[i];
		int32_t		 id = s->pick[i];

		s->piece.len = 0;
		gen_take(s, q, id);
		if (q->stop == GEN_RUNNING) {
			s->b_slot[nb] = i;
			s->b_tok[nb] = id;
			s->b_seq[nb++] = i;
		} else
			q->row = -1;
		gen_event(s, i, id, s->pick_p[i], fn, arg);
	}
	s->step++;
	if (nb > 0) {
		t0 = util_now();
		if (model_decode(e->model, e->cache, s->b_slot, s->b_tok, nb,
		    s->logits, err) != 0) {
			for (int j = 0; j < nb; j++) {
				model_cache_reset(e->cache, s->b_slot[j]);
				e->cached[s->b_slot[j]].n = 0;
			}
			spent += util_now() - t0;
			s->decode_s += spent;
			gen_stop_all(s, GEN_STOP_ERROR, NULL, NULL);
			return -1;
		}
		spent += util_now() - t0;
		for (int j = 0; j < nb; j++) {
			s->seqs[s->b_seq[j]].row = j;
			gen_cached_push(&e->cached[s->b_slot[j]], &s->b_tok[j],
			    1);
		}
	}
	s->decode_s += spent;
	if (nb > 0 && e->test_delay_ms > 0) {
		struct timespec ts = { e->test_delay_ms / 1000,
		    (e->test_delay_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	return nb > 0;
}

/* Free the session; the engine keeps its cache.  NULL is fine. */
void
gen_free(struct gen_session *s)
{
	if (s == NULL)
		return;
	for (int i = 0; s->seqs != NULL && i < s->n_seqs; i++) {
		free(s->seqs[i].ctx);
		free(s->seqs[i].probs);
		buf_fini(&s->seqs[i].text);
		buf_fini(&s->seqs[i].hold);
		bpe_stream_free(s->seqs[i].stream);
	}
	free(s->seqs);
	for (int p = 0; p < s->n_prompts; p++)
		free(s->prompts[p].ids);
	free(s->prompts);
	for (int i = 0; i < GEN_MAX_STOP; i++)
		free(s->stop_copy[i]);
	free(s->changes);
	for (int i = 0; s->samplers != NULL && i < s->n_samplers; i++)
		sampler_free(s->samplers[i]);
	free(s->samplers);
	free(s->pick);
	free(s->pick_p);
	free(s->run);
	free(s->logits);
	free(s->b_slot);
	free(s->b_tok);
	free(s->b_seq);
	buf_fini(&s->piece);
	free(s);
}

/* ---- pacing ---------------------------------------------------------------- */

void
gen_pace_start(struct gen_pacer *p, double pace)
{
	p->pace = pace > 0 ? pace : 0;
	p->next = 0;
}

/* Seconds until the next step may run; 0 when it may now. */
double
gen_pace_due(const struct gen_pacer *p)
{
	double d;

	if (p->pace <= 0)
		return 0;
	d = p->next - util_now();
	return d > 0 ? d : 0;
}

/* A step was shown: the next one is due 1/pace later, counted from now
 * when the last was late (a pause, a slow step) so that nothing bursts. */
void
gen_pace_shown(struct gen_pacer *p)
{
	double now = util_now();

	if (p->pace <= 0)
		return;
	if (p->next < now)
		p->next = now;
	p->next += 1.0 / p->pace;
}

/* ---- results ---------------------------------------------------------------- */

/* Sequences in the session (prompts times their samples). */
int
gen_n_seqs(const struct gen_session *s)
{
	return s->n_seqs;
}

/* The settings the session started with (stop strings owned by it). */
const struct gen_settings *
gen_settings(const struct gen_session *s)
{
	return &s->set;
}

/* The sampling knobs in force now. */
const struct sampler_params *
gen_params(const struct gen_session *s)
{
	return &s->sp;
}

static const struct gen_seq *
gen_seq_at(const struct gen_session *s, int seq)
{
	return s->seqs != NULL && seq >= 0 && seq < s->n_seqs ?
	    &s->seqs[seq] : NULL;
}

/* Prompt ids of seq and their count; borrowed; NULL before gen_start(). */
const int32_t *
gen_prompt_ids(const struct gen_session *s, int seq, size_t *n)
{
	const struct gen_seq *q = gen_seq_at(s, seq);

	*n = q != NULL ? q->n_prompt : 0;
	return q != NULL ? q->ctx : NULL;
}

/* Generated ids of seq (EOS included if sampled); borrowed. */
const int32_t *
gen_output_ids(const struct gen_session *s, int seq, size_t *n)
{
	const struct gen_seq *q = gen_seq_at(s, seq);

	*n = q != NULL ? q->n_tok - q->n_prompt : 0;
	return q != NULL ? q->ctx + q->n_prompt : NULL;
}

/* The final sampling probability of each generated id of seq; borrowed. */
const float *
gen_output_probs(const struct gen_session *s, int seq, size_t *n)
{
	const struct gen_seq *q = gen_seq_at(s, seq);

	*n = q != NULL ? q->n_tok - q->n_prompt : 0;
	return q != NULL ? q->probs : NULL;
}

/* Text emitted for seq so far, NUL-terminated; borrowed until gen_free(). */
const char *
gen_output_text(const struct gen_session *s, int seq, size_t *n)
{
	const struct gen_seq *q = gen_seq_at(s, seq);

	if (q == NULL || q->text.data == NULL) {
		if (n != NULL)
			*n = 0;
		return "";
	}
	if (n != NULL)
		*n = q->text.len;
	return q->text.data;
}

/* Why seq ended, or GEN_RUNNING. */
enum gen_stop
gen_stop_reason(const struct gen_session *s, int seq)
{
	const struct gen_seq *q = gen_seq_at(s, seq);

	return q != NULL ? q->stop : GEN_RUNNING;
}

/* A stop reason as one word, as the CLI, JSON and history write it. */
const char *
gen_stop_name(enum gen_stop why)
{
	switch (why) {
	case GEN_RUNNING:		return "running";
	case GEN_STOP_EOS:		return "eos";
	case GEN_STOP_MAX:		return "max_tokens";
	case GEN_STOP_STRING:		return "stop";
	case GEN_STOP_CONTEXT:		return "context";
	case GEN_STOP_INTERRUPTED:	return "interrupted";
	case GEN_STOP_ERROR:		return "error";
	}
	return "unknown";
}

/* The live changes so far, in order; borrowed until the next change. */
const struct gen_change *
gen_changes(const struct gen_session *s, size_t *n)
{
	*n = s->n_changes;
	return s->changes;
}

/* Seconds spent prefilling prompts. */
double
gen_prefill_seconds(const struct gen_session *s)
{
	return s->prefill_s;
}

/* Prompt tokens gen_start() ran through the model (cached prefixes not
 * counted). */
size_t
gen_prefilled_tokens(const struct gen_session *s)
{
	return s->n_prefilled;
}

/* Seconds spent sampling and decoding (callbacks not counted). */
double
gen_decode_seconds(const struct gen_session *s)
{
	return s->decode_s;
}

/* Logits the next token of seq will come from, or NULL once it stopped. */
const float *
gen_next_logits(const struct gen_session *s, int seq)
{
	const struct gen_seq *q = gen_seq_at(s, seq);

	if (q == NULL || q->row < 0 || q->stop != GEN_RUNNING)
		return NULL;
	return s->logits + (size_t)q->row * (size_t)s->eng->n_vocab;
}

/* Tokens in the context of seq (prompt and output). */
int
gen_context_used(const struct gen_session *s, int seq)
{
	const struct gen_seq *q = gen_seq_at(s, seq);

	return q != NULL ? (int)q->n_tok : 0;
}
