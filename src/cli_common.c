/*
 * cli_common.c: what every one-shot subcommand and the REPL share: option
 * parsing with --help, error printing, and turning the options into a
 * tokenizer and a model (a model directory, a checkpoint with its config, or
 * the bundled model).
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpe.h"
#include "cli.h"
#include "model.h"
#include "options.h"
#include "util.h"

#define CLI_BUNDLED_NAME "tinystories"

/*
 * Write cmd's --help to f: the usage lines and prose, then the option list
 * generated from the options the command takes.
 */
void
cli_usage(const struct cli_command *cmd, FILE *f)
{
	struct buf b;

	buf_init(&b);
	options_usage(&b, cmd->opts);
	fputs(cmd->usage, f);
	fputs("\n", f);
	fwrite(b.data, 1, b.len, f);
	buf_fini(&b);
}

int
cli_parse(const struct cli_command *cmd, struct lm_options *o, int argc,
    char **argv, int *optind_out)
{
	struct err	 err;
	const char	*name = cmd->name ? cmd->name : "";

	options_init(o);
	switch (options_parse(o, cmd->opts, argc, argv, optind_out, &err)) {
	case OPTIONS_OK:
		break;
	case OPTIONS_HELP:
		cli_usage(cmd, stdout);
		options_fini(o);
		return CLI_EXIT_OK;
	case OPTIONS_VERSION:
		printf("lmsh %s\n", PACKAGE_VERSION);
		options_fini(o);
		return CLI_EXIT_OK;
	case OPTIONS_USAGE:
		fprintf(stderr, "lmsh%s%s: %s\nTry 'lmsh%s%s --help'.\n",
		    *name ? " " : "", name, err.msg, *name ? " " : "", name);
		options_fini(o);
		return CLI_EXIT_USAGE;
	}
	if (o->log_path != NULL)
		log_open(o->log_path);
	return -1;
}

int
cli_parse_ops(const struct cli_command *cmd, struct lm_options *o, int argc,
    char **argv, char ***ops, int *n_ops)
{
	int ind, rc;

	*ops = NULL;
	*n_ops = 0;
	if ((rc = cli_parse(cmd, o, argc, argv, &ind)) != -1)
		return rc;
	*n_ops = argc - ind;
	*ops = xcalloc((size_t)*n_ops + 1, sizeof **ops);
	memcpy(*ops, argv + ind, (size_t)*n_ops * sizeof **ops);
	return -1;
}

/* One message line on stderr.  Messages quote file names and file content
 * (a token, a config key): controls are shown, never sent, even into a
 * file (util.c's buf_escape()). */
static void
cli_vmessage(const char *head, const char *fmt, va_list ap)
{
	char		 msg[2048];
	struct buf	 b;

	vsnprintf(msg, sizeof msg, fmt, ap);
	buf_init(&b);
	buf_puts(&b, head);
	buf_escape(&b, msg, strlen(msg), BUF_ESC_TEXT);
	buf_puts(&b, "\n");
	fputs(b.data, stderr);
	buf_fini(&b);
}

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("lmsh: ", fmt, ap);
	va_end(ap);
}

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("lmsh: warning: ", fmt, ap);
	va_end(ap);
}

/* A notice on stderr: what lmsh chose for the user (which config). */
void
cli_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("lmsh: ", fmt, ap);
	va_end(ap);
}

static int
cli_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
cli_is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * The installed copy wins; a binary run from its build tree falls back to
 * the source tree's share/, so `make && src/lmsh` works without installing.
 */
const char *
cli_default_model(void)
{
	static char	 path[4096];
	const char	*roots[] = { LMSH_PKGDATADIR, LMSH_SRCDIR "/share" };

	for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", roots[i], CLI_BUNDLED_NAME);
		if (cli_is_dir(path))
			return path;
	}
	return NULL;
}

const char *
cli_model_path(const struct lm_options *o)
{
	if (o->src->checkpoint != NULL)
		return o->src->checkpoint;
	if (o->model != NULL)
		return o->model;
	return cli_default_model();
}

/* The directory that holds the tokenizer files, if the model is one. */
static const char *
cli_model_dir(const struct lm_options *o)
{
	const char *p = cli_model_path(o);

	return p != NULL && cli_is_dir(p) ? p : NULL;
}

struct bpe *
cli_load_bpe(const struct lm_options *o, int required)
{
	struct err	 err;
	struct bpe	*b = NULL;
	const char	*dir = cli_model_dir(o);
	const char	*merges = NULL;		/* the merges.txt loaded */
	struct stat	 st;
	char		*v = NULL, *m = NULL, *t = NULL;

	if (o->model != NULL && o->src->checkpoint == NULL &&
	    !cli_is_dir(o->model) && !cli_is_file(o->model)) {
		cli_error("%s: no such model directory or file", o->model);
		return NULL;
	}
	if (o->tokenizer != NULL)
		b = bpe_load_hf(o->tokenizer, &err);
	else if (o->vocab != NULL || o->merges != NULL) {
		if (o->vocab == NULL || o->merges == NULL) {
			cli_error("--vocab and --merges go together");
			return NULL;
		}
		b = bpe_load(o->vocab, merges = o->merges, &err);
	} else if (dir != NULL) {
		v = xasprintf("%s/vocab.json", dir);
		m = xasprintf("%s/merges.txt", dir);
		t = xasprintf("%s/tokenizer.json", dir);
		if (cli_is_file(v) && cli_is_file(m))
			b = bpe_load(v, merges = m, &err);
		else if (cli_is_file(t))
			b = bpe_load_hf(t, &err);
		else
			err_set(&err, "%s: no vocab.json + merges.txt or "
			    "tokenizer.json", dir);
	} else
		err_set(&err, "no tokenizer: give --vocab and --merges, "
		    "--tokenizer, or --model DIR");
	/* an empty file is a mistake more often than a byte-level tokenizer,
	 * which bpe-train writes with its "#version" line */
	if (b != NULL && merges != NULL && bpe_n_merges(b) == 0 &&
	    stat(merges, &st) == 0 && st.st_size == 0)
		cli_warn("%s: no merges: every byte is a token", merges);
	free(v);
	free(m);
	free(t);
	if (b == NULL) {
		if (required)
			cli_error("%s", err.msg);
		return NULL;
	}
	for (int i = 0; i < o->n_special; i++) {
		if (bpe_add_special(b, o->special[i], &err) != 0) {
			cli_error("--special-token: %s", err.msg);
			bpe_free(b);
			return NULL;
		}
	}
	return b;
}

/*
 * Warn when the tokenizer has fewer tokens than the model's vocabulary: the
 * ids above it have no text (a padded vocabulary, or the wrong tokenizer).
 */
void
cli_check_vocab(const struct bpe *b, const struct lm_model *m)
{
	if (b != NULL && bpe_n_vocab(b) < (size_t)model_config(m)->vocab_size)
		cli_warn("the tokenizer has %zu tokens, the model's vocab_size "
		    "is %d: ids from %zu on have no text", bpe_n_vocab(b),
		    model_config(m)->vocab_size, bpe_n_vocab(b));
}

/*
 * The config CS336 training saves beside a checkpoint file: DIR/
 * model_config.json, else DIR/config.json, or NULL.  Caller frees.
 */
static char *
cli_config_beside(const char *checkpoint)
{
	static const char *const names[] = { "model_config.json",
	    "config.json" };
	const char *slash = strrchr(checkpoint, '/');

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *p = slash == NULL ? xstrdup(names[i]) :
		    xasprintf("%.*s/%s", (int)(slash - checkpoint), checkpoint,
		    names[i]);

		if (cli_is_file(p))
			return p;
		free(p);
	}
	return NULL;
}

/*
 * The model the options name (--checkpoint_path with --config or the
 * config beside it, --model DIR, or the bundled model), with its warnings
 * and a note on which config was used printed.  NULL after printing the
 * error.
 */
struct lm_model *
cli_load_model(const struct lm_options *o)
{
	struct lm_model_source	 src = *o->src;
	struct lm_model		*m;
	struct err		 err;
	const char		*p = cli_model_path(o);
	char			*beside = NULL;
	int			 no_config = 0;

	if (src.checkpoint == NULL) {
		if (p == NULL) {
			cli_error("no model: give --model DIR or "
			    "--checkpoint_path FILE (the bundled model is not "
			    "installed)");
			return NULL;
		}
		if (cli_is_dir(p))
			src.dir = p;
		else
			src.checkpoint = p;
	}
	if (src.checkpoint != NULL && src.config_path == NULL &&
	    src.config_json == NULL && !cli_is_dir(src.checkpoint)) {
		if ((beside = cli_config_beside(src.checkpoint)) != NULL) {
			src.config_path = beside;
			cli_note("model config: %s", beside);
		} else
			no_config = 1;
	}
	m = model_open(&src, &err);
	free(beside);
	if (m == NULL) {
		cli_error("%s", err.msg);
		return NULL;
	}
	/* post-norm and NoPE leave no trace in the tensors */
	if (no_config)
		cli_note("no model config beside %s: assuming pre-norm%s "
		    "(--config FILE says otherwise)", src.checkpoint,
		    model_config(m)->pos_emb == LM_YES ? "" : " with RoPE");
	if (model_warnings(m) != NULL)
		cli_warn("%s", model_warnings(m));
	if (o->threads > 0)
		model_set_threads(m, o->threads);
	return m;
}

/*
 * Append the token ids in s[0, len) to *ids (*n used, *cap allocated; the
 * caller frees *ids): decimal ids in [0, 2^31), separated by whitespace or
 * commas, brackets ignored, so that tokenize's JSON array reads back.
 * Returns 0, or -1 with err naming the first word that is no token id and
 * its byte offset.
 */
int
cli_parse_ids(const char *s, size_t len, int32_t **ids, size_t *n,
    size_t *cap, struct err *err)
{
	size_t i = 0;

	while (i < len) {
		const char	*w = s + i;
		size_t		 wl = 0, k;
		uint64_t	 v = 0;

		if (isspace((unsigned char)*w) || strchr(",[]", *w) != NULL) {
			i++;
			continue;
		}
		while (i + wl < len && !isspace((unsigned char)w[wl]) &&
		    strchr(",[]", w[wl]) == NULL)
			wl++;
		for (k = 0; k < wl && isdigit((unsigned char)w[k]) &&
		    v <= INT32_MAX; k++)
			v = 10 * v + (uint64_t)(w[k] - '0');
		if (k == 0 || k < wl || v > INT32_MAX) {
			err_set(err, "byte %zu: '%.*s' is not a token id", i,
			    (int)(wl < 40 ? wl : 40), w);
			return -1;
		}
		if (*n == *cap) {
			*cap = *cap ? 2 * *cap : 256;
			*ids = xreallocarray(*ids, *cap, sizeof **ids);
		}
		(*ids)[(*n)++] = (int32_t)v;
		i += wl;
	}
	return 0;
}
