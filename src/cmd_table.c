/*
 * cmd_table.c: the REPL's slash commands as rows of cmd_table, with /help,
 * completion and dispatch.  Adding a command is adding a row (its handler
 * lives in commands.c), never another branch of an if-chain.  A command
 * is found by its exact name, else by a unique prefix; '-' and '_' are the
 * same letter and case does not matter.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_int.h"
#include "commands.h"
#include "util.h"

const struct cmd_key cmd_live_keys[] = {
	{ "+  -", "temperature up / down by 0.1 (also F6 / F5)" },
	{ "]  [", "top-p up / down by 0.05 (also F8 / F7)" },
	{ "Space", "pause / resume the reply" },
	{ ".", "while paused: one more token (step mode)" },
	{ "F3", "colour tokens by probability on / off (/color)" },
	{ "Tab", "candidate panel on / off (also F2)" },
	{ "Ctrl-C", "stop the reply and keep it (recorded as interrupted)" },
	{ NULL, NULL }
};

const struct cmd_key cmd_edit_keys[] = {
	{ "Enter", "send the prompt; on an empty line in continue mode, "
	    "generate more" },
	{ "Alt-Enter", "insert a newline (or start a block with \"\"\")" },
	{ "Up  Down", "earlier prompts, from the history database" },
	{ "Ctrl-R", "search earlier prompts" },
	{ "Tab", "complete a /command or a file name; on an empty line, "
	    "the candidate panel" },
	{ "PgUp  PgDn", "scroll the transcript (also the mouse wheel)" },
	{ "F2", "candidate panel on / off" },
	{ "F4", "token cursor on the last reply: Left / Right move, Up / "
	    "Down pick a candidate, Enter takes it, r samples afresh, Esc "
	    "leaves" },
	{ "F5  F6", "temperature down / up" },
	{ "F7  F8", "top-p down / up" },
	{ "Ctrl-L", "redraw the screen" },
	{ "Ctrl-C", "clear the line (on an empty line: how to quit)" },
	{ "Ctrl-D", "quit (on an empty line)" },
	{ "Ctrl-Z", "suspend; fg resumes" },
	{ NULL, NULL }
};

static const struct cmd_entry cmd_table[] = {
	{ "help", NULL, "[keys]", "this list; with keys, the key bindings",
	    cmd_do_help },
	{ "set", NULL, "NAME VALUE", "change a setting; alone, like /show",
	    cmd_do_set },
	{ "temp", "temperature", "[T]", NULL, cmd_do_short },
	{ "top_p", "top_p", "[P]", NULL, cmd_do_short },
	{ "top_k", "top_k", "[K]", NULL, cmd_do_short },
	{ "min_p", "min_p", "[P]", NULL, cmd_do_short },
	{ "seed", "seed", "[N|random]", NULL, cmd_do_short },
	{ "max", "max", "[N]", NULL, cmd_do_short },
	{ "stop", "stop", "[TEXT]", NULL, cmd_do_short },
	{ "show", NULL, "", "the settings in effect", cmd_do_show },
	{ "mode", "mode", "[continue|fresh]", NULL, cmd_do_mode },
	{ "clear", NULL, "", "clear the transcript and the cached context",
	    cmd_do_clear },
	{ "history", NULL, "[N | search TEXT]", "recent turns, or turns "
	    "matching TEXT", cmd_do_history },
	{ "show-turn", NULL, "ID", "one turn in full, with its live changes",
	    cmd_do_show_turn },
	{ "replay", NULL, "ID [-t T ...]", "run turn ID again and compare; "
	    "-t 0 etc. override", cmd_do_replay },
	{ "save", NULL, "FILE", "write the story to FILE (FILE.md: Markdown)",
	    cmd_do_save },
	{ "undo", NULL, "", "drop the last turn (the history keeps it)",
	    cmd_do_undo },
	{ "retry", NULL, "[new]", "the last reply again: same seed, or new",
	    cmd_do_retry },
	{ "edit", NULL, "[TEXT]", "edit the last prompt and run it in place",
	    cmd_do_edit },
	{ "keep", NULL, "[N]", "tokens pinned when the context slides",
	    cmd_do_keep },
	{ "shift", NULL, "[X]", "share a full context drops (default 0.5)",
	    cmd_do_shift },
	{ "resume", NULL, "[SESSION]", "the story of a session (default the "
	    "last)", cmd_do_resume },
	{ "name", NULL, "TEXT", "name this session (lmsh --resume TEXT)",
	    cmd_do_name },
	{ "branch", NULL, "TURN STEP [TOKEN_ID]", "go on from token STEP of "
	    "turn TURN", cmd_do_branch },
	{ "branches", NULL, "[ID]", "the story's tree; with ID, go on from "
	    "turn ID", cmd_do_branches },
	{ "pace", NULL, "[N]", "show at most N tokens a second; 0 = full "
	    "speed", cmd_do_pace },
	{ "color", NULL, "[on|off]", "colour tokens by probability (also F3)",
	    cmd_do_color },
	{ "tokens", NULL, "TEXT", "how TEXT tokenizes: ids and pieces",
	    cmd_do_tokens },
	{ "model", NULL, "[NAME|DIR]", "the model and the models there are; "
	    "with one, switch", cmd_do_model },
	{ "quit", NULL, "", "leave (also Ctrl-D on an empty line)",
	    cmd_do_quit },
};
#define CMD_N_TABLE (sizeof cmd_table / sizeof cmd_table[0])

/* Compare names treating '-' and '_' alike, case-insensitively; n bytes of
 * a (the typed word) against all of b. */
int
cmd_name_eq(const char *a, size_t n, const char *b, int prefix)
{
	size_t i;

	for (i = 0; i < n && b[i] != '\0'; i++) {
		int ca = tolower((unsigned char)a[i]);
		int cb = tolower((unsigned char)b[i]);

		if (ca == '-')
			ca = '_';
		if (cb == '-')
			cb = '_';
		if (ca != cb)
			return 0;
	}
	if (i < n)
		return 0;
	return prefix || b[i] == '\0';
}

static void
cmd_help_keys(struct buf *out, const char *title, const struct cmd_key *k)
{
	buf_printf(out, "%s\n", title);
	for (size_t i = 0; k[i].keys != NULL; i++)
		buf_printf(out, "  %-12s %s\n", k[i].keys, k[i].what);
}

/* The settings' short commands, on as few lines as fit. */
static void
cmd_help_shorts(struct buf *out)
{
	size_t col = 0;

	for (size_t i = 0; i < CMD_N_TABLE; i++) {
		const struct cmd_entry *e = &cmd_table[i];

		if (e->setting == NULL)
			continue;
		if (col > 0 && col + strlen(e->name) + strlen(e->args) + 3 > 76) {
			buf_puts(out, "\n");
			col = 0;
		}
		buf_printf(out, "  /%s %s", e->name, e->args);
		col += strlen(e->name) + strlen(e->args) + 4;
	}
	buf_puts(out, "\n  (each alone shows the setting; with a value, sets "
	    "it as /set does)\n");
}

/*
 * The /help text: one line per command (a 24-row screen holds it), or
 * with what "keys", the key bindings.  The man page lists the same.
 */
void
cmd_help(const char *what, struct buf *out)
{
	if (what != NULL && *what != '\0' &&
	    cmd_name_eq(what, strlen(what), "keys", 1)) {
		cmd_help_keys(out, "Keys while a reply streams:", cmd_live_keys);
		cmd_help_keys(out, "Keys at the prompt:", cmd_edit_keys);
		return;
	}
	buf_puts(out, "Commands (a unique prefix is enough):\n");
	for (size_t i = 0, shorts = 0; i < CMD_N_TABLE; i++) {
		const struct cmd_entry	*e = &cmd_table[i];
		char			 syn[40], help[160];

		/* the settings' short commands share lines, so that the list
		 * fits a 30-row screen; /show and /set say what each is */
		if (e->setting != NULL) {
			if (shorts++ > 0)
				continue;
			cmd_help_shorts(out);
			continue;
		}
		snprintf(syn, sizeof syn, "/%s %s", e->name, e->args);
		if (e->help != NULL)
			snprintf(help, sizeof help, "%s", e->help);
		else
			cmd_setting_help(e->setting, help, sizeof help);
		buf_printf(out, "  %-24s %s\n", syn, help);
	}
	buf_puts(out, "Keys: /help keys lists them.\n");
}

/*
 * Name of command i (without the slash) for completion; NULL past the end.
 */
const char *
cmd_name(size_t i)
{
	return i < CMD_N_TABLE ? cmd_table[i].name : NULL;
}

/*
 * Completion of slash commands, in the shape readline's
 * rl_completion_matches() wants: state 0 restarts; each call returns the
 * next "/name" that starts with text (malloc'd, caller frees), then NULL.
 */
char *
cmd_complete(const char *text, int state)
{
	static size_t	i;
	size_t		n;

	if (state == 0)
		i = 0;
	if (text[0] != '/')
		return NULL;
	n = strlen(text + 1);
	while (i < CMD_N_TABLE) {
		const char *name = cmd_table[i++].name;

		if (strncmp(name, text + 1, n) == 0)
			return xasprintf("/%s", name);
	}
	return NULL;
}

/* Find a command by exact name, else by unique prefix. */
static const struct cmd_entry *
cmd_find(const char *word, size_t n, struct err *err)
{
	const struct cmd_entry *found = NULL;
	int n_found = 0;

	for (size_t i = 0; i < CMD_N_TABLE; i++)
		if (cmd_name_eq(word, n, cmd_table[i].name, 0))
			return &cmd_table[i];
	for (size_t i = 0; i < CMD_N_TABLE; i++) {
		if (cmd_name_eq(word, n, cmd_table[i].name, 1)) {
			found = &cmd_table[i];
			n_found++;
		}
	}
	if (n_found == 1)
		return found;
	err_set(err, "%s command '/%.*s' (try /help)", n_found ? "ambiguous" :
	    "unknown", (int)n, word);
	return NULL;
}

/*
 * Run one input line.  Lines that do not start with '/' (and lines that
 * start with "//", one slash removed by the caller) are prompts: CMD_PROMPT.
 * Anything else is a command from cmd_table; its output goes to out and a
 * failure to err as one line.
 */
enum cmd_action
cmd_run(struct repl *st, const char *line, struct buf *out, struct err *err)
{
	const struct cmd_entry	*e;
	const char		*args;
	char			*trimmed;
	size_t			 n, len;
	enum cmd_action		 act;

	err_clear(err);
	if (line[0] != '/' || line[1] == '/')
		return CMD_PROMPT;
	n = strcspn(line + 1, " \t");
	if (n == 0) {
		err_set(err, "empty command (try /help)");
		return CMD_ERROR;
	}
	if ((e = cmd_find(line + 1, n, err)) == NULL)
		return CMD_ERROR;
	args = line + 1 + n;
	args += strspn(args, " \t");
	len = strlen(args);
	while (len > 0 && isspace((unsigned char)args[len - 1]) &&
	    strcmp(e->name, "stop") != 0)
		len--;
	trimmed = xstrndup(args, len);
	act = e->fn(st, e, trimmed, out, err);
	free(trimmed);
	return act;
}

/* Add one line of a block (the first one without a newline before it). */
static void
cmd_block_add(struct cmd_block *b, const char *s, size_t n)
{
	if (b->n_lines++ > 0)
		buf_puts(b->text, "\n");
	buf_append(b->text, s, n);
}

/*
 * Feed one input line to a block; see commands.h.  The opening line's rest
 * and the closing line's start are dropped when empty (the three lines
 * <"""> <Once> <"""> give "Once"); blank lines in between are kept.
 */
int
cmd_block_line(struct cmd_block *b, const char *line, char **text)
{
	size_t	q = strlen(CMD_BLOCK), n = strlen(line);
	int	first = !b->open, end;

	if (first) {
		if (strncmp(line, CMD_BLOCK, q) != 0)
			return 0;
		line += q;
		n -= q;
		b->open = 1;
		b->n_lines = 0;
		b->text = xcalloc(1, sizeof *b->text);
		buf_init(b->text);
	}
	end = n >= q && strcmp(line + n - q, CMD_BLOCK) == 0;
	if (end)
		n -= q;
	if (n > 0 || (!first && !end))
		cmd_block_add(b, line, n);
	if (!end)
		return 1;
	*text = xstrdup(b->text->data != NULL ? b->text->data : "");
	cmd_block_reset(b);
	return 2;
}

/* Drop a block being typed. */
void
cmd_block_reset(struct cmd_block *b)
{
	if (b->text != NULL)
		buf_fini(b->text);
	free(b->text);
	b->text = NULL;
	b->open = 0;
	b->n_lines = 0;
}
