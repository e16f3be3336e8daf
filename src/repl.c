/* Placeholder; the owner replaces it. */
#include "config.h"
#include "cli.h"

const char repl_usage[] = "usage: lmsh [options]\n";

int
repl_main(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("the REPL is not implemented yet");
	return CLI_EXIT_ERROR;
}
