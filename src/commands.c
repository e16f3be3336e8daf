/*
 * commands.c: the REPL's command layer, shared by the curses screen (ui.c)
 * and the line mode (repl_line.c).  It owns struct repl: the settings of the
 * next turn, the transcript as token ids (continue mode), the running turn,
 * and the logits cached for the candidate panel.  This file holds the
 * command handlers; the table and dispatch are cmd_table.c, the settings
 * cmd_set.c and the turns cmd_turn.c.  Handlers append output to a struct
 * buf and report failure as one line in a struct err; the front end
 * decides where either is shown.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "cmd_int.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "model.h"
#include "options.h"
#include "replay.h"
#include "sampler.h"
#include "util.h"

#define CMD_HISTORY_DEFAULT	20	/* rows /history lists */
/*
 * Forget the transcript: the next prompt starts from nothing, and the
 * engine drops its cached text.
 */
void
cmd_clear(struct repl *st)
{
	st->ctx.n_ids = 0;
	st->turn.last_id = 0;
	cmd_cursor_reset(st);
	st->fig.ctx_used = 0;
	st->panel.have_logits = 0;
	if (st->res.engine != NULL && st->turn.sess == NULL)
		gen_engine_forget(st->res.engine);
}

/* ---- handlers ------------------------------------------------------------ */

/*
 * One handler per row of cmd_table (cmd_table.c; cmd_int.h declares them):
 * args is the rest of the line, trimmed.  Output goes to out, a failure to
 * err as one line with CMD_ERROR; the result tells the front end what to
 * do next.
 */

enum cmd_action
cmd_do_help(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)st; (void)e; (void)err;
	cmd_help(args, out);
	return CMD_DONE;
}

/* "NAME VALUE": split at the first blank. */
enum cmd_action
cmd_do_set(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	char		*name;
	const char	*v;
	int		 rc;

	(void)e;
	if (*args == '\0') {
		cmd_show(st, out);
		return CMD_DONE;
	}
	v = args + strcspn(args, " \t");
	name = xstrndup(args, (size_t)(v - args));
	v += strspn(v, " \t");
	if (*v == '\0' && !cmd_name_eq(name, strlen(name), "stop", 0)) {
		err_set(err, "set: usage: /set NAME VALUE");
		free(name);
		return CMD_ERROR;
	}
	if ((rc = cmd_set(st, name, v, err)) == 0)
		cmd_show_one(st, name, out);
	free(name);
	return rc == 0 ? CMD_DONE : CMD_ERROR;
}

/* /temp, /top_p ...: with a value set it, without one show it; either
 * way the setting's /show line answers. */
enum cmd_action
cmd_do_short(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	if ((*args != '\0' || strcmp(e->setting, "stop") == 0) &&
	    cmd_set(st, e->setting, args, err) != 0)
		return CMD_ERROR;
	cmd_show_one(st, e->setting, out);
	return CMD_DONE;
}

enum cmd_action
cmd_do_show(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)e; (void)args; (void)err;
	cmd_show(st, out);
	return CMD_DONE;
}

enum cmd_action
cmd_do_clear(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)e; (void)args; (void)out; (void)err;
	cmd_clear(st);
	cmd_story_clear(st);
	return CMD_CLEAR;
}

static int
cmd_need_history(const struct repl *st, struct err *err)
{
	if (st->res.hist != NULL)
		return 0;
	err_set(err, "history is off (started with --no-history, or the "
	    "database could not be opened)");
	return -1;
}

static int
cmd_parse_id(const char *cmd, const char *args, int64_t *id, struct err *err)
{
	long l;

	if (*args == '\0') {
		err_set(err, "%s: usage: /%s ID (see /history)", cmd, cmd);
		return -1;
	}
	if (cmd_parse_long(cmd, args, 1, LONG_MAX, &l, err) != 0)
		return -1;
	*id = l;
	return 0;
}

/* /history, /history N, /history search TEXT. */
enum cmd_action
cmd_do_history(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	long	 n = CMD_HISTORY_DEFAULT;
	int	 rc;

	(void)e;
	if (cmd_need_history(st, err) != 0)
		return CMD_ERROR;
	if (strncmp(args, "search", 6) == 0 &&
	    (args[6] == '\0' || isspace((unsigned char)args[6]))) {
		const char *q = args + 6 + strspn(args + 6, " \t");

		if (*q == '\0') {
			err_set(err, "history: usage: /history search TEXT");
			return CMD_ERROR;
		}
		rc = history_search_turns(st->res.hist, q, CMD_HISTORY_DEFAULT, 0,
		    0, out, err);
	} else {
		if (*args != '\0' &&
		    cmd_parse_long("history", args, 1, 100000, &n, err) != 0)
			return CMD_ERROR;
		rc = history_list_turns(st->res.hist, (int)n, 0, 0, 0, out, err);
	}
	if (rc != 0)
		return CMD_ERROR;
	return CMD_DONE;
}

enum cmd_action
cmd_do_show_turn(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	int64_t id;

	(void)e;
	if (cmd_need_history(st, err) != 0 ||
	    cmd_parse_id("show-turn", args, &id, err) != 0)
		return CMD_ERROR;
	if (history_show(st->res.hist, id, out, err) != 0)
		return CMD_ERROR;
	st->view.shown = id;	/* /color colours its output on the screen */
	return CMD_DONE;
}

/*
 * Drop the turn /replay loaded, if any (shared with cmd_turn.c).
 */
void
cmd_replay_free(struct repl *st)
{
	replay_free(st->turn.replaying);
	st->turn.replaying = NULL;
	if (st->turn.replay == NULL)
		return;
	history_turn_fini(st->turn.replay);
	free(st->turn.replay);
	st->turn.replay = NULL;
}

/*
 * "/replay ID [OPTIONS]": load turn ID and the settings the options
 * override (replay_parse_overrides); the front end runs it with
 * cmd_turn_begin(st, NULL).
 */
enum cmd_action
cmd_do_replay(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	size_t	 n = strcspn(args, " \t");
	char	*word = xstrndup(args, n);
	int64_t	 id;
	int	 rc;

	(void)e; (void)out;
	rc = cmd_need_history(st, err) != 0 ||
	    cmd_parse_id("replay", word, &id, err) != 0;
	free(word);
	if (rc)
		return CMD_ERROR;
	if (st->res.engine == NULL) {
		err_set(err, "replay: no model loaded");
		return CMD_ERROR;
	}
	cmd_replay_free(st);
	cmd_branch_free(st);
	st->turn.replay_over = st->next.gen;
	st->turn.replay_mask = 0;
	if (replay_parse_overrides(args + n, &st->turn.replay_over,
	    &st->turn.replay_mask, err) != 0)
		return CMD_ERROR;
	st->turn.replay = xcalloc(1, sizeof *st->turn.replay);
	if (history_get_turn(st->res.hist, id, st->turn.replay, err) != 0) {
		cmd_replay_free(st);
		return CMD_ERROR;
	}
	return CMD_RUN;
}

enum cmd_action
cmd_do_tokens(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	int32_t	*ids = NULL;
	size_t	 n = 0, col = 0;
	char	 piece[256];

	(void)e;
	if (st->res.bpe == NULL) {
		err_set(err, "tokens: no tokenizer loaded");
		return CMD_ERROR;
	}
	if (*args == '\0') {
		err_set(err, "tokens: usage: /tokens TEXT");
		return CMD_ERROR;
	}
	if (bpe_encode(st->res.bpe, args, strlen(args), BPE_UTF8_REPLACE, &ids,
	    &n, err) != 0) {
		err_prefix(err, "tokens");
		return CMD_ERROR;
	}
	buf_printf(out, "%zu token%s:\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		size_t before = out->len;

		cmd_token_text(st, ids[i], piece, sizeof piece);
		buf_printf(out, "%s%d \"%s\"", col ? "  " : "", ids[i], piece);
		col += out->len - before;
		if (col >= 60 || i + 1 == n) {
			buf_puts(out, "\n");
			col = 0;
		}
	}
	free(ids);
	return CMD_DONE;
}

enum cmd_action
cmd_do_mode(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	return cmd_do_short(st, e, args, out, err);
}

enum cmd_action
cmd_do_quit(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)st; (void)e; (void)args; (void)out; (void)err;
	return CMD_QUIT;
}

/*
 * A printable form of token id: its bytes through buf_escape() (\n, \x1b,
 * \u009b), or <|id N|> for an id the tokenizer lacks.  Returns out.
 */
char *
cmd_token_text(const struct repl *st, int32_t id, char *out, size_t out_cap)
{
	const char	*b = NULL;
	size_t		 len = 0;
	struct buf	 tmp;

	if (st->res.bpe != NULL)
		b = bpe_token_bytes(st->res.bpe, id, &len);
	if (b == NULL) {
		snprintf(out, out_cap, "<|id %d|>", id);
		return out;
	}
	buf_init(&tmp);
	buf_escape(&tmp, b, len, BUF_ESC_TOKEN);
	snprintf(out, out_cap, "%s", tmp.data != NULL ? tmp.data : "");
	/* never leave half a character at the cut */
	out[utf8_valid_prefix(out, strlen(out))] = '\0';
	buf_fini(&tmp);
	return out;
}

/*
 * Start from the options: sampling settings, seed, stop strings and mode.
 * The front end fills the resources (engine, tokenizer, history) after.
 */
void
cmd_init(struct repl *st, const struct lm_options *o)
{
	memset(st, 0, sizeof *st);
	st->next.gen = *o->gen;
	st->next.gen.n_stop = 0;
	for (int i = 0; i < o->gen->n_stop; i++) {
		st->next.stop_own[i] = cmd_unescape(o->gen->stop[i]);
		st->next.gen.stop[st->next.gen.n_stop++] = st->next.stop_own[i];
	}
	st->next.seed_fixed = options_given(o, OPT_SEED);
	st->next.replace_invalid = o->replace_invalid;
	st->next.no_scrollback = o->no_scrollback;
	st->next.eos_fixed = options_given(o, OPT_EOS);
	st->view.pace = o->pace;
	st->next.raw = o->raw;
	st->turn.seed = o->gen->seed;
	st->next.mode = o->mode != NULL && strcmp(o->mode, "fresh") == 0 ?
	    CMD_MODE_FRESH : CMD_MODE_CONTINUE;
	st->story.shift_share = o->shift;
	if (o->keep >= 0) {
		st->story.keep = (size_t)o->keep;
		st->story.keep_set = 1;
	}
}

/*
 * Free what struct repl owns (not the borrowed resources); a running turn
 * is dropped unrecorded.
 */
void
cmd_fini(struct repl *st)
{
	cmd_turn_reset(st);
	cmd_story_fini(st);
	for (int i = 0; i < GEN_MAX_STOP; i++)
		free(st->next.stop_own[i]);
	free(st->ctx.ids);
	free(st->panel.logits);
	cmd_cursor_leave(st);
	free(st->cursor.logits);
	free(st->panel.recent_own);
	sampler_free(st->panel.sampler);
	free(st->res.model_name);
	free(st->res.model_path_own);
	free(st->res.config_json);
	free(st->res.kernels);
	free(st->res.dtype);
	memset(st, 0, sizeof *st);
}
