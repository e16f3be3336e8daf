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

#include "cmd_int.h"
#include "commands.h"
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
