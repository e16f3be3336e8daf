/* Placeholder; the owner replaces it. */
#include "config.h"
#include "cli.h"

static int
tokenize_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("tokenize: not implemented yet");
	return CLI_EXIT_ERROR;
}
const struct cli_command cli_cmd_tokenize = { "tokenize", tokenize_run, "text to token ids",
    "usage: lmsh tokenize [options]\n" };

static int
detokenize_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("detokenize: not implemented yet");
	return CLI_EXIT_ERROR;
}
const struct cli_command cli_cmd_detokenize = { "detokenize", detokenize_run, "token ids to text",
    "usage: lmsh detokenize [options]\n" };

static int
bpe_train_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	cli_error("bpe-train: not implemented yet");
	return CLI_EXIT_ERROR;
}
const struct cli_command cli_cmd_bpe_train = { "bpe-train", bpe_train_run, "train a byte-level BPE tokenizer",
    "usage: lmsh bpe-train [options]\n" };

