/*
 * cmd_model.c: /model.  Alone it shows the model in use and the models
 * there are to switch to: the directories with a config.json under each
 * directory of $LMSH_MODEL_PATH (colon-separated), else under the data
 * directory (the installed one, then the source tree's share/).  With a
 * directory or one of those names it loads that model and its tokenizer,
 * and only when both load does it swap them in: the story and the cached
 * context go (the old token ids mean nothing to another tokenizer), the
 * settings take the new model's generation_config.json, and the history
 * begins a new session, which records the new model.
 */
#include "config.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bpe.h"
#include "cmd_int.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "model.h"
#include "record.h"
#include "sampler.h"
#include "util.h"

static int
cmd_model_is_file(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A model directory: one with a config.json. */
static int
cmd_model_is_model(const char *dir)
{
	char	*c = xasprintf("%s/config.json", dir);
	int	 yes = cmd_model_is_file(c);

	free(c);
	return yes;
}

/* The directories that hold models, as one colon-separated list (caller
 * frees). */
static char *
cmd_model_roots(void)
{
	const char *env = getenv("LMSH_MODEL_PATH");

	if (env != NULL && *env != '\0')
		return xstrdup(env);
	return xstrdup(LMSH_PKGDATADIR ":" LMSH_SRCDIR "/share");
}

/* Call fn for each model directory under the roots; stops when fn returns
 * nonzero and returns that. */
static int
cmd_model_each(int (*fn)(void *, const char *root, const char *name),
    void *arg)
{
	char	*roots = cmd_model_roots(), *save = NULL, *root;
	int	 rc = 0;

	for (root = strtok_r(roots, ":", &save); root != NULL && rc == 0;
	    root = strtok_r(NULL, ":", &save)) {
		DIR		*d = opendir(root);
		struct dirent	*de;

		while (d != NULL && rc == 0 && (de = readdir(d)) != NULL) {
			char *path;

			if (de->d_name[0] == '.')
				continue;
			path = xasprintf("%s/%s", root, de->d_name);
			if (cmd_model_is_model(path))
				rc = fn(arg, root, de->d_name);
			free(path);
		}
		if (d != NULL)
			closedir(d);
	}
	free(roots);
	return rc;
}

static int
cmd_model_list_one(void *arg, const char *root, const char *name)
{
	buf_printf(arg, "  %-14s %s/%s\n", name, root, name);
	return 0;
}

struct cmd_model_find {
	const char	*name;		/* wanted */
	char		*path;		/* found (owned), or NULL */
};

static int
cmd_model_find_one(void *arg, const char *root, const char *name)
{
	struct cmd_model_find *f = arg;

	if (strcmp(name, f->name) != 0)
		return 0;
	f->path = xasprintf("%s/%s", root, name);
	return 1;
}

/* The model directory for what the user typed: a path, or a name in the
 * list (caller frees); NULL with err set. */
static char *
cmd_model_resolve(const char *what, struct err *err)
{
	struct cmd_model_find f = { what, NULL };

	if (cmd_model_is_model(what))
		return xstrdup(what);
	if (strchr(what, '/') == NULL && cmd_model_each(cmd_model_find_one,
	    &f) != 0)
		return f.path;
	err_set(err, "model: %s: not a model directory (one with a "
	    "config.json) nor a model in the list (/model)", what);
	return NULL;
}

/* The tokenizer of a model directory, as lmsh --model DIR loads it. */
static struct bpe *
cmd_model_bpe(const char *dir, struct err *err)
{
	char		*v = xasprintf("%s/vocab.json", dir);
	char		*m = xasprintf("%s/merges.txt", dir);
	char		*t = xasprintf("%s/tokenizer.json", dir);
	struct bpe	*b = NULL;

	if (cmd_model_is_file(v) && cmd_model_is_file(m))
		b = bpe_load(v, m, err);
	else if (cmd_model_is_file(t))
		b = bpe_load_hf(t, err);
	else
		err_set(err, "%s: no vocab.json + merges.txt or tokenizer.json",
		    dir);
	free(v);
	free(m);
	free(t);
	return b;
}

/*
 * Begin a history session for the model st->res describes (its path,
 * config, kernels and dtype): REPL start-up and /model.  Returns 0, or -1
 * with err set and st->res.session_id 0.
 */
int
cmd_session_begin(struct repl *st, struct err *err)
{
	struct history_session_info info;

	memset(&info, 0, sizeof info);
	info.lmsh_version = PACKAGE_VERSION;
	info.model_path = st->res.model_path;
	info.config_json = st->res.config_json;
	info.kernels = st->res.kernels;
	info.dtype = st->res.dtype;
	st->res.session_id = history_begin_session(st->res.hist, &info, err);
	if (st->res.session_id > 0)
		return 0;
	st->res.session_id = 0;
	return -1;
}

/* A new history session for the new model; history goes off (with a
 * notice) when it cannot begin. */
static void
cmd_model_session(struct repl *st, struct buf *out)
{
	struct err err;

	if (st->res.hist == NULL)
		return;
	if (st->res.session_id > 0)
		history_end_session(st->res.hist, st->res.session_id, &err);
	if (cmd_session_begin(st, &err) != 0)
		buf_printf(out, "history off: %s\n", err.msg);
}

/* The short name of a model path: its last component. */
static char *
cmd_model_short(const char *path)
{
	const char	*end = path + strlen(path), *start;

	while (end > path + 1 && end[-1] == '/')
		end--;
	start = end;
	while (start > path && start[-1] != '/')
		start--;
	return xstrndup(start, (size_t)(end - start));
}

/* One generation_config.json key of the new model: the next turn's
 * setting takes it (a bad value is skipped; /set changes it again). */
static int
cmd_model_default(void *arg, const char *key, double v)
{
	struct repl			*st = arg;
	const struct sampler_setting	*row;
	struct err			 err;

	if (strcmp(key, "max_new_tokens") == 0) {
		if (v >= GEN_MAX_NEW_MIN && v <= GEN_MAX_NEW_MAX && v == (int)v)
			st->next.gen.max_new_tokens = (int)v;
	} else if (strcmp(key, "do_sample") == 0) {
		if (v == 0)
			st->next.gen.sp.temperature = 0;
	} else if ((row = sampler_setting_find(key)) != NULL)
		sampler_setting_put(&st->next.gen.sp, row, v, &err);
	return 0;
}

/* Swap in the model of dir; the old one stays when anything fails. */
static int
cmd_model_switch(struct repl *st, const char *dir, struct buf *out,
    struct err *err)
{
	struct lm_model_source	 src;
	struct bpe		*bpe;
	struct lm_model		*model = NULL;
	struct gen_engine	*eng = NULL;
	const struct lm_config	*c;

	memset(&src, 0, sizeof src);
	src.dir = dir;
	if ((bpe = cmd_model_bpe(dir, err)) == NULL ||
	    (model = model_open(&src, err)) == NULL ||
	    (st->res.threads > 0 && (model_set_threads(model,
	    st->res.threads), 0)) ||
	    (eng = gen_engine_new(model, bpe, 1, err)) == NULL) {
		err_prefix(err, "model");
		model_close(model);
		bpe_free(bpe);
		return -1;
	}
	cmd_clear(st);
	cmd_story_clear(st);
	gen_engine_free(st->res.engine);
	model_close(st->res.model);
	bpe_free(st->res.tokenizer);
	st->res.engine = eng;
	st->res.model = model;
	st->res.tokenizer = bpe;
	st->res.bpe = bpe;
	free(st->res.model_path_own);
	st->res.model_path = st->res.model_path_own = xstrdup(dir);
	free(st->res.model_name);
	st->res.model_name = cmd_model_short(dir);
	c = model_config(model);
	st->res.n_ctx = c->context_length;
	st->res.n_vocab = c->vocab_size;
	free(st->res.config_json);
	st->res.config_json = record_config_json(model);
	free(st->res.dtype);
	st->res.dtype = xstrdup(record_dtype(model));
	if (!st->next.eos_fixed) {
		st->next.gen.eos_id = bpe_token_id(bpe, "<|endoftext|>", 13);
		if (st->next.gen.eos_id >= st->res.n_vocab)
			st->next.gen.eos_id = -1;
	}
	/* the candidate panel's buffers are sized by the vocabulary */
	free(st->panel.logits);
	st->panel.logits = NULL;
	sampler_free(st->panel.sampler);
	st->panel.sampler = NULL;
	if (model_generation_config(dir, cmd_model_default, st, err) != 0)
		buf_printf(out, "%s (ignored)\n", err->msg);
	cmd_model_session(st, out);
	buf_printf(out, "model %s: context %d, vocabulary %d; the story "
	    "starts afresh\n", dir, c->context_length, c->vocab_size);
	return 0;
}

/* What /model shows: the model in use, its shape, and the list. */
static void
cmd_model_show(struct repl *st, struct buf *out)
{
	const struct lm_config	*c;
	double			 params;
	size_t			 before;

	c = model_config(gen_engine_model(st->res.engine));
	/* embeddings and head, then per layer attention, SwiGLU, two norms */
	params = 2.0 * c->vocab_size * c->d_model + c->d_model +
	    (double)c->num_layers * (4.0 * c->d_model * c->d_model +
	    3.0 * c->d_model * c->d_ff + 2.0 * c->d_model);
	buf_printf(out, "model          %s\n", st->res.model_path != NULL ?
	    st->res.model_path : "(unnamed)");
	buf_printf(out, "parameters     %.3g M\n", params / 1e6);
	buf_printf(out, "vocab_size     %d (tokenizer %zu)\n", c->vocab_size,
	    st->res.bpe != NULL ? bpe_n_vocab(st->res.bpe) : (size_t)0);
	buf_printf(out, "context_length %d\n", c->context_length);
	buf_printf(out, "d_model        %d\n", c->d_model);
	buf_printf(out, "num_layers     %d\n", c->num_layers);
	buf_printf(out, "num_heads      %d\n", c->num_heads);
	buf_printf(out, "d_ff           %d\n", c->d_ff);
	buf_printf(out, "rope_theta     %g\n", c->rope_theta);
	buf_puts(out, "Models (/model NAME or DIR switches):\n");
	before = out->len;
	cmd_model_each(cmd_model_list_one, out);
	if (out->len == before)
		buf_puts(out, "  (none found)\n");
}

/* /model [NAME|DIR]. */
enum cmd_action
cmd_do_model(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	char	*dir;
	int	 rc;

	(void)e;
	if (st->res.engine == NULL) {
		err_set(err, "model: no model loaded");
		return CMD_ERROR;
	}
	if (*args == '\0') {
		cmd_model_show(st, out);
		return CMD_DONE;
	}
	if (st->turn.sess != NULL) {
		err_set(err, "model: a turn is running");
		return CMD_ERROR;
	}
	if ((dir = cmd_model_resolve(args, err)) == NULL)
		return CMD_ERROR;
	rc = cmd_model_switch(st, dir, out, err);
	free(dir);
	if (rc == 0)
		st->story.changed = 1;
	return rc == 0 ? CMD_DONE : CMD_ERROR;
}
