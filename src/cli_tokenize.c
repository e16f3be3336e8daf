/*
 * cli_tokenize.c: the tokenizer subcommands.  `lmsh tokenize` turns text
 * (arguments, --prompt-file FILE or -, or standard input) into ids,
 * `lmsh detokenize` turns ids back into text, and `lmsh bpe-train` trains
 * a byte-level BPE and writes vocab.json + merges.txt.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "bpe_train.h"
#include "cli.h"
#include "options.h"
#include "util.h"

/* Read all of stdin or a file ("-" is stdin). */
static int
tok_read(const char *path, char **text, size_t *len)
{
	struct err err;

	if (strcmp(path, "-") == 0)
		path = "/dev/stdin";
	if (util_read_file(path, text, len, &err) != 0) {
		cli_error("%s", err.msg);
		return -1;
	}
	return 0;
}

/* The text to tokenize: operands joined by spaces, else --prompt-file,
 * else --prompt, else standard input. */
static int
tok_text(const struct lm_options *o, char **ops, int n_ops, char **text,
    size_t *len)
{
	struct buf b;

	if (n_ops == 1 && strcmp(ops[0], "-") == 0)
		return tok_read("-", text, len);
	if (n_ops > 0) {
		buf_init(&b);
		buf_append(&b, "", 0);
		for (int i = 0; i < n_ops; i++) {
			if (i > 0)
				buf_append(&b, " ", 1);
			buf_puts(&b, ops[i]);
		}
		*text = b.data;
		*len = b.len;
		return 0;
	}
	if (o->prompt_file != NULL)
		return tok_read(o->prompt_file, text, len);
	if (o->prompt != NULL) {
		*text = xstrdup(o->prompt);
		*len = strlen(o->prompt);
		return 0;
	}
	return tok_read("-", text, len);
}

static int
tok_print(const struct bpe *b, const char *fmt, const int32_t *ids, size_t n)
{
	struct buf out;

	buf_init(&out);
	buf_append(&out, "", 0);
	if (strcmp(fmt, "count") == 0)
		buf_printf(&out, "%zu\n", n);
	else if (strcmp(fmt, "json") == 0) {
		buf_json(&out, util_json_ids(ids, n));
		buf_puts(&out, "\n");
	} else if (strcmp(fmt, "pieces") == 0) {
		for (size_t i = 0; i < n; i++) {
			size_t		 len;
			const char	*s = bpe_token_bytes(b, ids[i], &len);

			buf_printf(&out, "%d\t", (int)ids[i]);
			buf_escape(&out, s, len, BUF_ESC_TOKEN);
			buf_puts(&out, "\n");
		}
	} else {
		for (size_t i = 0; i < n; i++)
			buf_printf(&out, "%s%d", i ? " " : "", (int)ids[i]);
		buf_puts(&out, "\n");
	}
	fwrite(out.data, 1, out.len, stdout);
	buf_fini(&out);
	if (fflush(stdout) != 0) {
		cli_error("stdout: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int
tokenize_run(int argc, char **argv)
{
	struct lm_options	 o;
	struct err		 err;
	struct bpe		*b = NULL;
	char			**ops = NULL, *text = NULL;
	int			 n_ops, rc;
	size_t			 len, n_ids = 0;
	int32_t			*ids = NULL;
	const char		*fmt;

	if ((rc = cli_parse_ops(&cli_cmd_tokenize, &o, argc, argv, &ops,
	    &n_ops)) >= 0)
		goto out;
	rc = CLI_EXIT_USAGE;
	fmt = o.format != NULL ? o.format : "ids";
	if (strcmp(fmt, "ids") != 0 && strcmp(fmt, "json") != 0 &&
	    strcmp(fmt, "pieces") != 0 && strcmp(fmt, "count") != 0) {
		cli_error("--format %s: expected ids, json, pieces or count", fmt);
		goto out;
	}
	rc = CLI_EXIT_ERROR;
	if ((b = cli_load_bpe(&o, 1)) == NULL)
		goto out;
	if (tok_text(&o, ops, n_ops, &text, &len) != 0)
		goto out;
	if (bpe_encode(b, text, len, o.replace_invalid ? BPE_UTF8_REPLACE :
	    BPE_UTF8_STRICT, &ids, &n_ids, &err) != 0) {
		cli_error("tokenize: %s%s", err.msg, o.replace_invalid ? "" :
		    " (--replace-invalid turns bad bytes into U+FFFD)");
		goto out;
	}
	if (tok_print(b, fmt, ids, n_ids) == 0)
		rc = CLI_EXIT_OK;
out:
	free(ids);
	free(text);
	free(ops);
	bpe_free(b);
	options_fini(&o);
	return rc;
}

static const struct options_use tokenize_opts[] = {
	{ OPT_MODEL, "tokenizer of this model directory" },
	{ OPT_VOCAB, NULL }, { OPT_MERGES, NULL }, { OPT_TOKENIZER, NULL },
	{ OPT_SPECIAL, NULL },
	{ OPT_PROMPT, "tokenize TEXT (when there are no operands)" },
	{ OPT_PROMPT_FILE, "read the text from FILE (- = stdin)" },
	{ OPT_FORMAT, "ids (default), json, pieces (id and text per line) or "
	    "count" },
	{ OPT_REPLACE_INVALID, NULL }, { OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_tokenize = { "tokenize", tokenize_run,
    "text to token ids",
    "usage: lmsh tokenize [options] [TEXT...]\n"
    "Print the token ids of TEXT (the operands joined by spaces), of\n"
    "--prompt-file FILE (- for standard input), --prompt TEXT, or of\n"
    "standard input.\n"
    "The text is taken byte for byte: a trailing newline is a token too.\n",
    tokenize_opts };

static int
detok_parse_ids(const char *s, int32_t **ids, size_t *n, size_t *cap)
{
	struct err err;

	if (cli_parse_ids(s, strlen(s), ids, n, cap, &err) != 0) {
		cli_error("detokenize: %s", err.msg);
		return -1;
	}
	return 0;
}

static int
detokenize_run(int argc, char **argv)
{
	struct lm_options	 o;
	struct err		 err;
	struct bpe		*b = NULL;
	char			**ops = NULL, *text = NULL, *out = NULL;
	int			 n_ops, rc;
	size_t			 len, n_ids = 0, cap = 0, out_len;
	int32_t			*ids = NULL;

	if ((rc = cli_parse_ops(&cli_cmd_detokenize, &o, argc, argv, &ops,
	    &n_ops)) >= 0)
		goto out;
	rc = CLI_EXIT_ERROR;
	if ((b = cli_load_bpe(&o, 1)) == NULL)
		goto out;
	if (n_ops == 0 || (n_ops == 1 && strcmp(ops[0], "-") == 0)) {
		if (tok_read(o.prompt_file ? o.prompt_file : "-", &text,
		    &len) != 0)
			goto out;
		if (detok_parse_ids(text, &ids, &n_ids, &cap) != 0)
			goto out;
	}
	for (int i = 0; i < n_ops; i++)
		if (strcmp(ops[i], "-") != 0 &&
		    detok_parse_ids(ops[i], &ids, &n_ids, &cap) != 0)
			goto out;
	if (bpe_decode(b, ids, n_ids, o.replace_invalid ? BPE_UTF8_REPLACE :
	    BPE_UTF8_STRICT, &out, &out_len, &err) != 0) {
		cli_error("detokenize: %s", err.msg);
		goto out;
	}
	if (util_write_text(stdout, out, out_len, util_escape_for(stdout,
	    o.raw)) != 0 || fflush(stdout) != 0) {
		cli_error("stdout: %s", strerror(errno));
		goto out;
	}
	rc = CLI_EXIT_OK;
out:
	free(out);
	free(ids);
	free(text);
	free(ops);
	bpe_free(b);
	options_fini(&o);
	return rc;
}

static const struct options_use detokenize_opts[] = {
	{ OPT_MODEL, "tokenizer of this model directory" },
	{ OPT_VOCAB, NULL }, { OPT_MERGES, NULL }, { OPT_TOKENIZER, NULL },
	{ OPT_SPECIAL, NULL },
	{ OPT_PROMPT_FILE, "read the ids from FILE (- = stdin)" },
	{ OPT_REPLACE_INVALID, "write U+FFFD for bytes that are not UTF-8 "
	    "instead of failing" },
	{ OPT_RAW, "to a terminal too, the bytes as they are" },
	{ OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_detokenize = { "detokenize", detokenize_run,
    "token ids to text",
    "usage: lmsh detokenize [options] [ID...]\n"
    "Print the text of the token ids given as operands or on standard input\n"
    "(separated by spaces or commas; a JSON array works).  Nothing is added:\n"
    "no newline at the end.  On a terminal, control characters are shown\n"
    "escaped (\\x1b) unless --raw.\n",
    detokenize_opts };

struct train_progress {
	int	on;		/* stderr is a terminal and not --no-progress */
	double	last;		/* util_now() of the last line */
	int	shown;		/* a line is on screen */
};

static void
train_progress(void *arg, const char *stage, double done, double total)
{
	struct train_progress	*p = arg;
	double			 now = util_now();

	if (!p->on || (now - p->last < 0.2 && done < total))
		return;
	p->last = now;
	p->shown = 1;
	if (strcmp(stage, "reading") == 0)
		fprintf(stderr, "\rbpe-train: reading %.1f of %.1f MB   ",
		    done / 1e6, total / 1e6);
	else
		fprintf(stderr, "\rbpe-train: merging %.0f of %.0f        ",
		    done, total);
	fflush(stderr);
}

static int
bpe_train_run(int argc, char **argv)
{
	struct lm_options	 o;
	struct bpe_train_opts	 to;
	struct train_progress	 pr = { 0, 0, 0 };
	struct err		 err;
	struct bpe		*b = NULL;
	char			**ops = NULL, *vp = NULL, *mp = NULL;
	int			 n_ops, rc;
	double			 t0 = util_now();

	if ((rc = cli_parse_ops(&cli_cmd_bpe_train, &o, argc, argv, &ops,
	    &n_ops)) >= 0)
		goto out;
	rc = CLI_EXIT_USAGE;
	if (o.vocab_size <= 0 || o.out == NULL || n_ops == 0) {
		cli_error("bpe-train: needs --vocab-size N, -o DIR and at least "
		    "one CORPUS file");
		fputs("Try 'lmsh bpe-train --help'.\n", stderr);
		goto out;
	}
	rc = CLI_EXIT_ERROR;
	memset(&to, 0, sizeof to);
	to.vocab_size = (size_t)o.vocab_size;
	to.special = o.special;
	to.n_special = (size_t)o.n_special;
	to.threads = o.threads;
	to.utf8 = o.replace_invalid ? BPE_UTF8_REPLACE : BPE_UTF8_STRICT;
	pr.on = !o.no_progress && isatty(STDERR_FILENO);
	to.progress = train_progress;
	to.progress_arg = &pr;
	b = bpe_train_files((const char *const *)ops, (size_t)n_ops, &to, &err);
	if (pr.shown)
		fputc('\n', stderr);
	if (b == NULL) {
		cli_error("bpe-train: %s", err.msg);
		goto out;
	}
	if (util_mkdir_p(o.out, 0755, &err) != 0) {
		cli_error("bpe-train: %s", err.msg);
		goto out;
	}
	vp = xasprintf("%s/vocab.json", o.out);
	mp = xasprintf("%s/merges.txt", o.out);
	if (bpe_save(b, vp, mp, &err) != 0) {
		cli_error("bpe-train: %s", err.msg);
		goto out;
	}
	if (pr.on)
		fprintf(stderr, "bpe-train: %zu tokens (%zu merges) in %.2f s "
		    "-> %s\n", bpe_n_vocab(b), bpe_n_merges(b), util_now() - t0,
		    o.out);
	rc = CLI_EXIT_OK;
out:
	free(vp);
	free(mp);
	free(ops);
	bpe_free(b);
	options_fini(&o);
	return rc;
}

static const struct options_use bpe_train_opts[] = {
	{ OPT_VOCAB_SIZE, "final vocabulary size (specials + 256 + merges)" },
	{ OPT_SPECIAL, "a special token (repeatable; in order)" },
	{ OPT_OUTPUT_DIR, NULL },
	{ OPT_THREADS, "pre-tokenizing threads (default: all cores)" },
	{ OPT_REPLACE_INVALID, NULL }, { OPT_NO_PROGRESS, NULL },
	{ OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_bpe_train = { "bpe-train", bpe_train_run,
    "train a byte-level BPE tokenizer",
    "usage: lmsh bpe-train --vocab-size N [--special-token TOK]... CORPUS... "
    "-o DIR\n"
    "Train a byte-level BPE on the CORPUS files and write DIR/vocab.json and\n"
    "DIR/merges.txt (GPT-2 format).  Ids: the special tokens first, then the\n"
    "256 bytes, then one token per merge.  Special tokens are never merged\n"
    "across; ties go to the lexicographically greater pair.\n",
    bpe_train_opts };
