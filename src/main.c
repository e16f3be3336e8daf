/*
 * main.c: subcommand dispatch.  `lmsh` alone (or with only options) opens
 * the REPL; `lmsh CMD ...` runs one subcommand from the table below.  Exit
 * status: 0 success, 1 runtime error, 2 bad usage.
 */
#include "config.h"

#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "cli.h"
#include "options.h"

static const struct cli_command *const main_commands[] = {
	&cli_cmd_generate,
	&cli_cmd_tokenize,
	&cli_cmd_detokenize,
	&cli_cmd_bpe_train,
	&cli_cmd_eval,
	&cli_cmd_convert,
	&cli_cmd_history,
	&cli_cmd_replay,
	&cli_cmd_bench,
};
#define MAIN_N_COMMANDS (sizeof main_commands / sizeof main_commands[0])

/* The REPL's options; `lmsh --help` shows them before the subcommands. */
static const struct options_use main_repl_opts[] = {
	{ OPT_MODEL, NULL }, OPTIONS_USE_MODEL,
	{ OPT_THREADS, NULL }, { OPT_DEVICE, NULL },
	OPTIONS_USE_SAMPLING,
	{ OPT_SEED, "seed of every turn (default: a new one per turn, "
	    "recorded in the history)" },
	{ OPT_MAX_NEW, NULL }, { OPT_EOS, NULL }, { OPT_STOP, NULL },
	{ OPT_REPLACE_INVALID, "turn bytes of a prompt that are not UTF-8 "
	    "into U+FFFD instead of refusing it" },
	{ OPT_MODE, NULL }, { OPT_KEEP, NULL }, { OPT_SHIFT, NULL },
	{ OPT_RESUME, NULL },
	{ OPT_NO_SCROLLBACK, NULL }, { OPT_PLAIN, NULL },
	{ OPT_PACE, "show at most N tokens a second (default 30 on the "
	    "screen; 0 = full speed, the default in line mode)" },
	{ OPT_RAW, "replies to a terminal as they are (line mode; by "
	    "default controls are shown there, not obeyed)" },
	{ OPT_HISTORY, NULL }, { OPT_NO_HISTORY, NULL },
	{ OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_repl = {
	NULL, repl_main, "the REPL",
	"usage: lmsh [options]\n"
	"       lmsh COMMAND [options] ...\n"
	"\n"
	"Without a command: the REPL.  Type a prompt and watch the reply stream in;\n"
	"/help lists commands and keys.  It runs in line mode (plain lines on stdin\n"
	"and stdout) when either is not a terminal, TERM=dumb, or --plain.\n",
	main_repl_opts
};

static void
main_usage(FILE *f)
{
	cli_usage(&cli_cmd_repl, f);
	fputs("\nSubcommands (lmsh CMD --help for each):\n", f);
	for (size_t i = 0; i < MAIN_N_COMMANDS; i++)
		fprintf(f, "  %-11s %s\n", main_commands[i]->name,
		    main_commands[i]->summary);
	fputs("\nSee lmsh(1) for everything else.\n", f);
}

/*
 * libgomp's threads spin for ~300k iterations at every barrier before they
 * sleep.  On a machine shared with other work (the common case for a shell
 * tool) two spinning threads on two cores made decoding 2-5x slower than one
 * thread.  A short spin keeps the fast hand-off on an idle machine and yields
 * the core under load.  libgomp reads its environment in a constructor, before
 * main(), so the setting only takes effect in a fresh image: re-exec once.
 * A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins.
 */
/*
 * valgrind cannot follow an exec of /proc/self/exe (it names valgrind's own
 * tool): it refuses it and lmsh would exit.  Under valgrind, or with
 * LMSH_NO_REEXEC set (for builds without valgrind's header), do not re-exec.
 */
static int
main_no_reexec(void)
{
	const char *e = getenv("LMSH_NO_REEXEC");

#ifdef HAVE_VALGRIND_VALGRIND_H
	if (RUNNING_ON_VALGRIND)
		return 1;
#endif
	return e != NULL && *e != '\0';
}

static void
main_tune_openmp(char **argv)
{
	if (getenv("OMP_WAIT_POLICY") != NULL ||
	    getenv("GOMP_SPINCOUNT") != NULL || main_no_reexec())
		return;
	if (setenv("GOMP_SPINCOUNT", "10000", 0) != 0)
		return;
	execv("/proc/self/exe", argv);
	/* no /proc: carry on with libgomp's defaults */
}

int
main(int argc, char **argv)
{
#ifdef M_ARENA_MAX
	/* One malloc arena: a thread's own arena reserves 64 MiB of address
	 * space, and under a tight ulimit -v that made BLIS's malloc fail
	 * (and BLIS abort) when two threads first allocated at once. */
	mallopt(M_ARENA_MAX, 1);
#endif
	main_tune_openmp(argv);
	setlocale(LC_ALL, "");
	if (argc >= 2 && argv[1][0] != '-') {
		for (size_t i = 0; i < MAIN_N_COMMANDS; i++) {
			if (strcmp(argv[1], main_commands[i]->name) != 0)
				continue;
			return main_commands[i]->run(argc - 1, argv + 1);
		}
		if (strcmp(argv[1], "help") == 0) {
			main_usage(stdout);
			return CLI_EXIT_OK;
		}
		fprintf(stderr, "lmsh: unknown command '%s'\n"
		    "Try 'lmsh --help'.\n", argv[1]);
		return CLI_EXIT_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			main_usage(stdout);
			return CLI_EXIT_OK;
		}
	}
	return repl_main(argc, argv);
}
