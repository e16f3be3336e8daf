/* Placeholder; the owner replaces it. */
#include "config.h"
#include "cli.h"

static int
generate_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("generate: not implemented yet");
	return CLI_EXIT_ERROR;
}
const struct cli_command cli_cmd_generate = { "generate", generate_run, "one-shot generation for scripts",
    "usage: lmsh generate [options]\n" };

