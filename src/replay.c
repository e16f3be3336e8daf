/*
 * replay.c: the one replay engine, used by `lmsh replay` and the REPL's
 * /replay alike.  It regenerates a recorded turn and compares it token by
 * token.  The recorded settings are the turn's settings at its start; its
 * live changes (history's setting_changes) are applied with
 * gen_set_params() just before the step that first sampled with the new
 * value, so a turn whose knobs were turned while it wrote comes out the
 * same again; a branch's forced token is forced again at its first step.
 * It runs stepwise (replay_begin, replay_step, replay_end) so
 * that the REPL can draw each token and take keys between them, and it
 * writes the texts both front ends show (warnings and the verdict) into a
 * buffer; it never prints.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "history.h"
#include "replay.h"
#include "sampler.h"
#include "util.h"

/* A replay in progress. */
struct replay {
	struct gen_session		*g;	/* the regeneration */
	const struct history_turn	*t;	/* the recording (borrowed) */
	unsigned			 mask;	/* overridden settings */
	size_t				 next;	/* next live change to apply */
	int				 step;	/* tokens sampled so far */
	int				 cut;	/* stop at t's length */
	int				 done;	/* the session has ended */
};

/* Build the settings for a replay; see replay.h. */
void
replay_settings(const struct history_turn *t, const struct gen_settings *over,
    unsigned mask, struct gen_settings *out)
{
	*out = t->settings;
	if (over == NULL)
		return;
	for (size_t i = 0; i < sampler_n_settings; i++)
		if (mask & REPLAY_SETTING(i))
			sampler_setting_put(&out->sp, &sampler_settings[i],
			    sampler_setting_get(&over->sp,
			    &sampler_settings[i]), NULL);
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

/* One whole number in [lo, hi] for an override that is not a table row. */
static int
replay_parse_whole(const char *name, const char *v, double lo, double hi,
    double *out, struct err *err)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || errno != 0 || d != (double)(long long)d
	    || d < lo || d > hi) {
		err_set(err, "%s: '%s' is not a whole number in [%.15g, %.15g]",
		    name, v, lo, hi);
		return -1;
	}
	*out = d;
	return 0;
}

/* Apply one "NAME VALUE" override. */
static int
replay_override(const char *name, const char *v, struct gen_settings *over,
    unsigned *mask, struct err *err)
{
	const struct sampler_setting	*s;
	double				 d;

	if (strcmp(name, "t") == 0)
		name = "temperature";
	else if (strcmp(name, "p") == 0)
		name = "top_p";
	else if (strcmp(name, "s") == 0)
		name = "seed";
	if ((s = sampler_setting_find(name)) != NULL) {
		if (sampler_setting_parse(s, v, &d, err) != 0)
			return -1;
		sampler_setting_put(&over->sp, s, d, NULL);
		*mask |= REPLAY_SETTING((size_t)(s - sampler_settings));
		return 0;
	}
	if (strcmp(name, "seed") == 0) {
		char			*end;
		unsigned long long	 u;

		errno = 0;
		u = strtoull(v, &end, 10);
		if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0) {
			err_set(err, "seed: '%s' is not a non-negative integer",
			    v);
			return -1;
		}
		over->seed = u;
		*mask |= REPLAY_SEED;
		return 0;
	}
	if (strcmp(name, "max-new-tokens") == 0 ||
	    strcmp(name, "max_new_tokens") == 0) {
		if (replay_parse_whole("max_new_tokens", v, GEN_MAX_NEW_MIN,
		    GEN_MAX_NEW_MAX, &d, err) != 0)
			return -1;
		over->max_new_tokens = (int)d;
		*mask |= REPLAY_MAX_NEW;
		return 0;
	}
	err_set(err, "replay: unknown option '%s%s'", strlen(name) == 1 ?
	    "-" : "--", name);
	return -1;
}

/*
 * Parse the options after /replay's turn id: "-t 0", "--top-k 5",
 * "--seed=3".  Each fills its field of over and its bit of mask.  Returns
 * 0, or -1 with one line in err (over and mask then undefined).
 */
int
replay_parse_overrides(const char *args, struct gen_settings *over,
    unsigned *mask, struct err *err)
{
	char	*copy = xstrdup(args), *save = NULL, *w;
	int	 rc = -1;

	for (w = strtok_r(copy, " \t", &save); w != NULL;
	    w = strtok_r(NULL, " \t", &save)) {
		char		*name, *eq;
		const char	*v;

		if (w[0] != '-' || w[1] == '\0' || (w[1] != '-' && w[2] != '\0')
		    || (w[1] == '-' && w[2] == '\0')) {
			err_set(err, "replay: '%s': expected an option such as "
			    "-t 0 or --top-k 5", w);
			goto out;
		}
		name = w + (w[1] == '-' ? 2 : 1);
		if ((eq = strchr(name, '=')) != NULL) {
			*eq = '\0';
			v = eq + 1;
		} else if ((v = strtok_r(NULL, " \t", &save)) == NULL) {
			err_set(err, "replay: %s needs a value", w);
			goto out;
		}
		if (replay_override(name, v, over, mask, err) != 0)
			goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* Apply every change due before the next step; an unknown name fails. */
static int
replay_changes_due(struct replay *r, struct err *err)
{
	const struct history_turn	*t = r->t;
	struct sampler_params		 p;
	int				 any = 0;

	if (r->next >= t->n_changes || t->changes[r->next].step > r->step)
		return 0;
	p = *gen_params(r->g);
	for (; r->next < t->n_changes && t->changes[r->next].step <= r->step;
	    r->next++) {
		const struct gen_change		*c = &t->changes[r->next];
		char				 name[sizeof c->name + 1];
		const struct sampler_setting	*s;

		memcpy(name, c->name, sizeof c->name);
		name[sizeof c->name] = '\0';
		if ((s = sampler_setting_find(name)) == NULL) {
			err_set(err, "turn %lld: unknown setting '%s' changed "
			    "at step %d", (long long)t->id, name, c->step);
			return -1;
		}
		if (r->mask & REPLAY_SETTING((size_t)(s - sampler_settings)))
			continue;
		if (sampler_setting_put(&p, s, c->value, err) != 0) {
			err_prefix(err, "turn %lld: step %d", (long long)t->id,
			    c->step);
			return -1;
		}
		any = 1;
	}
	if (any && gen_set_params(r->g, &p, err) != 0) {
		err_prefix(err, "turn %lld: step %d", (long long)t->id, r->step);
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

/*
 * Start replaying t with settings s: prefill its prompt ids.  Returns the
 * replay (t stays borrowed until replay_end), or NULL with err set.
 */
struct replay *
replay_begin(struct gen_engine *e, const struct history_turn *t,
    const struct gen_settings *s, unsigned mask, struct err *err)
{
	struct replay *r;

	if (t->n_prompt == 0) {
		err_set(err, "turn %lld has no prompt tokens to replay",
		    (long long)t->id);
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->t = t;
	r->mask = mask;
	/* an interrupted turn is cut where the user cut it */
	r->cut = t->stop == GEN_STOP_INTERRUPTED &&
	    (mask & REPLAY_MAX_NEW) == 0;
	if ((r->g = gen_new(e, s, err)) == NULL ||
	    gen_add_prompt(r->g, t->prompt_ids, t->n_prompt, 1, err) != 0 ||
	    gen_start(r->g, err) != 0 ||
	    (t->forced && gen_force(r->g, t->forced_token, err) != 0)) {
		replay_free(r);
		return NULL;
	}
	return r;
}

/*
 * Sample the next token of the replay (fn, which may be NULL, sees it).
 * Returns 1 while the replay runs, 0 when it has ended, -1 on an error.
 */
int
replay_step(struct replay *r, gen_token_fn *fn, void *arg, struct err *err)
{
	int rc;

	if (r->done)
		return 0;
	if (r->cut && (size_t)r->step >= r->t->n_output)
		gen_interrupt(r->g);	/* the next step ends the sequence */
	else if (replay_changes_due(r, err) != 0)
		return -1;
	if ((rc = gen_step(r->g, fn, arg, err)) < 0)
		return -1;
	r->step++;
	r->done = rc == 0;
	return rc;
}

/* The regeneration's session (borrowed): its settings, ids and figures. */
struct gen_session *
replay_session(const struct replay *r)
{
	return r->g;
}

/* Ctrl-C: the replay ends before its next token (and then differs). */
void
replay_interrupt(struct replay *r)
{
	gen_interrupt(r->g);
}

/* Finish: compare with the recording; see replay.h. */
struct gen_session *
replay_end(struct replay *r, struct replay_result *res)
{
	struct gen_session	*g = r->g;
	const int32_t		*ids;
	size_t			 n;

	ids = gen_output_ids(g, 0, &n);
	replay_compare(r->t, ids, n, res);
	free(r);
	return g;
}

/* Drop a replay and its session; NULL does nothing. */
void
replay_free(struct replay *r)
{
	if (r == NULL)
		return;
	gen_free(r->g);
	free(r);
}

/* Regenerate a recorded turn in one call; see replay.h. */
struct gen_session *
replay_run(struct gen_engine *e, const struct history_turn *t,
    const struct gen_settings *s, unsigned mask, gen_token_fn *fn, void *arg,
    struct replay_result *res, struct err *err)
{
	struct replay	*r;
	int		 rc;

	if ((r = replay_begin(e, t, s, mask, err)) == NULL)
		return NULL;
	while ((rc = replay_step(r, fn, arg, err)) == 1)
		;
	if (rc < 0) {
		replay_free(r);
		return NULL;
	}
	return replay_end(r, res);
}

/* ---- the texts ------------------------------------------------------------ */

/*
 * The warnings for a model that is not the recorded one: another path,
 * other files (named), another config.  One line each, appended to warn.
 */
void
replay_check_model(struct history *h, const struct history_turn *t,
    const char *model_path, const struct replay_setup *now, struct buf *warn)
{
	char		*fp = NULL, *files = NULL, *diff = NULL, *abs;
	struct err	 err;

	if ((abs = realpath(model_path, NULL)) == NULL)
		abs = xstrdup(model_path);
	if (t->model_path != NULL && strcmp(t->model_path, abs) != 0)
		buf_printf(warn, "turn %lld was recorded with %s, replaying "
		    "with %s\n", (long long)t->id, t->model_path, abs);
	if (t->fingerprint == NULL)
		buf_printf(warn, "turn %lld has no model fingerprint; the "
		    "model cannot be checked\n", (long long)t->id);
	else if (history_model_fingerprint(h, model_path, &fp, &files,
	    &err) != 0)
		buf_printf(warn, "%s\n", err.msg);
	else if (strcmp(fp, t->fingerprint) != 0) {
		diff = t->files ? history_files_diff(t->files, files) : NULL;
		buf_printf(warn, "the model differs from the one turn %lld was "
		    "recorded with: %s\n", (long long)t->id, diff ? diff :
		    "its fingerprint changed");
	}
	if (t->config_json != NULL && now->config_json != NULL &&
	    strcmp(t->config_json, now->config_json) != 0)
		buf_printf(warn, "the model config differs: recorded %s, now "
		    "%s\n",
		    t->config_json, now->config_json);
	free(abs);
	free(diff);
	free(fp);
	free(files);
}

/*
 * A token for the verdict: its id and its bytes in double quotes through
 * buf_escape() (controls and bytes that are not UTF-8 as \xNN), "<|id N|>"
 * for an id the tokenizer lacks, or "the end".  Without a tokenizer, the
 * id alone.
 */
static void
replay_token(struct buf *b, const struct bpe *bpe, int32_t id)
{
	const char	*s;
	size_t		 len;

	if (id < 0) {
		buf_puts(b, "the end");
		return;
	}
	buf_printf(b, "%d", (int)id);
	if (bpe == NULL)
		return;
	if ((s = bpe_token_bytes(bpe, id, &len)) == NULL) {
		buf_printf(b, " <|id %d|>", (int)id);
		return;
	}
	buf_puts(b, " \"");
	buf_escape(b, s, len, BUF_ESC_TOKEN);
	buf_puts(b, "\"");
}

/* Did the recording run on another set-up than now? */
static void
replay_setup_note(const struct history_turn *t,
    const struct replay_setup *now, struct buf *out)
{
	int k = t->kernels != NULL && now->kernels != NULL &&
	    strcmp(t->kernels, now->kernels) != 0;
	int d = t->dtype != NULL && now->dtype != NULL &&
	    strcmp(t->dtype, now->dtype) != 0;

	if (!k && !d)
		return;
	buf_puts(out, "the session recorded");
	if (k)
		buf_printf(out, " kernels %s (now %s)", t->kernels,
		    now->kernels);
	if (d)
		buf_printf(out, "%s weights %s (now %s)", k ? " and" : "",
		    t->dtype, now->dtype);
	buf_puts(out, ": sums in another order may pick other tokens\n");
}

/* The verdict lines; see replay.h. */
void
replay_verdict(const struct history_turn *t, const struct replay_result *r,
    const struct bpe *bpe, const struct replay_setup *now, struct buf *out)
{
	if (r->diverged < 0) {
		buf_printf(out, "identical (%zu tokens)\n", r->n_tokens);
		return;
	}
	buf_printf(out, "diverged at step %ld: recorded ", r->diverged);
	replay_token(out, bpe, r->recorded);
	buf_puts(out, ", replayed ");
	replay_token(out, bpe, r->replayed);
	buf_puts(out, "\n");
	if (now != NULL)
		replay_setup_note(t, now, out);
}
