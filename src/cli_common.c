/*
 * cli_common.c: what every one-shot subcommand and the REPL share: option
 * parsing with --help, error printing, and turning the options into a
 * tokenizer and a model (a model directory, a checkpoint with its config, or
 * the bundled model).
 */
#include "config.h"

#include <stdarg.h>
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

int
cli_parse(const struct cli_command *cmd, struct lm_options *o, int argc,
    char **argv, int *optind_out)
{
	options_init(o);
	switch (options_parse(o, cmd->name, argc, argv, optind_out)) {
	case OPTIONS_OK:
		break;
	case OPTIONS_HELP:
		fputs(cmd->usage, stdout);
		return CLI_EXIT_OK;
	case OPTIONS_EXIT_OK:
		return CLI_EXIT_OK;
	case OPTIONS_USAGE:
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
	if (o->src.checkpoint != NULL)
		return o->src.checkpoint;
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

	if (o->model != NULL && o->src.checkpoint == NULL &&
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

struct lm_model *
cli_load_model(const struct lm_options *o)
{
	struct lm_model_source	 src = o->src;
	struct lm_model		*m;
	struct err		 err;
	const char		*p = cli_model_path(o);

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
	if ((m = model_open(&src, &err)) == NULL) {
		cli_error("%s", err.msg);
		return NULL;
	}
	if (model_warnings(m) != NULL)
		cli_warn("%s", model_warnings(m));
	if (o->threads > 0)
		model_set_threads(m, o->threads);
	return m;
}
