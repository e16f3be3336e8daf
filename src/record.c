/*
 * record.c: the bridge from a generation to a history record.  A turn is
 * copied out of a finished gen_session (ids, text, settings, live changes,
 * stop reason, timings) into a struct history_turn that owns its copies;
 * a session is described by the model's config and by what computed it
 * (kernel set, weight dtype), so that a replay that diverges can say what
 * changed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generate.h"
#include "history.h"
#include "model.h"
#include "record.h"
#include "util.h"

static void *
record_memdup(const void *p, size_t n, size_t size)
{
	void *q = xcalloc(n + 1, size);

	if (n > 0)
		memcpy(q, p, n * size);
	return q;
}

static double
record_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The probability of each generated token, packed as the history keeps
 * it. */
static void
record_probs(struct history_turn *t, const struct gen_session *g, int seq)
{
	size_t		 n;
	const float	*p = gen_output_probs(g, seq, &n);

	t->probs = xcalloc(n + 1, sizeof *t->probs);
	for (size_t i = 0; p != NULL && i < n; i++)
		t->probs[i] = history_prob_pack(p[i]);
	t->n_probs = n;
}

/*
 * Fill t from sequence seq of a finished (or interrupted) generation; see
 * record.h.  The settings are those the session started with; time is
 * reconstructed as now minus the prefill and decode time.
 */
void
record_turn(struct history_turn *t, const struct gen_session *g, int seq,
    const char *prompt)
{
	const struct gen_settings	*gs = gen_settings(g);
	const int32_t			*ids;
	const struct gen_change		*ch;
	const char			*text;
	size_t				 n;

	memset(t, 0, sizeof *t);
	t->prompt = xstrdup(prompt != NULL ? prompt : "");
	t->prompt_len = strlen(t->prompt);
	ids = gen_prompt_ids(g, seq, &n);
	t->prompt_ids = record_memdup(ids, n, sizeof *ids);
	t->n_prompt = n;
	ids = gen_output_ids(g, seq, &n);
	t->output_ids = record_memdup(ids, n, sizeof *ids);
	t->n_output = n;
	record_probs(t, g, seq);
	text = gen_output_text(g, seq, &n);
	/* the output may hold NUL bytes: keep its length */
	t->output = record_memdup(text != NULL ? text : "", text ? n : 0, 1);
	t->output_len = text != NULL ? n : 0;
	t->settings = *gs;
	for (int i = 0; i < gs->n_stop && i < GEN_MAX_STOP; i++) {
		t->stop_strings[i] = xstrdup(gs->stop[i]);
		t->settings.stop[i] = t->stop_strings[i];
	}
	ch = gen_changes(g, &n);
	t->changes = record_memdup(ch, n, sizeof *ch);
	t->n_changes = n;
	t->stop = gen_stop_reason(g, seq);
	t->prefill_s = gen_prefill_seconds(g);
	t->decode_s = gen_decode_seconds(g);
	t->time = record_wall_now() - t->prefill_s - t->decode_s;
}

/* The model config as JSON with config.json's keys; caller frees. */
char *
record_config_json(const struct lm_model *m)
{
	return model_config_json(model_config(m));
}

/*
 * The kernels that compute the model, as the engine names them ("mv
 * avx512 bf16, blis skx": the matrix-vector kernel, the weight dtype it
 * reads, BLIS's architecture); caller frees.
 */
char *
record_kernels(const struct lm_model *m)
{
	return xstrdup(model_engine_desc(m));
}

/* The dtype the weights are computed from, as stored ("f32", "bf16",
 * "f16"): 2-byte weights are widened in registers, not converted. */
const char *
record_dtype(const struct lm_model *m)
{
	return model_dtype_name(m);
}
