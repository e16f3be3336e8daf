/*
 * main.c: subcommand dispatch.  `lmsh` alone (or with only options) opens
 * the REPL; `lmsh CMD ...` runs one subcommand from the table below.  Exit
 * status: 0 success, 1 runtime error, 2 bad usage.
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "cli.h"

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

static char *
main_prog_name(const char *cmd)
{
	static char name[64];

	snprintf(name, sizeof name, "lmsh %s", cmd);
	return name;
}

static void
main_usage(FILE *f)
{
	fputs(repl_usage, f);
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
	main_tune_openmp(argv);
	setlocale(LC_ALL, "");
	if (argc >= 2 && argv[1][0] != '-') {
		for (size_t i = 0; i < MAIN_N_COMMANDS; i++) {
			if (strcmp(argv[1], main_commands[i]->name) != 0)
				continue;
			/* getopt names argv[0] in its messages */
			argv[1] = main_prog_name(main_commands[i]->name);
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
