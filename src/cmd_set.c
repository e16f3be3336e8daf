/*
 * cmd_set.c: the REPL's settings: /set, /show, the short forms (/temp 0.5)
 * and the live keys.  The sampling knobs are the rows of the sampler's
 * settings table (sampler.h), which gives their names, ranges, steps and
 * formats; this file only adds the settings of a turn that are not the
 * sampler's (seed, max, stop, mode) and the read-only lines of /show.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_int.h"
#include "commands.h"
#include "generate.h"
#include "sampler.h"
#include "util.h"

#define CMD_SHOW_W	14	/* /show's name column */

/* A setting of a turn that is not a sampler knob. */
struct cmd_setting {
	const char	*name;		/* canonical, as /show prints it */
	const char	*alias;		/* second spelling, or NULL */
	const char	*help;		/* for /help's short command */
	int		(*set)(struct repl *, const char *, struct err *);
	void		(*show)(const struct repl *, struct buf *);
};

/* ---- parsing helpers ------------------------------------------------------ */

/* s as a whole integer in [lo, hi] into *out; else -1 with "NAME: 'S' is
 * not an integer in [LO, HI]". */
int
cmd_parse_long(const char *name, const char *s, long lo, long hi, long *out,
    struct err *err)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		err_set(err, "%s: '%s' is not an integer in [%ld, %ld]", name,
		    s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* Undo the escapes a user can type in a stop string: \n \t \r \\. */
char *
cmd_unescape(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s != '\0'; s++) {
		if (*s != '\\' || s[1] == '\0') {
			*o++ = *s;
			continue;
		}
		switch (*++s) {
		case 'n':	*o++ = '\n'; break;
		case 't':	*o++ = '\t'; break;
		case 'r':	*o++ = '\r'; break;
		default:	*o++ = *s; break;
		}
	}
	*o = '\0';
	return out;
}

/* ---- the settings that are not sampler knobs ------------------------------ */

static int
cmd_set_seed(struct repl *st, const char *v, struct err *err)
{
	char			*end;
	unsigned long long	 u;

	if (strcmp(v, "random") == 0) {
		st->next.seed_fixed = 0;
		return 0;
	}
	errno = 0;
	u = strtoull(v, &end, 10);
	if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0) {
		err_set(err, "seed: '%s' is not a non-negative integer or "
		    "'random'", v);
		return -1;
	}
	st->next.gen.seed = (uint64_t)u;
	st->next.seed_fixed = 1;
	return 0;
}

static void
cmd_show_seed(const struct repl *st, struct buf *out)
{
	if (st->next.seed_fixed)
		buf_printf(out, "%" PRIu64 "\n", st->next.gen.seed);
	else
		buf_printf(out, "random (last %" PRIu64 ")\n", st->turn.seed);
}

static int
cmd_set_max(struct repl *st, const char *v, struct err *err)
{
	long l;

	if (cmd_parse_long("max", v, GEN_MAX_NEW_MIN, GEN_MAX_NEW_MAX, &l,
	    err) != 0)
		return -1;
	st->next.gen.max_new_tokens = (int)l;
	return 0;
}

static void
cmd_show_max(const struct repl *st, struct buf *out)
{
	buf_printf(out, "%d\n", st->next.gen.max_new_tokens);
}

/* An empty value clears the stop strings; anything else adds one. */
static int
cmd_set_stop(struct repl *st, const char *v, struct err *err)
{
	if (*v == '\0') {
		for (int i = 0; i < st->next.gen.n_stop; i++) {
			free(st->next.stop_own[i]);
			st->next.stop_own[i] = NULL;
			st->next.gen.stop[i] = NULL;
		}
		st->next.gen.n_stop = 0;
		return 0;
	}
	if (st->next.gen.n_stop == GEN_MAX_STOP) {
		err_set(err, "stop: at most %d stop strings (/stop alone "
		    "clears them)", GEN_MAX_STOP);
		return -1;
	}
	st->next.stop_own[st->next.gen.n_stop] = cmd_unescape(v);
	st->next.gen.stop[st->next.gen.n_stop] = st->next.stop_own[st->next.gen.n_stop];
	st->next.gen.n_stop++;
	return 0;
}

static void
cmd_show_stop(const struct repl *st, struct buf *out)
{
	if (st->next.gen.n_stop == 0)
		buf_puts(out, "(none)");
	for (int i = 0; i < st->next.gen.n_stop; i++) {
		buf_puts(out, i ? " \"" : "\"");
		buf_escape(out, st->next.gen.stop[i],
		    strlen(st->next.gen.stop[i]), BUF_ESC_TOKEN);
		buf_puts(out, "\"");
	}
	buf_puts(out, "\n");
}

static int
cmd_set_mode(struct repl *st, const char *v, struct err *err)
{
	if (strcmp(v, "continue") == 0)
		st->next.mode = CMD_MODE_CONTINUE;
	else if (strcmp(v, "fresh") == 0) {
		st->next.mode = CMD_MODE_FRESH;
		cmd_clear(st);
	} else {
		err_set(err, "mode: '%s': expected continue or fresh", v);
		return -1;
	}
	return 0;
}

static void
cmd_show_mode(const struct repl *st, struct buf *out)
{
	buf_printf(out, "%s\n", st->next.mode == CMD_MODE_CONTINUE ? "continue" :
	    "fresh");
}

static const struct cmd_setting cmd_settings[] = {
	{ "seed", NULL, "seed of every turn, or a new one each turn",
	    cmd_set_seed, cmd_show_seed },
	{ "max", "max_new_tokens", "most tokens per reply", cmd_set_max,
	    cmd_show_max },
	{ "stop", NULL, "add a stop string (\\n escapes); alone: clear them",
	    cmd_set_stop, cmd_show_stop },
	{ "mode", NULL, "continue the transcript, or start each prompt "
	    "afresh", cmd_set_mode, cmd_show_mode },
};
#define CMD_N_SETTINGS (sizeof cmd_settings / sizeof cmd_settings[0])

static const struct cmd_setting *
cmd_setting_find(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < CMD_N_SETTINGS; i++) {
		const struct cmd_setting *s = &cmd_settings[i];

		if (cmd_name_eq(name, n, s->name, 0) || (s->alias != NULL &&
		    cmd_name_eq(name, n, s->alias, 0)))
			return s;
	}
	return NULL;
}

/* ---- set, adjust, show ---------------------------------------------------- */

/* Make the sampler knobs of the next turn p, and those of a running one. */
static int
cmd_set_params(struct repl *st, const struct sampler_params *p,
    struct err *err)
{
	if (st->turn.sess != NULL && gen_set_params(st->turn.sess, p, err) != 0)
		return -1;
	st->next.gen.sp = *p;
	return 0;
}

/*
 * Set one setting by name (either spelling, '-' or '_').  Takes effect from
 * the next turn, or at once for a running one.  Returns 0, or -1 with err
 * naming the setting and the problem.
 */
int
cmd_set(struct repl *st, const char *name, const char *value,
    struct err *err)
{
	const struct sampler_setting	*row = sampler_setting_find(name);
	const struct cmd_setting	*s;

	if (row != NULL) {
		struct sampler_params	p = st->next.gen.sp;
		double			v;

		if (sampler_setting_parse(row, value, &v, err) != 0 ||
		    sampler_setting_put(&p, row, v, err) != 0)
			return -1;
		return cmd_set_params(st, &p, err);
	}
	if ((s = cmd_setting_find(name)) != NULL)
		return s->set(st, value, err);
	err_set(err, "set: unknown setting '%s' (see /show)", name);
	return -1;
}

/*
 * One press of a live key: the knob called name moves dir (+1 or -1) steps
 * of its row's live-key step, rounded to that step and kept in its range.
 * A running turn gets the change from its next token (logged by the engine
 * with its step).
 */
int
cmd_adjust(struct repl *st, const char *name, int dir, struct err *err)
{
	const struct sampler_setting	*row = sampler_setting_find(name);
	struct sampler_params		 p = st->next.gen.sp;

	if (row == NULL || row->step <= 0) {
		err_set(err, "%s: no live key turns it", name);
		return -1;
	}
	sampler_setting_put(&p, row, sampler_setting_step(row,
	    sampler_setting_get(&p, row), dir), NULL);
	return cmd_set_params(st, &p, err);
}

/* "top_p          0.90": the value as its row formats it, with a note
 * at the value that turns it off. */
static void
cmd_show_row(const struct repl *st, const struct sampler_setting *row,
    struct buf *out)
{
	double v = sampler_setting_get(&st->next.gen.sp, row);

	buf_printf(out, "%-*s ", CMD_SHOW_W, row->name);
	buf_printf(out, row->fmt, v);
	if (row->off_word != NULL && v == row->off)
		buf_printf(out, " (%s)", row->off_word);
	buf_puts(out, "\n");
}

/*
 * The /show line of the setting called name (any spelling /set takes).
 * Returns 0, or -1 (nothing appended) when there is no such setting.
 */
int
cmd_show_one(const struct repl *st, const char *name, struct buf *out)
{
	const struct sampler_setting	*row = sampler_setting_find(name);
	const struct cmd_setting	*s;

	if (row != NULL) {
		cmd_show_row(st, row, out);
		return 0;
	}
	if ((s = cmd_setting_find(name)) == NULL)
		return -1;
	buf_printf(out, "%-*s ", CMD_SHOW_W, s->name);
	s->show(st, out);
	return 0;
}

/*
 * Append the effective settings, one per line, in the words /set takes:
 * the sampler's rows, then the rest of a turn's settings.
 */
void
cmd_show(const struct repl *st, struct buf *out)
{
	for (size_t i = 0; i < sampler_n_settings; i++)
		cmd_show_row(st, &sampler_settings[i], out);
	for (size_t i = 0; i < CMD_N_SETTINGS; i++)
		cmd_show_one(st, cmd_settings[i].name, out);
	if (st->next.gen.eos_id >= 0)
		buf_printf(out, "%-*s %d\n", CMD_SHOW_W, "eos", st->next.gen.eos_id);
	buf_printf(out, "%-*s %s\n", CMD_SHOW_W, "history",
	    st->res.hist != NULL ? "on" : "off");
}

/* /help's line for a setting's short command: the row's help and range. */
void
cmd_setting_help(const char *name, char *out, size_t cap)
{
	const struct sampler_setting	*row = sampler_setting_find(name);
	const struct cmd_setting	*s = cmd_setting_find(name);
	char				 range[64];

	if (row != NULL) {
		sampler_setting_range(row, range, sizeof range);
		snprintf(out, cap, "%s, %s", row->help, range);
	} else
		snprintf(out, cap, "%s", s != NULL ? s->help : "");
}
