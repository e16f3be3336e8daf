/* Placeholder; the owner replaces it. */
#include "config.h"
#include "cli.h"

static int
history_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("history: not implemented yet");
	return CLI_EXIT_ERROR;
}
const struct cli_command cli_cmd_history = { "history", history_run, "list, show, search, export and delete recorded turns",
    "usage: lmsh history [options]\n" };

static int
replay_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("replay: not implemented yet");
	return CLI_EXIT_ERROR;
}
const struct cli_command cli_cmd_replay = { "replay", replay_run, "regenerate a recorded turn and compare",
    "usage: lmsh replay [options]\n" };

