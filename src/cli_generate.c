/*
 * cli_generate.c: `lmsh generate`, one-shot generation for scripts.
 *
 * Prompts come from --prompt-tokens (ids), --prompt or the operands (text),
 * or --prompt-file / standard input (one prompt per line).  Every prompt is
 * sampled --num-samples times in one batched session; sequence k uses RNG
 * stream k of the seed.  Output goes to stdout in sequence order: the
 * lowest sequence not yet printed streams as it is produced, the others are
 * held until their turn.  Each sequence is recorded as a history turn
 * unless --no-history; a history that cannot be opened costs one warning.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "cli.h"
#include "generate.h"
#include "history.h"
#include "model.h"
#include "options.h"
#include "record.h"
#include "sampler.h"
#include "util.h"

enum gen_out { GEN_OUT_TEXT, GEN_OUT_IDS, GEN_OUT_JSONL };

/* One prompt as given: its text (NULL for ids) and ids. */
struct cg_prompt {
	char		*text;		/* owned, or NULL */
	int32_t		*ids;		/* owned */
	size_t		 n;		/* ids */
};

/* The run: what is printed so far, for the ordered output. */
struct cg_run {
	struct gen_session	*g;
	const struct bpe	*bpe;
	enum gen_out		 out;
	int			 n_seqs;
	int			 n_samples;	/* per prompt */
	uint64_t		 seed;
	char			*done;		/* [n_seqs] finished */
	int			 cur;		/* sequence streaming now */
	int			 started;	/* prefill done: turns to record */
	int			 io_error;	/* stdout failed */
	int			 probs;		/* --probs: jsonl carries them */
	struct gen_pacer	 pacer;		/* --pace */
	int			 escape;	/* text to a terminal: escaped */
	size_t			 n_shown;	/* ids of cur printed so far */
};

/* The session SIGINT stops; set while generating. */
static struct gen_session *volatile cg_active;
/* SIGTERM or SIGHUP stopped it: the exit status is 128 + this. */
static volatile sig_atomic_t cg_exit_sig;

/* SIGINT, and SIGTERM and SIGHUP (a timeout wrapper, a closed terminal)
 * alike: stop, so that the partial turns are recorded as interrupted. */
static void
cg_sigint(int sig)
{
	if (sig != SIGINT)
		cg_exit_sig = sig;
	if (cg_active != NULL)
		gen_interrupt(cg_active);
}

/* ---- prompts -------------------------------------------------------------- */

/* "1,2,3" (spaces allowed) into ids; -1 with a message. */
static int
cg_parse_ids(const char *s, struct cg_prompt *p)
{
	struct err	err;
	size_t		cap = 0;

	p->ids = NULL;
	p->n = 0;
	if (cli_parse_ids(s, strlen(s), &p->ids, &p->n, &cap, &err) != 0) {
		cli_error("--prompt-tokens: %s", err.msg);
		return -1;
	}
	if (p->n == 0) {
		cli_error("--prompt-tokens: no token ids");
		return -1;
	}
	return 0;
}

/* Encode text; an empty prompt starts from the end-of-text token. */
static int
cg_encode(const struct bpe *bpe, const char *text, int eos,
    enum bpe_utf8_policy pol, struct cg_prompt *p)
{
	struct err err;

	p->text = xstrdup(text);
	if (bpe_encode(bpe, text, strlen(text), pol, &p->ids, &p->n,
	    &err) != 0) {
		cli_error("prompt: %s", err.msg);
		return -1;
	}
	if (p->n == 0 && eos >= 0) {
		free(p->ids);
		p->ids = xcalloc(1, sizeof *p->ids);
		p->ids[0] = eos;
		p->n = 1;
	}
	return 0;
}

/* Prompts from a file or stdin ("-"), one per non-empty line. */
static int
cg_read_lines(const char *path, const struct bpe *bpe, int eos,
    enum bpe_utf8_policy pol, struct cg_prompt **ps, int *n)
{
	struct err	 err;
	char		*data, *line, *next;
	size_t		 len;
	const char	*name = strcmp(path, "-") == 0 ? "/dev/stdin" : path;

	if (util_read_file(name, &data, &len, &err) != 0) {
		cli_error("%s", err.msg);
		return -1;
	}
	if (memchr(data, '\0', len) != NULL) {
		cli_error("%s: contains a NUL byte; prompts are text lines",
		    path);
		free(data);
		return -1;
	}
	for (line = data; line < data + len; line = next) {
		char *nl = memchr(line, '\n', (size_t)(data + len - line));

		next = nl != NULL ? nl + 1 : data + len;
		if (nl != NULL)
			*nl = '\0';
		if (nl != NULL && nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*line == '\0')
			continue;
		*ps = xreallocarray(*ps, (size_t)*n + 1, sizeof **ps);
		memset(&(*ps)[*n], 0, sizeof **ps);
		if (cg_encode(bpe, line, eos, pol, &(*ps)[(*n)++]) != 0) {
			free(data);
			return -1;
		}
	}
	free(data);
	if (*n == 0) {
		cli_error("%s: no prompt in it (one prompt per line)",
		    strcmp(path, "-") == 0 ? "standard input" : path);
		return -1;
	}
	return 0;
}

/*
 * Gather the prompts from the options and operands; returns 0, or an exit
 * status.
 */
static int
cg_prompts(const struct lm_options *o, char **ops, int n_ops,
    const struct bpe *bpe, int eos, struct cg_prompt **ps, int *n)
{
	int			 sources = (o->prompt_tokens != NULL) +
				    (o->prompt != NULL) + (n_ops > 0) +
				    (o->prompt_file != NULL);
	enum bpe_utf8_policy	 pol = o->replace_invalid ? BPE_UTF8_REPLACE :
				    BPE_UTF8_STRICT;

	*ps = NULL;
	*n = 0;
	if (sources > 1) {
		cli_error("give one of --prompt-tokens, --prompt, --prompt-file "
		    "or prompt text arguments");
		return CLI_EXIT_USAGE;
	}
	if (o->prompt_tokens != NULL) {
		*ps = xcalloc(1, sizeof **ps);
		*n = 1;
		return cg_parse_ids(o->prompt_tokens, *ps) == 0 ? 0 :
		    CLI_EXIT_USAGE;
	}
	if (bpe == NULL) {
		cli_error("text prompts need a tokenizer: give --model DIR, "
		    "--vocab and --merges, or --tokenizer; or use "
		    "--prompt-tokens");
		return CLI_EXIT_USAGE;
	}
	if (o->prompt != NULL || n_ops > 0) {
		struct buf b;

		buf_init(&b);
		if (o->prompt != NULL)
			buf_puts(&b, o->prompt);
		for (int i = 0; i < n_ops; i++) {
			if (i > 0)
				buf_puts(&b, " ");
			buf_puts(&b, ops[i]);
		}
		*ps = xcalloc(1, sizeof **ps);
		*n = 1;
		int rc = cg_encode(bpe, b.data != NULL ? b.data : "", eos, pol,
		    *ps);
		buf_fini(&b);
		return rc == 0 ? 0 : CLI_EXIT_ERROR;
	}
	if (o->prompt_file == NULL && isatty(STDIN_FILENO)) {
		cli_error("no prompt: give --prompt TEXT, --prompt-tokens IDS, "
		    "--prompt-file FILE, or pipe prompts in");
		return CLI_EXIT_USAGE;
	}
	return cg_read_lines(o->prompt_file != NULL ? o->prompt_file : "-", bpe,
	    eos, pol, ps, n) == 0 ? 0 : CLI_EXIT_ERROR;
}

static void
cg_prompts_free(struct cg_prompt *ps, int n)
{
	for (int i = 0; i < n; i++) {
		free(ps[i].text);
		free(ps[i].ids);
	}
	free(ps);
}

/* ---- output ------------------------------------------------------------------ */

static void
cg_write(struct cg_run *r, const char *s, size_t len)
{
	if (util_write_text(stdout, s, len, r->escape) != 0)
		r->io_error = 1;
}

static void
cg_ids_line(struct buf *b, const int32_t *ids, size_t n, const char *sep)
{
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%d", i ? sep : "", ids[i]);
}

/* --probs: "probs" and "logprobs" arrays in o, one entry per token (a
 * probability of 0 has log-probability null). */
static void
cg_json_probs(struct cg_run *r, int k, json_t *o)
{
	size_t		 n;
	const float	*p = gen_output_probs(r->g, k, &n);
	json_t		*pa = json_array(), *la = json_array();

	for (size_t i = 0; i < n; i++) {
		json_array_append_new(pa, util_json_float(p[i]));
		json_array_append_new(la, p[i] > 0 ?
		    util_json_double(log((double)p[i])) : json_null());
	}
	json_object_set_new(o, "probs", pa);
	json_object_set_new(o, "logprobs", la);
}

/* --output ids: print the ids of sequence k not printed yet, so that a
 * reader sees each as it is sampled (and a kill loses none printed). */
static void
cg_ids_more(struct cg_run *r, int k)
{
	struct buf	 b;
	size_t		 n;
	const int32_t	*ids = gen_output_ids(r->g, k, &n);

	buf_init(&b);
	for (size_t i = r->n_shown; i < n; i++)
		buf_printf(&b, "%s%d", i ? "," : "", ids[i]);
	r->n_shown = n;
	if (b.len > 0)
		cg_write(r, b.data, b.len);
	buf_fini(&b);
}

/* The JSON object of one finished sequence. */
static void
cg_json(struct cg_run *r, int k, struct buf *b)
{
	const struct sampler_params	*sp = &gen_settings(r->g)->sp;
	const int32_t			*ids;
	const char			*text;
	size_t				 n;
	json_t				*o = json_object();

	json_object_set_new(o, "sample", json_integer(k));
	json_object_set_new(o, "prompt", json_integer(k / r->n_samples));
	json_object_set_new(o, "seed", util_json_u64(r->seed));
	json_object_set_new(o, "sample_seed",
	    util_json_u64(rng_stream_seed(r->seed, (uint64_t)k)));
	ids = gen_prompt_ids(r->g, k, &n);
	json_object_set_new(o, "prompt_tokens", util_json_ids(ids, n));
	ids = gen_output_ids(r->g, k, &n);
	json_object_set_new(o, "tokens", util_json_ids(ids, n));
	text = gen_output_text(r->g, k, &n);
	json_object_set_new(o, "text", r->bpe != NULL ?
	    util_json_text(text, n) : json_null());
	json_object_set_new(o, "stop",
	    json_string(gen_stop_name(gen_stop_reason(r->g, k))));
	json_object_set_new(o, "n_tokens",
	    json_integer(gen_output_ids(r->g, k, &n) ? (json_int_t)n : 0));
	history_json_sampling(o, sp);
	/* timings to the microsecond, as measured */
	json_object_set_new(o, "prefill_s",
	    util_json_double(round(gen_prefill_seconds(r->g) * 1e6) / 1e6));
	json_object_set_new(o, "decode_s",
	    util_json_double(round(gen_decode_seconds(r->g) * 1e6) / 1e6));
	if (r->probs)
		cg_json_probs(r, k, o);
	buf_json(b, o);
	buf_puts(b, "\n");
}

/* Sequence k comes to the front: text mode prints what it has so far. */
static void
cg_begin(struct cg_run *r, int k)
{
	const char	*t;
	size_t		 n;
	char		 head[64];

	r->n_shown = 0;
	if (r->out == GEN_OUT_IDS)
		cg_ids_more(r, k);
	if (r->out != GEN_OUT_TEXT)
		return;
	if (r->n_seqs > 1) {
		snprintf(head, sizeof head, "--- sample %d ---\n", k + 1);
		cg_write(r, head, strlen(head));
	}
	t = gen_output_text(r->g, k, &n);
	cg_write(r, t, n);
}

/* Sequence k is finished and at the front: print the rest of it. */
static void
cg_finish(struct cg_run *r, int k)
{
	struct buf	 b;

	buf_init(&b);
	if (r->out == GEN_OUT_IDS)
		cg_ids_more(r, k);
	if (r->out != GEN_OUT_JSONL)
		buf_puts(&b, "\n");
	else
		cg_json(r, k, &b);
	cg_write(r, b.data, b.len);
	buf_fini(&b);
	if (fflush(stdout) != 0)
		r->io_error = 1;
}

/* Print every finished sequence at the front, in order. */
static void
cg_advance(struct cg_run *r)
{
	while (r->cur < r->n_seqs && r->done[r->cur]) {
		cg_finish(r, r->cur);
		if (++r->cur < r->n_seqs)
			cg_begin(r, r->cur);
	}
}

static void
cg_on_token(void *arg, const struct gen_token *t)
{
	struct cg_run *r = arg;

	if (t->seq == r->cur && r->out == GEN_OUT_TEXT && t->piece_len > 0) {
		cg_write(r, t->piece, t->piece_len);
		if (fflush(stdout) != 0)
			r->io_error = 1;
	}
	if (t->seq == r->cur && r->out == GEN_OUT_IDS &&
	    t->stop == GEN_RUNNING) {
		cg_ids_more(r, t->seq);
		if (fflush(stdout) != 0)
			r->io_error = 1;
	}
	if (t->stop != GEN_RUNNING) {
		r->done[t->seq] = 1;
		cg_advance(r);
	}
}

/* ---- history ---------------------------------------------------------------- */

/* Record every sequence as a turn; problems are one warning. */
static void
cg_record(const struct lm_options *o, const struct cg_run *r,
    const struct cg_prompt *ps, const struct lm_model *m)
{
	struct history		*h;
	struct err		 err;
	char			*cfg = NULL, *kernels = NULL, *ptext;
	struct history_session_info info = { 0 };
	int64_t			 sid;

	if (o->no_history)
		return;
	if ((h = history_open(o->history, 0, &err)) == NULL) {
		cli_warn("history not recorded: %s", err.msg);
		return;
	}
	cfg = record_config_json(m);
	info.lmsh_version = PACKAGE_VERSION;
	info.model_path = cli_model_path(o);
	info.config_json = cfg;
	info.kernels = kernels = record_kernels(m);
	info.dtype = record_dtype(m);
	if ((sid = history_begin_session(h, &info, &err)) < 0)
		goto fail;
	for (int k = 0; k < r->n_seqs; k++) {
		const struct cg_prompt	*p = &ps[k / r->n_samples];
		struct history_turn	 t;
		struct buf		 b;

		buf_init(&b);
		if (p->text == NULL)
			cg_ids_line(&b, p->ids, p->n, ",");
		ptext = p->text != NULL ? p->text : b.data;
		record_turn(&t, r->g, k, ptext);
		/* stream k of the seed is stream 0 of this one, so the
		 * turn replays alone */
		t.settings.seed = rng_stream_seed(r->seed, (uint64_t)k);
		t.session_id = sid;
		t.seq_no = k;
		int rc = history_record_turn(h, &t, &err);
		history_turn_fini(&t);
		buf_fini(&b);
		if (rc != 0)
			goto fail;
	}
	if (history_end_session(h, sid, &err) != 0)
		goto fail;
	history_close(h);
	free(cfg);
	free(kernels);
	return;
fail:
	cli_warn("history not recorded: %s", err.msg);
	history_close(h);
	free(cfg);
	free(kernels);
}

/* ---- the command ------------------------------------------------------------- */

static int
cg_output_mode(const char *s, enum gen_out *out)
{
	if (strcmp(s, "text") == 0)
		*out = GEN_OUT_TEXT;
	else if (strcmp(s, "ids") == 0)
		*out = GEN_OUT_IDS;
	else if (strcmp(s, "jsonl") == 0 || strcmp(s, "json") == 0)
		*out = GEN_OUT_JSONL;
	else {
		cli_error("--output: '%s': expected text, ids or jsonl", s);
		return -1;
	}
	return 0;
}

/* Run the session to the end, printing as it goes.  An exit status. */
static int
cg_generate(struct cg_run *r)
{
	struct err		 err;
	struct sigaction	 sa, old, old_term, old_hup;
	int			 rc;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cg_sigint;
	/* a second Ctrl-C ends the program at once */
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	cg_active = r->g;
	sigaction(SIGINT, &sa, &old);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	rc = gen_start(r->g, &err);
	if (rc == 0) {
		r->started = 1;
		for (int k = 0; k < r->n_seqs; k++)
			if (gen_stop_reason(r->g, k) != GEN_RUNNING)
				r->done[k] = 1;
		cg_begin(r, 0);
		cg_advance(r);
		while ((rc = gen_step(r->g, cg_on_token, r, &err)) == 1) {
			double d;

			gen_pace_shown(&r->pacer);
			/* SIGINT cuts the sleep short, and the next step
			 * ends the sequence */
			if ((d = gen_pace_due(&r->pacer)) > 0) {
				struct timespec ts = { (time_t)d,
				    (long)((d - (double)(time_t)d) * 1e9) };
				nanosleep(&ts, NULL);
			}
		}
	}
	sigaction(SIGINT, &old, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	cg_active = NULL;
	if (rc < 0) {
		cli_error("%s", err.msg);
		return CLI_EXIT_ERROR;
	}
	if (r->io_error) {
		cli_error("standard output: %s", strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (gen_n_seqs(r->g) > 0 && gen_stop_reason(r->g, 0) ==
	    GEN_STOP_INTERRUPTED) {
		cli_error("interrupted");
		return CLI_EXIT_ERROR;
	}
	return CLI_EXIT_OK;
}

static int
generate_run(int argc, char **argv)
{
	static const struct cli_command	*cmd = &cli_cmd_generate;
	struct lm_options		 o;
	struct cg_prompt		*ps = NULL;
	struct cg_run			 r;
	struct lm_model			*m = NULL;
	struct bpe			*bpe = NULL;
	struct gen_engine		*e = NULL;
	struct err			 err;
	enum gen_out			 out;
	int				 oi, rc, n_ps = 0, eos;

	memset(&r, 0, sizeof r);
	if ((rc = cli_parse(cmd, &o, argc, argv, &oi)) >= 0)
		return rc;
	rc = CLI_EXIT_USAGE;
	if (cg_output_mode(o.output, &out) != 0)
		goto out;
	rc = CLI_EXIT_ERROR;
	cli_generation_defaults(&o);
	/* a tokenizer is optional when the prompt is ids */
	bpe = cli_load_bpe(&o, o.prompt_tokens == NULL);
	if (bpe == NULL && o.prompt_tokens == NULL)
		goto out;
	if (bpe == NULL && out == GEN_OUT_TEXT)
		out = GEN_OUT_IDS;
	if ((m = cli_load_model(&o)) == NULL)
		goto out;
	cli_check_vocab(bpe, m);
	eos = o.gen->eos_id;
	if (!options_given(&o, OPT_EOS) && bpe != NULL)
		eos = bpe_token_id(bpe, "<|endoftext|>", 13);
	/* a tokenizer larger than the model: its end-of-text id never comes */
	if (!options_given(&o, OPT_EOS) && eos >= model_config(m)->vocab_size)
		eos = -1;
	o.gen->eos_id = eos;
	if (!options_given(&o, OPT_SEED))
		o.gen->seed = (uint64_t)(util_now() * 1e6) ^
		    ((uint64_t)getpid() << 32);
	log_debug("generate: seed %llu, eos %d",
	    (unsigned long long)o.gen->seed, eos);
	if ((rc = cg_prompts(&o, argv + oi, argc - oi, bpe, eos, &ps,
	    &n_ps)) != 0)
		goto out;
	rc = CLI_EXIT_ERROR;
	if (n_ps * o.num_samples > 65536) {
		cli_error("%d prompts x %d samples: too many sequences", n_ps,
		    o.num_samples);
		goto out;
	}
	if ((e = gen_engine_new(m, bpe, n_ps * o.num_samples, &err)) == NULL ||
	    (r.g = gen_new(e, o.gen, &err)) == NULL) {
		cli_error("%s", err.msg);
		goto out;
	}
	for (int i = 0; i < n_ps; i++)
		if (gen_add_prompt(r.g, ps[i].ids, ps[i].n, o.num_samples,
		    &err) != 0) {
			cli_error("%s", err.msg);
			goto out;
		}
	r.bpe = bpe;
	r.out = out;
	r.escape = util_escape_for(stdout, o.raw);
	r.n_seqs = gen_n_seqs(r.g);
	r.n_samples = o.num_samples;
	r.seed = o.gen->seed;
	r.probs = o.probs;
	gen_pace_start(&r.pacer, o.pace > 0 ? o.pace : 0);
	r.done = xcalloc((size_t)r.n_seqs, 1);
	rc = cg_generate(&r);
	log_debug("generate: prefill %.3f s, decode %.3f s",
	    gen_prefill_seconds(r.g), gen_decode_seconds(r.g));
	if (r.started)
		cg_record(&o, &r, ps, m);
	if (cg_exit_sig != 0)
		rc = 128 + cg_exit_sig;
out:
	free(r.done);
	gen_free(r.g);
	gen_engine_free(e);
	cg_prompts_free(ps, n_ps);
	model_close(m);
	bpe_free(bpe);
	log_close();
	options_fini(&o);
	return rc;
}

static const struct options_use generate_opts[] = {
	{ OPT_GROUP, "Model:" },
	{ OPT_MODEL, "model directory (config.json, model.safetensors, "
	    "vocab.json, merges.txt)" },
	OPTIONS_USE_MODEL, { OPT_THREADS, NULL }, { OPT_DEVICE, NULL },
	{ OPT_GROUP, "Prompts:" },
	{ OPT_PROMPT, NULL }, { OPT_PROMPT_TOKENS, NULL },
	{ OPT_PROMPT_FILE, NULL },
	{ OPT_REPLACE_INVALID, "replace invalid UTF-8 in prompts with U+FFFD" },
	{ OPT_NUM_SAMPLES, NULL },
	{ OPT_GROUP, "Sampling:" },
	{ OPT_SETTING, NULL },
	{ OPT_SEED, "RNG seed (default: from the clock, shown in jsonl "
	    "output)" },
	{ OPT_GROUP, "Stopping:" },
	{ OPT_MAX_NEW, "most tokens per sample (default 256)" },
	{ OPT_EOS, NULL }, { OPT_STOP, NULL },
	{ OPT_GROUP, "Output:" },
	{ OPT_OUTPUT, NULL }, { OPT_PROBS, NULL }, { OPT_PACE, NULL },
	{ OPT_RAW, NULL },
	{ OPT_HISTORY, "history database to record in" },
	{ OPT_NO_HISTORY, NULL }, { OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_generate = {
	"generate", generate_run, "one-shot generation for scripts",
	"usage: lmsh generate [options] [PROMPT...]\n"
	"\n"
	"Continue each prompt and print the result.  Prompts: --prompt TEXT or\n"
	"the operands, --prompt-tokens IDS, or one per line from --prompt-file\n"
	"FILE or standard input.  --num-samples N samples each prompt N times;\n"
	"all the sequences are decoded together as one batch.\n",
	generate_opts
};
