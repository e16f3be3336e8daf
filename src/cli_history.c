/*
 * cli_history.c: `lmsh history` (list, show, search, export and delete
 * recorded turns) and `lmsh replay` (regenerate a turn and compare it token
 * by token, or record a variation of it).  The store is history.c; the
 * regeneration is replay.c; this file turns options into calls and prints.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpe.h"
#include "cli.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "model.h"
#include "options.h"
#include "record.h"
#include "replay.h"
#include "util.h"

#define CLI_HISTORY_PAGER	"less -FRX"

static int
cli_history_id(const char *s, int64_t *id)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v <= 0) {
		cli_error("'%s' is not a turn id", s);
		return -1;
	}
	*id = v;
	return 0;
}

/*
 * Open the history the options name.  Readers open read-only (an older
 * file they may write is upgraded first by history_open()); *missing is
 * set, and NULL returned quietly, when a reader finds no file.
 */
static struct history *
cli_history_open(const struct lm_options *o, int write, int *missing)
{
	struct err	 err;
	struct history	*h;
	char		*path;

	*missing = 0;
	if (o->no_history) {
		cli_error("history is off (--no-history)");
		return NULL;
	}
	path = o->history ? xstrdup(o->history) : history_default_path();
	if (path != NULL && !write && access(path, F_OK) != 0 &&
	    errno == ENOENT) {
		*missing = 1;
		free(path);
		return NULL;
	}
	if ((h = history_open(path, !write, &err)) == NULL)
		cli_error("%s", err.msg);
	free(path);
	return h;
}

static int
cli_history_flush(struct buf *b)
{
	int rc = 0;

	if (b->len > 0 && fwrite(b->data, 1, b->len, stdout) != b->len)
		rc = -1;
	if (fflush(stdout) != 0)
		rc = -1;
	if (rc != 0)
		cli_error("standard output: %s", strerror(errno));
	buf_fini(b);
	return rc;
}

/* The columns a list may take: the terminal's, else $COLUMNS, else no
 * limit (a pipe gets whole lines). */
static size_t
cli_history_width(void)
{
	struct winsize	 ws;
	const char	*env = getenv("COLUMNS");

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) ==
	    0 && ws.ws_col > 0)
		return ws.ws_col;
	if (env != NULL && atoi(env) > 0)
		return (size_t)atoi(env);
	return 0;
}

/*
 * On a terminal, text goes through $PAGER (default less -FRX, which
 * leaves a short list on the screen as it is); an empty $PAGER is none.
 * Returns 1 when the pager took the text (b is emptied), 0 to print it.
 */
static int
cli_history_page(struct buf *b)
{
	const char	*pager = getenv("PAGER");
	struct sigaction sa, old;
	FILE		*p;

	if (!isatty(STDOUT_FILENO) || b->len == 0 ||
	    (pager != NULL && *pager == '\0'))
		return 0;
	if (pager == NULL)
		pager = CLI_HISTORY_PAGER;
	fflush(stdout);
	if ((p = popen(pager, "w")) == NULL)
		return 0;
	/* quitting the pager early is not an error */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old);
	fwrite(b->data, 1, b->len, p);
	pclose(p);
	sigaction(SIGPIPE, &old, NULL);
	buf_fini(b);
	return 1;
}

/* show ID, delete ID...: every operand a turn id. */
static int
cli_history_ids(char **ops, int n, int64_t **ids)
{
	*ids = xcalloc((size_t)n + 1, sizeof **ids);
	for (int i = 0; i < n; i++)
		if (cli_history_id(ops[i], &(*ids)[i]) != 0)
			return -1;
	return 0;
}

/* Append the output of t token by token, each in its probability band's
 * SGR.  -1 when the turn has no probabilities or no tokenizer is found. */
static int
cli_history_color_output(const struct lm_options *o,
    const struct history_turn *t, struct buf *out)
{
	struct lm_options	 mo = *o;
	struct bpe		*bpe;
	struct bpe_stream	*bs;
	struct err		 err;
	const char		*p;
	size_t			 n;

	if (t->probs == NULL || t->n_probs != t->n_output) {
		cli_warn("turn %lld has no token probabilities (recorded "
		    "before schema version 4): shown without colour",
		    (long long)t->id);
		return -1;
	}
	if (mo.model == NULL)
		mo.model = t->model_path;
	if ((bpe = cli_load_bpe(&mo, 0)) == NULL ||
	    (bs = bpe_stream_new(bpe, BPE_UTF8_REPLACE)) == NULL) {
		bpe_free(bpe);
		cli_warn("turn %lld: no tokenizer: shown without colour",
		    (long long)t->id);
		return -1;
	}
	for (size_t i = 0; i < t->n_output; i++) {
		int band = cmd_band(history_prob_unpack(t->probs[i]));

		if (t->output_ids[i] == t->settings.eos_id ||
		    bpe_stream_push(bs, t->output_ids[i], &p, &n, &err) != 0)
			continue;
		buf_puts(out, cmd_band_sgr(band));
		buf_escape(out, p, n, BUF_ESC_TEXT);
		buf_puts(out, band > 0 ? "\033[0m" : "");
	}
	if (bpe_stream_flush(bs, &p, &n, &err) == 0)
		buf_escape(out, p, n, BUF_ESC_TEXT);
	bpe_stream_free(bs);
	bpe_free(bpe);
	return 0;
}

/*
 * history show --color: the turn as history show prints it, with the
 * output coloured by probability band and a legend line above it.
 */
static int
cli_history_show_color(struct history *h, const struct lm_options *o,
    int64_t id, struct buf *out, struct err *err)
{
	struct history_turn	 t;
	struct buf		 plain;
	const char		*cut;
	int			 rc = -1;

	memset(&t, 0, sizeof t);
	buf_init(&plain);
	if (history_show(h, id, &plain, err) != 0 ||
	    history_get_turn(h, id, &t, err) != 0)
		goto out;
	cut = plain.data != NULL ? strstr(plain.data, "\n--- output\n") : NULL;
	if (cut == NULL) {
		buf_append(out, plain.data, plain.len);
		rc = 0;
		goto out;
	}
	buf_append(out, plain.data, (size_t)(cut - plain.data) + 1);
	buf_printf(out, "--- output (p>=.5 plain, %s.2-.5\033[0m, "
	    "%s.05-.2\033[0m, %s<.05\033[0m)\n", cmd_band_sgr(1),
	    cmd_band_sgr(2), cmd_band_sgr(3));
	if (cli_history_color_output(o, &t, out) != 0)
		buf_escape(out, t.output, t.output_len > 0 ? t.output_len :
		    strlen(t.output), BUF_ESC_TEXT);
	buf_puts(out, "\n");
	rc = 0;
out:
	history_turn_fini(&t);
	buf_fini(&plain);
	return rc;
}

/* Run one history action on an open file. */
static int
cli_history_do(struct history *h, const struct lm_options *o,
    const char *verb, char **ops, int n_ops, struct buf *out)
{
	struct err	 err;
	int64_t		*ids = NULL;
	int		 rc = -1;

	size_t		 width = cli_history_width();

	if (strcmp(verb, "sessions") == 0)
		rc = history_list_sessions(h, out, &err);
	else if (strcmp(verb, "list") == 0)
		rc = history_list_turns(h, o->count, o->session, o->json, width,
		    out, &err);
	else if (strcmp(verb, "search") == 0) {
		struct buf q;
		buf_init(&q);
		for (int i = 0; i < n_ops; i++)
			buf_printf(&q, "%s%s", i ? " " : "", ops[i]);
		rc = history_search_turns(h, q.data, o->count, o->json, width,
		    out, &err);
		buf_fini(&q);
	} else if (strcmp(verb, "export") == 0 && n_ops == 0 &&
	    o->session > 0) {
		rc = history_export_session(h, o->session, o->format != NULL &&
		    strcmp(o->format, "markdown") == 0, out, &err);
	} else if (cli_history_ids(ops, n_ops, &ids) != 0) {
		free(ids);
		return CLI_EXIT_USAGE;
	} else if (strcmp(verb, "show") == 0)
		rc = o->json ? history_show_json(h, ids[0], out, &err) :
		    o->color ? cli_history_show_color(h, o, ids[0], out, &err) :
		    history_show(h, ids[0], out, &err);
	else if (strcmp(verb, "export") == 0)
		rc = history_export(h, ids, (size_t)n_ops, o->format != NULL &&
		    strcmp(o->format, "markdown") == 0, out, &err);
	else if ((rc = history_delete_turns(h, ids, (size_t)n_ops, &err)) == 0)
		for (int i = 0; i < n_ops; i++)
			buf_printf(out, "deleted turn %lld\n",
			    (long long)ids[i]);
	free(ids);
	if (rc != 0)
		cli_error("%s", err.msg);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

/* Check the operands of each verb; an exit status, or -1 when fine. */
static int
cli_history_check(const struct lm_options *o, const char *verb, int n_ops)
{
	if ((strcmp(verb, "list") == 0 || strcmp(verb, "sessions") == 0) &&
	    n_ops == 0)
		return -1;
	if (strcmp(verb, "show") == 0 && n_ops == 1)
		return -1;
	if (strcmp(verb, "search") == 0 && n_ops > 0)
		return -1;
	if (strcmp(verb, "delete") == 0 && n_ops > 0)
		return -1;
	if (strcmp(verb, "export") == 0) {
		if (o->format != NULL && strcmp(o->format, "json") != 0 &&
		    strcmp(o->format, "markdown") != 0) {
			cli_error("--format %s: expected json or markdown",
			    o->format);
			return CLI_EXIT_USAGE;
		}
		if ((n_ops > 0) + o->all + (o->session > 0) != 1)
			cli_error("export: give turn ids, --session ID or "
			    "--all: one of them");
		else
			return -1;
		return CLI_EXIT_USAGE;
	}
	cli_error("history %s: wrong number of operands, or unknown action "
	    "(list, sessions, show, search, export, delete)", verb);
	return CLI_EXIT_USAGE;
}

static int
history_run(int argc, char **argv)
{
	struct lm_options	 o;
	struct history		*h = NULL;
	struct buf		 out;
	char			**ops = NULL, *verb = "list";
	int			 n_ops, rc, missing;

	buf_init(&out);
	rc = cli_parse_ops(&cli_cmd_history, &o, argc, argv, &ops, &n_ops);
	if (rc >= 0)
		goto out;
	if (n_ops > 0) {
		verb = ops[0];
		n_ops--;
	}
	if ((rc = cli_history_check(&o, verb, n_ops)) >= 0)
		goto out;
	h = cli_history_open(&o, strcmp(verb, "delete") == 0, &missing);
	if (h == NULL && missing) {
		/* nothing recorded yet: empty lists, but no turn to show */
		if (strcmp(verb, "list") == 0 || strcmp(verb, "search") == 0 ||
		    (strcmp(verb, "export") == 0 && o.all)) {
			if (o.json || (strcmp(verb, "export") == 0 &&
			    (o.format == NULL || strcmp(o.format, "json") == 0)))
				buf_puts(&out, "[]\n");
			else if (strcmp(verb, "search") == 0)
				buf_puts(&out, "no turns match\n");
			else if (strcmp(verb, "list") == 0)
				buf_puts(&out, "no turns\n");
			rc = cli_history_flush(&out) ? CLI_EXIT_ERROR : 0;
			goto out;
		}
		cli_error("no history recorded yet");
	}
	rc = CLI_EXIT_ERROR;
	if (h == NULL)
		goto out;
	rc = cli_history_do(h, &o, verb, ops + 1, n_ops, &out);
	if ((o.json || strcmp(verb, "export") == 0 || strcmp(verb, "delete") ==
	    0 || !cli_history_page(&out)) && cli_history_flush(&out) != 0)
		rc = CLI_EXIT_ERROR;
out:
	history_close(h);
	buf_fini(&out);
	free(ops);
	options_fini(&o);
	return rc;
}

static const struct options_use history_opts[] = {
	{ OPT_COUNT, "at most N turns (default 20; 0 = all)" },
	{ OPT_SESSION, "only turns of session ID; with export, the session" },
	{ OPT_JSON, "one JSON array instead of text (show: one object)" },
	{ OPT_COLOR, "show: the output coloured by token probability" },
	{ OPT_ALL, "export every turn" },
	{ OPT_FORMAT, "export as json (default) or markdown" },
	{ OPT_HISTORY, "the history file (default $LMSH_HISTORY, else "
	    "$XDG_DATA_HOME/lmsh/history.db)" },
	{ OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_history = {
	"history", history_run,
	"list, show, search, export and delete recorded turns",
	"usage: lmsh history [list] [-n N] [--session ID] [--json]\n"
	"       lmsh history sessions\n"
	"       lmsh history show [--json | --color] ID\n"
	"       lmsh history search [-n N] [--json] WORD...\n"
	"       lmsh history export ID... | --session ID | --all\n"
	"                                 [--format json|markdown]\n"
	"       lmsh history delete ID...\n"
	"\n"
	"List recent turns (id, time, model, key settings, first line of the\n"
	"prompt), list the sessions (id, start, turns, name for --resume),\n"
	"show one turn in full, search prompts and outputs (every word\n"
	"must occur; best match first), export turns, or delete them.\n",
	history_opts
};

/* ---- replay ------------------------------------------------------------- */

/* Which recorded settings the command line overrides. */
static unsigned
cli_replay_mask(const struct lm_options *o)
{
	static const struct {
		enum options_id	opt;
		unsigned	replay;
	} map[] = {
		{ OPT_SEED, REPLAY_SEED },
		{ OPT_MAX_NEW, REPLAY_MAX_NEW },
		{ OPT_EOS, REPLAY_EOS },
		{ OPT_STOP, REPLAY_STOP },
	};
	unsigned m = 0;

	for (size_t i = 0; i < sampler_n_settings; i++)
		if (options_given(o, OPT_SETTING + (int)i))
			m |= REPLAY_SETTING(i);
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (options_given(o, map[i].opt))
			m |= map[i].replay;
	return m;
}

/* How cli_replay_piece() writes the replayed tokens. */
struct cli_replay_out {
	int	ids_only;	/* no tokenizer: the ids */
	int	escape;		/* a terminal without --raw: escape controls */
};

/* Each replayed token as it comes: its text (escaped on a terminal unless
 * --raw), or without a tokenizer its id (one line of ids, as lmsh generate
 * prints them then). */
static void
cli_replay_piece(void *arg, const struct gen_token *tok)
{
	const struct cli_replay_out *ro = arg;

	if (ro->ids_only && tok->id >= 0)
		printf("%s%d", tok->step > 0 ? "," : "", (int)tok->id);
	else if (tok->piece_len > 0)
		util_write_text(stdout, tok->piece, tok->piece_len, ro->escape);
	fflush(stdout);
}

/* Print each line of b as a warning. */
static void
cli_replay_warnings(const struct buf *b)
{
	const char *p = b->data;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');

		cli_warn("%.*s", (int)(nl - p), p);
		p = nl + 1;
	}
}

/* Record a replay with changed settings as a new turn linked to t. */
static int
cli_replay_record(struct history *h, const struct history_turn *t,
    const struct gen_session *g, const char *model_path,
    const struct replay_setup *now, int64_t *id)
{
	struct history_session_info info = { .model_path = model_path,
	    .config_json = now->config_json, .kernels = now->kernels,
	    .dtype = now->dtype };
	struct history_turn	 nt;
	struct err		 err;
	int64_t			 sid;
	int			 rc = -1;

	record_turn(&nt, g, 0, t->prompt);
	if ((sid = history_begin_session(h, &info, &err)) < 0)
		goto out;
	nt.session_id = sid;
	nt.replay_of = t->id;
	if (history_record_turn(h, &nt, &err) != 0 ||
	    history_end_session(h, sid, &err) != 0)
		goto out;
	*id = nt.id;
	rc = 0;
out:
	if (rc != 0)
		cli_error("%s", err.msg);
	history_turn_fini(&nt);
	return rc;
}

/* Print the verdict; the exit status. */
static int
cli_replay_verdict(const struct history_turn *t,
    const struct replay_result *r, const struct bpe *bpe,
    const struct replay_setup *now, unsigned mask)
{
	struct buf b;

	buf_init(&b);
	replay_verdict(t, r, bpe, now, &b);
	fputs(b.data, stdout);
	buf_fini(&b);
	return r->diverged < 0 || mask != 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

/*
 * Load what the replay needs and run it.  The prompt is replayed from its
 * recorded ids, so a tokenizer is needed only for the text: without one
 * (a turn recorded from --prompt-tokens) the tokens print as ids.
 */
static int
cli_replay_turn(struct lm_options *o, struct history *h,
    const struct history_turn *t, unsigned mask, int record)
{
	struct lm_model		*m = NULL;
	struct bpe		*bpe = NULL;
	struct gen_engine	*e = NULL;
	struct gen_session	*g = NULL;
	struct gen_settings	 s;
	struct replay_result	 res;
	struct replay_setup	 now = { 0 };
	struct buf		 warn;
	struct err		 err;
	int64_t			 new_id;
	int			 rc = CLI_EXIT_ERROR;
	struct cli_replay_out	 ro = { 0, util_escape_for(stdout, o->raw) };
	char			*cfg = NULL, *kernels = NULL;

	buf_init(&warn);
	if ((m = cli_load_model(o)) == NULL)
		goto out;
	bpe = cli_load_bpe(o, o->vocab != NULL || o->merges != NULL ||
	    o->tokenizer != NULL);
	if (bpe == NULL && (o->vocab != NULL || o->merges != NULL ||
	    o->tokenizer != NULL))
		goto out;
	ro.ids_only = bpe == NULL;
	cli_check_vocab(bpe, m);
	now.config_json = cfg = record_config_json(m);
	now.kernels = kernels = record_kernels(m);
	now.dtype = record_dtype(m);
	replay_check_model(h, t, cli_model_path(o), &now, &warn);
	cli_replay_warnings(&warn);
	replay_settings(t, o->gen, mask, &s);
	if ((e = gen_engine_new(m, bpe, 1, &err)) == NULL ||
	    (g = replay_run(e, t, &s, mask, cli_replay_piece, &ro, &res,
	    &err)) == NULL) {
		cli_error("replay of turn %lld: %s", (long long)t->id, err.msg);
		goto out;
	}
	fputs("\n", stdout);
	rc = cli_replay_verdict(t, &res, bpe, &now, mask);
	if (record) {
		if (cli_replay_record(h, t, g, cli_model_path(o), &now,
		    &new_id) != 0)
			rc = CLI_EXIT_ERROR;
		else
			printf("recorded as turn %lld (replay of %lld)\n",
			    (long long)new_id, (long long)t->id);
	}
out:
	buf_fini(&warn);
	free(cfg);
	free(kernels);
	gen_free(g);
	gen_engine_free(e);
	bpe_free(bpe);
	model_close(m);
	return rc;
}

static int
cli_replay_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * A checkpoint file does not carry its shape: unless --config or shape
 * flags are given, take it (and the variant) from the config recorded with
 * the session.  t outlives the replay.
 */
static void
cli_replay_shape(struct lm_options *o, const struct history_turn *t)
{
	struct lm_config *c = &o->src->cfg;

	if (t->config_json == NULL || o->src->config_path != NULL ||
	    c->d_model != 0)
		return;
	o->src->config_json = t->config_json;
}

static int
replay_run_cmd(int argc, char **argv)
{
	struct lm_options	 o;
	struct history		*h = NULL;
	struct history_turn	 t;
	struct err		 err;
	char			**ops = NULL;
	int			 n_ops, rc, missing, record;
	int64_t			 id;
	unsigned		 mask;

	memset(&t, 0, sizeof t);
	rc = cli_parse_ops(&cli_cmd_replay, &o, argc, argv, &ops, &n_ops);
	if (rc >= 0)
		goto out;
	mask = cli_replay_mask(&o);
	rc = CLI_EXIT_USAGE;
	if (n_ops != 1) {
		cli_error("replay: give one turn id");
		goto out;
	}
	if (cli_history_id(ops[0], &id) != 0)
		goto out;
	rc = CLI_EXIT_ERROR;
	/* a variation is recorded unless --no-history says not to */
	record = mask != 0 && !o.no_history;
	o.no_history = 0;
	if ((h = cli_history_open(&o, record, &missing)) == NULL) {
		if (missing)
			cli_error("no history recorded yet");
		goto out;
	}
	if (history_get_turn(h, id, &t, &err) != 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	/* the recorded model unless the command line names one */
	if (!options_given(&o, OPT_MODEL) &&
	    !options_given(&o, OPT_CHECKPOINT)) {
		if (t.model_path == NULL) {
			cli_error("turn %lld has no model path; give --model",
			    (long long)id);
			goto out;
		}
		o.model = t.model_path;
		o.src->checkpoint = NULL;
		if (!cli_replay_is_dir(t.model_path))
			cli_replay_shape(&o, &t);
	}
	rc = cli_replay_turn(&o, h, &t, mask, record);
out:
	history_turn_fini(&t);
	history_close(h);
	free(ops);
	options_fini(&o);
	return rc;
}

static const struct options_use replay_opts[] = {
	{ OPT_MODEL, "another model directory" },
	{ OPT_CHECKPOINT, "another checkpoint file" }, { OPT_CONFIG, NULL },
	{ OPT_VOCAB, NULL }, { OPT_MERGES, NULL },
	{ OPT_TOKENIZER, "the tokenizer of a checkpoint-file model "
	    "(without one, the tokens print as ids)" },
	{ OPT_THREADS, NULL },
	{ OPT_GROUP, "Settings (any of them records a variation):" },
	OPTIONS_USE_SAMPLING, { OPT_SEED, "RNG seed" },
	{ OPT_MAX_NEW, NULL }, { OPT_EOS, NULL }, { OPT_STOP, NULL },
	{ OPT_GROUP, "Output:" },
	{ OPT_RAW, "the text to a terminal as it is (by default controls "
	    "are shown there, not obeyed)" },
	{ OPT_GROUP, "History:" },
	{ OPT_HISTORY, "the history file" },
	{ OPT_NO_HISTORY, "do not record a variation" },
	{ OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_replay = {
	"replay", replay_run_cmd,
	"regenerate a recorded turn and compare",
	"usage: lmsh replay ID [--model DIR] [setting options]\n"
	"\n"
	"Regenerate turn ID with its recorded model, prompt tokens, seed and\n"
	"settings, applying the settings changed while it ran at the steps\n"
	"they took effect, and print the text, then 'identical (N tokens)' or\n"
	"the first step where the tokens differ, with both tokens.  A model\n"
	"whose files differ from the recorded fingerprint is a warning naming\n"
	"them.  Any setting option records the replay as a new turn linked to\n"
	"ID (its recorded changes of that setting are then not applied),\n"
	"unless --no-history is given.\n"
	"\n"
	"Exit status: 0 identical (or a variation recorded), 1 diverged or\n"
	"failed, 2 bad usage.\n",
	replay_opts
};
