/* Placeholder; the owner replaces it. */
#include "config.h"
#include "cli.h"

static int
eval_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("eval: not implemented yet");
	return CLI_EXIT_ERROR;
}
const struct cli_command cli_cmd_eval = { "eval", eval_run, "loss, bits per byte and perplexity of a model on a text",
    "usage: lmsh eval [options]\n" };

static int
convert_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("convert: not implemented yet");
	return CLI_EXIT_ERROR;
}
const struct cli_command cli_cmd_convert = { "convert", convert_run, "turn a PyTorch checkpoint into a model directory",
    "usage: lmsh convert [options]\n" };

