/* Placeholder; the owner replaces it. */
#include "config.h"
#include "cli.h"

static int
bench_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("bench: not implemented yet");
	return CLI_EXIT_ERROR;
}
const struct cli_command cli_cmd_bench = { "bench", bench_run, "speed of the model on this machine",
    "usage: lmsh bench [options]\n" };

