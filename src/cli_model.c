/*
 * cli_model.c: `lmsh eval` (loss, bits per byte and perplexity of a model
 * on a file, optionally dumping every position's logits as .npy) and
 * `lmsh convert` (a PyTorch checkpoint and its config and tokenizer into a
 * model directory).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "cli.h"
#include "model.h"
#include "options.h"
#include "util.h"
#include "weights.h"

/*
 * Parse options and collect at most max_ops operands, which may come before
 * options too (`lmsh convert CHECKPOINT.pt --config ...`).  *ops points into
 * argv.  Returns -1 to continue, else an exit status.
 */
static int
cli_model_parse(const struct cli_command *cmd, struct lm_options *o,
    int argc, char **argv, char **ops, int max_ops, int *n_ops)
{
	char	**all;
	int	  rc;

	if ((rc = cli_parse_ops(cmd, o, argc, argv, &all, n_ops)) != -1)
		return rc;
	if (*n_ops > max_ops) {
		cli_error("%s: too many operands (see lmsh %s --help)",
		    cmd->name, cmd->name);
		free(all);
		options_fini(o);
		return CLI_EXIT_USAGE;
	}
	memcpy(ops, all, (size_t)*n_ops * sizeof *ops);
	free(all);
	return -1;
}

/* --- eval ------------------------------------------------------------------ */

/* Ids separated by whitespace and/or commas; NULL after printing an error. */
static int32_t *
eval_parse_ids(const char *path, const char *s, size_t len, size_t *n_out)
{
	struct err	 err;
	int32_t		*ids = NULL;
	size_t		 cap = 0;

	*n_out = 0;
	if (cli_parse_ids(s, len, &ids, n_out, &cap, &err) != 0) {
		cli_error("%s: %s", path, err.msg);
		free(ids);
		return NULL;
	}
	return ids;
}

/* The .npy v1.0 header for a float32 [rows][cols] array. */
static int
eval_npy_header(FILE *f, size_t rows, size_t cols)
{
	char h[128];
	int n = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': "
	    "False, 'shape': (%zu, %zu), }", rows, cols);
	size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;
	unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0 };

	pre[8] = (unsigned char)((total + pad - 10) & 0xff);
	pre[9] = (unsigned char)((total + pad - 10) >> 8);
	if (fwrite(pre, 1, 10, f) != 10 || fwrite(h, 1, (size_t)n, f) !=
	    (size_t)n)
		return -1;
	for (size_t i = 0; i < pad; i++)
		if (fputc(' ', f) == EOF)
			return -1;
	return fputc('\n', f) == EOF ? -1 : 0;
}

/* -log softmax(row)[target], in double. */
static double
eval_nll(const float *row, size_t V, int32_t target)
{
	double mx = row[0], s = 0;

	for (size_t k = 1; k < V; k++)
		if (row[k] > mx)
			mx = row[k];
	for (size_t k = 0; k < V; k++)
		s += exp((double)row[k] - mx);
	return -((double)row[target] - mx - log(s));
}

struct eval_result {
	size_t	n_ids;		/* ids in the input */
	size_t	n_pred;		/* ids predicted: all but the first */
	double	total;		/* nats over n_pred */
};

/*
 * Inputs ids[s .. s+ctx) for s = 0, ctx, 2 ctx, ...: each window starts
 * from an empty cache, and position i predicts ids[i+1], so every id but
 * the first is scored once.  Logits of every position go to npy if given.
 */
static int
eval_run_windows(struct lm_model *m, const int32_t *ids, size_t n, FILE *npy,
    const char *npy_path, struct eval_result *r)
{
	const struct lm_config *c = model_config(m);
	size_t V = (size_t)c->vocab_size, ctx = (size_t)c->context_length;
	struct lm_cache *kc;
	struct err err;
	float *lg = NULL;
	double *nll = NULL;
	size_t np;
	int rc = -1, nt;

	if ((kc = model_cache_new(m, 1, 0, &err)) == NULL) {
		cli_error("%s", err.msg);
		return -1;
	}
	if ((lg = calloc(ctx * V, sizeof *lg)) == NULL ||
	    (nll = calloc(ctx, sizeof *nll)) == NULL) {
		cli_error("logits for %zu positions: out of memory", ctx);
		free(lg);
		model_cache_free(kc);
		return -1;
	}
	memset(r, 0, sizeof *r);
	r->n_ids = n;
	for (size_t s = 0; s < n; s += ctx) {
		size_t k = n - s < ctx ? n - s : ctx;

		model_cache_reset(kc, 0);
		if (model_prefill(m, kc, 0, ids + s, k, lg, 1, &err) == -1) {
			cli_error("%s", err.msg);
			goto out;
		}
		/* positions in parallel (a fifth of a 1-thread eval was
		 * here), summed in order, so the total has the same bits
		 * at any thread count */
		np = n - s - 1 < k ? n - s - 1 : k;
		nt = model_threads_now(m);
		#pragma omp parallel for num_threads(nt) schedule(static) \
		    if (nt > 1)
		for (size_t i = 0; i < np; i++)
			nll[i] = eval_nll(lg + i * V, V, ids[s + i + 1]);
		for (size_t i = 0; i < np; i++)
			r->total += nll[i];
		r->n_pred += np;
		if (npy != NULL && fwrite(lg, sizeof *lg, k * V, npy) != k * V) {
			cli_error("%s: %s", npy_path, strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	free(nll);
	free(lg);
	model_cache_free(kc);
	return rc;
}

/* Read the input as ids: tokens, or text through the tokenizer. */
static int32_t *
eval_read_ids(const struct lm_options *o, const char *path, size_t *n,
    size_t *n_bytes)
{
	struct err err;
	struct bpe *b;
	char *data;
	size_t len;
	int32_t *ids = NULL;

	if (util_read_file(path, &data, &len, &err) == -1) {
		cli_error("%s", err.msg);
		return NULL;
	}
	*n_bytes = len;
	if (o->tokens_input) {
		ids = eval_parse_ids(path, data, len, n);
		/* Bytes of the text the ids stand for, if we can decode. */
		*n_bytes = 0;
		if (ids != NULL && (b = cli_load_bpe(o, 0)) != NULL) {
			for (size_t i = 0; i < *n; i++) {
				size_t tl = 0;

				bpe_token_bytes(b, ids[i], &tl);
				*n_bytes += tl;
			}
			bpe_free(b);
		}
	} else if ((b = cli_load_bpe(o, 1)) != NULL) {
		if (bpe_encode(b, data, len, BPE_UTF8_STRICT, &ids, n,
		    &err) == -1) {
			cli_error("%s: %s", path, err.msg);
			ids = NULL;
		}
		bpe_free(b);
	}
	free(data);
	return ids;
}

static void
eval_print(const struct lm_options *o, const char *path,
    const struct eval_result *r, size_t n_bytes, int ctx)
{
	double mean = r->total / (double)r->n_pred;
	double bpb = n_bytes ? r->total / log(2.0) / (double)n_bytes : NAN;

	if (o->json) {
		struct buf	 b;
		json_t		*j = json_object();

		json_object_set_new(j, "file", util_json_text(path,
		    strlen(path)));
		json_object_set_new(j, "tokens", json_integer((json_int_t)
		    r->n_ids));
		json_object_set_new(j, "predicted", json_integer((json_int_t)
		    r->n_pred));
		json_object_set_new(j, "bytes", json_integer((json_int_t)
		    n_bytes));
		json_object_set_new(j, "context_length", json_integer(ctx));
		json_object_set_new(j, "total_nats", util_json_double(r->total));
		json_object_set_new(j, "loss", util_json_double(mean));
		json_object_set_new(j, "perplexity", util_json_double(exp(mean)));
		/* NaN (no byte count) is null */
		json_object_set_new(j, "bits_per_byte", util_json_double(bpb));
		buf_init(&b);
		buf_json(&b, j);
		buf_puts(&b, "\n");
		fputs(b.data, stdout);
		buf_fini(&b);
		return;
	}
	printf("file: %s\n", path);
	printf("tokens: %zu (%zu predicted, windows of %d)\n", r->n_ids,
	    r->n_pred, ctx);
	printf("loss: %.6f nats/token\n", mean);
	if (n_bytes)
		printf("bits per byte: %.6f (%zu bytes)\n", bpb, n_bytes);
	else
		printf("bits per byte: unknown (no tokenizer for the ids)\n");
	printf("perplexity: %.4f\n", exp(mean));
}

static int
eval_main(int argc, char **argv)
{
	struct lm_options o;
	struct lm_model *m = NULL;
	struct eval_result r;
	int32_t *ids = NULL;
	size_t n = 0, n_bytes = 0;
	FILE *npy = NULL;
	char *ops[2];
	const char *path;
	int n_ops, rc;

	if ((rc = cli_model_parse(&cli_cmd_eval, &o, argc, argv, ops, 2,
	    &n_ops)) != -1)
		return rc;
	if (n_ops != 1) {
		cli_error("eval: give one FILE (see lmsh eval --help)");
		options_fini(&o);
		return CLI_EXIT_USAGE;
	}
	path = ops[0];
	rc = CLI_EXIT_ERROR;
	if ((m = cli_load_model(&o)) == NULL)
		goto out;
	if ((ids = eval_read_ids(&o, path, &n, &n_bytes)) == NULL)
		goto out;
	/* one row of logits is well defined; only the loss needs two */
	if (n < (o.dump_logits != NULL ? 1u : 2u)) {
		cli_error("%s: %zu tokens: eval needs at least 2", path, n);
		goto out;
	}
	if (o.dump_logits != NULL && ((npy = fopen(o.dump_logits, "wb")) ==
	    NULL || eval_npy_header(npy, n,
	    (size_t)model_config(m)->vocab_size) == -1)) {
		cli_error("%s: %s", o.dump_logits, strerror(errno));
		goto out;
	}
	if (eval_run_windows(m, ids, n, npy, o.dump_logits, &r) == -1)
		goto out;
	if (npy != NULL) {
		FILE *f = npy;

		npy = NULL;
		if (fclose(f) == EOF) {
			cli_error("%s: %s", o.dump_logits, strerror(errno));
			goto out;
		}
	}
	if (r.n_pred == 0)
		cli_note("%s: 1 token: its logits are in %s; the loss needs at "
		    "least 2 tokens", path, o.dump_logits);
	else
		eval_print(&o, path, &r, n_bytes,
		    model_config(m)->context_length);
	rc = CLI_EXIT_OK;
out:
	if (npy != NULL)
		fclose(npy);
	free(ids);
	model_close(m);
	options_fini(&o);
	return rc;
}

static const struct options_use eval_opts[] = {
	{ OPT_MODEL, "model directory (config.json, model.safetensors, "
	    "vocab.json, merges.txt)" },
	OPTIONS_USE_MODEL,
	{ OPT_TOKENS, "FILE holds token ids separated by whitespace or "
	    "commas, not text" },
	{ OPT_DUMP_LOGITS, "write the float32 logits of every position as a "
	    "NumPy array [n_tokens, vocab_size]" },
	{ OPT_JSON, "print the figures as one JSON object" },
	{ OPT_THREADS, NULL }, { OPT_DEVICE, NULL }, { OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_eval = {
	"eval", eval_main,
	"loss, bits per byte and perplexity of a model on a text",
	"usage: lmsh eval [options] FILE\n"
	"\n"
	"Score FILE with the model: mean loss in nats per token, bits per byte\n"
	"of text (total nats / ln 2 / bytes) and perplexity.  The file is cut\n"
	"into windows of the context length; every token but the first is\n"
	"predicted once.\n",
	eval_opts
};

/* --- convert ---------------------------------------------------------------- */

static int
convert_copy(const char *from, const char *dir, const char *name)
{
	struct err err;
	char *data, *to;
	size_t len;
	int rc;

	if (util_read_file(from, &data, &len, &err) == -1) {
		cli_error("%s", err.msg);
		return -1;
	}
	to = xasprintf("%s/%s", dir, name);
	if ((rc = util_write_file_atomic(to, data, len, &err)) == -1)
		cli_error("%s", err.msg);
	free(to);
	free(data);
	return rc;
}

static int
convert_dtype(const char *s, enum weights_dtype *dt)
{
	if (s == NULL || strcmp(s, "f32") == 0 || strcmp(s, "float32") == 0)
		*dt = WEIGHTS_F32;
	else if (strcmp(s, "bf16") == 0 || strcmp(s, "bfloat16") == 0)
		*dt = WEIGHTS_BF16;
	else if (strcmp(s, "f16") == 0 || strcmp(s, "float16") == 0)
		*dt = WEIGHTS_F16;
	else {
		cli_error("--dtype %s: expected f32, bf16 or f16", s);
		return -1;
	}
	return 0;
}

static int
convert_main(int argc, char **argv)
{
	struct lm_options o;
	struct lm_model *m = NULL;
	struct bpe *b = NULL;
	struct err err;
	enum weights_dtype dt;
	char *p = NULL, *ops[2];
	int n_ops, rc;

	if ((rc = cli_model_parse(&cli_cmd_convert, &o, argc, argv, ops, 2,
	    &n_ops)) != -1)
		return rc;
	if (n_ops == 1 && o.src->checkpoint == NULL)
		o.src->checkpoint = ops[0];
	else if (n_ops != 0 || o.src->checkpoint == NULL) {
		cli_error("convert: give one CHECKPOINT (see lmsh convert "
		    "--help)");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	rc = CLI_EXIT_USAGE;
	if (o.out == NULL || o.vocab == NULL || o.merges == NULL) {
		cli_error("convert: -o DIR, --vocab and --merges are required");
		goto out;
	}
	if (convert_dtype(o.dtype, &dt) == -1)
		goto out;
	rc = CLI_EXIT_ERROR;
	/* Load everything first: nothing is written for a bad input. */
	if ((m = cli_load_model(&o)) == NULL || (b = cli_load_bpe(&o, 1)) ==
	    NULL)
		goto out;
	if (bpe_n_vocab(b) > (size_t)model_config(m)->vocab_size)
		cli_warn("%s: %zu tokens, more than the model's vocab_size %d",
		    o.vocab, bpe_n_vocab(b), model_config(m)->vocab_size);
	if (util_mkdir_p(o.out, 0755, &err) == -1) {
		cli_error("%s", err.msg);
		goto out;
	}
	p = xasprintf("%s/model.safetensors", o.out);
	if (model_save(m, p, dt, &err) == -1) {
		cli_error("%s", err.msg);
		goto out;
	}
	free(p);
	p = xasprintf("%s/config.json", o.out);
	if (model_config_save(model_config(m), p, &err) == -1) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (convert_copy(o.vocab, o.out, "vocab.json") == -1 ||
	    convert_copy(o.merges, o.out, "merges.txt") == -1)
		goto out;
	printf("%s: %s weights, config.json, vocab.json, merges.txt\n", o.out,
	    weights_dtype_name(dt));
	rc = CLI_EXIT_OK;
out:
	free(p);
	bpe_free(b);
	model_close(m);
	options_fini(&o);
	return rc;
}

static const struct options_use convert_opts[] = {
	{ OPT_CHECKPOINT, "the checkpoint (or give it as the operand)" },
	{ OPT_CONFIG, "model_config.json (or the shape flags; missing ones "
	    "are read off the tensor shapes where possible)" },
	OPTIONS_USE_SHAPE,
	{ OPT_VOCAB, "GPT-2 style vocab.json" },
	{ OPT_MERGES, "merges.txt" },
	{ OPT_OUTPUT_DIR, NULL }, { OPT_DTYPE, NULL }, { OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_convert = {
	"convert", convert_main,
	"turn a PyTorch checkpoint into a model directory",
	"usage: lmsh convert [options] CHECKPOINT -o DIR --vocab FILE "
	"--merges FILE\n"
	"\n"
	"Check CHECKPOINT (.pt: a state dict or a training checkpoint\n"
	"{\"model\", \"optimizer\", \"iteration\"}; or .safetensors) against its\n"
	"config and write the model directory DIR: config.json,\n"
	"model.safetensors, vocab.json and merges.txt.\n",
	convert_opts
};
