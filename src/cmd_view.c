/*
 * cmd_view.c: how replies are shown, never what is sampled.  "/pace [N]"
 * caps the tokens shown (and decoded) a second, 0 for full speed; "/color
 * [on|off]" colours each generated token by its probability in the curses
 * transcript.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "cmd_int.h"
#include "commands.h"
#include "history.h"
#include "util.h"

#define CMD_PACE_MAX	1e6

static void
cmd_pace_show(const struct repl *st, struct buf *out)
{
	if (st->view.pace > 0)
		buf_printf(out, "pace %g tokens/s\n", st->view.pace);
	else
		buf_puts(out, "pace 0 (full speed)\n");
}

enum cmd_action
cmd_do_pace(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	char	*end;
	double	 v;

	(void)e;
	if (*args != '\0') {
		errno = 0;
		v = strtod(args, &end);
		if (*end != '\0' || errno != 0 || !isfinite(v) || v < 0 ||
		    v > CMD_PACE_MAX) {
			err_set(err, "pace: '%s' is not a number in [0, %g] "
			    "(tokens a second; 0 = full speed)", args,
			    CMD_PACE_MAX);
			return CMD_ERROR;
		}
		st->view.pace = v;
	}
	cmd_pace_show(st, out);
	return CMD_DONE;
}

int
cmd_band(double p)
{
	return p >= CMD_BAND_HI ? 0 : p >= CMD_BAND_MID ? 1 :
	    p >= CMD_BAND_LO ? 2 : 3;
}

/* The SGR of a probability band for a terminal that is not curses' (history
 * show --color, the line REPL): colours, or with NO_COLOR set the
 * attributes the curses REPL uses then.  Band 0 (likely) is plain. */
const char *
cmd_band_sgr(int band)
{
	static const char *const col[] = { "", "\033[32m", "\033[33m",
	    "\033[31m" };
	static const char *const mono[] = { "", "\033[4m", "\033[1;4m",
	    "\033[7m" };
	const char *nc = getenv("NO_COLOR");

	if (band < 0 || band > 3)
		return "";
	return nc != NULL && *nc != '\0' ? mono[band] : col[band];
}

enum cmd_action
cmd_do_color(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)e;
	if (*args == '\0')
		st->view.color = !st->view.color;
	else if (strcmp(args, "on") == 0)
		st->view.color = 1;
	else if (strcmp(args, "off") == 0)
		st->view.color = 0;
	else {
		err_set(err, "color: '%s': expected on or off", args);
		return CMD_ERROR;
	}
	buf_printf(out, "color %s%s\n", st->view.color ? "on" : "off",
	    st->view.color ? ": tokens by probability, " CMD_COLOR_LEGEND :
	    "");
	return CMD_DONE;
}

/* A recorded turn's output, token by token with its band (/show-turn under
 * /color): the same bands as when it was written. */
int
cmd_turn_bands(struct repl *st, int64_t id,
    void (*fn)(void *, const char *, size_t, int), void *arg)
{
	struct history_turn	 t;
	struct bpe_stream	*bs;
	struct err		 err;
	const char		*p;
	size_t			 n;
	int			 rc = -1;

	if (st->res.hist == NULL || st->res.bpe == NULL ||
	    history_get_turn(st->res.hist, id, &t, &err) != 0 ||
	    (bs = bpe_stream_new(st->res.bpe, BPE_UTF8_REPLACE)) == NULL) {
		if (st->res.hist != NULL && st->res.bpe != NULL)
			history_turn_fini(&t);
		return -1;
	}
	for (size_t i = 0; i < t.n_output; i++) {
		if (t.output_ids[i] == t.settings.eos_id ||
		    bpe_stream_push(bs, t.output_ids[i], &p, &n, &err) != 0)
			continue;
		fn(arg, p, n, t.probs != NULL && i < t.n_probs ?
		    cmd_band(history_prob_unpack(t.probs[i])) : -1);
	}
	if (bpe_stream_flush(bs, &p, &n, &err) == 0 && n > 0)
		fn(arg, p, n, -1);
	bpe_stream_free(bs);
	history_turn_fini(&t);
	rc = 0;
	return rc;
}
