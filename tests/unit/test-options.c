/*
 * test-options.c covers: both spellings of every long option (--top-p and
 * --top_p), the reference text's flags, short forms, range checks that make
 * bad values a usage error, --device other than cpu, repeated --stop, and
 * that operands are left after optind.
 */
#include "config.h"

#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "options.h"

static enum options_result
parse(struct lm_options *o, int argc, char **argv, int *ind)
{
	options_init(o);
	return options_parse(o, "generate", argc, argv, ind);
}

static void
test_reference_flags(void)
{
	struct lm_options	 o;
	int			 ind;
	char *argv[] = { "generate", "--checkpoint_path", "m.pt",
	    "--vocab_size", "10000", "--context_length", "256",
	    "--d_model", "512", "--num_layers", "4", "--num_heads", "16",
	    "--d_ff", "1344", "--rope_theta", "10000",
	    "--prompt_tokens", "1,2,3", "--max_new_tokens", "50",
	    "--temperature", "0.8", "--top_p", "0.9", "--seed", "42",
	    "--num_samples", "5", "--eos_token_id", "256", "--device", "cpu",
	    NULL };

	CHECK(parse(&o, 33, argv, &ind) == OPTIONS_OK);
	CHECK(ind == 33);
	CHECK(strcmp(o.src.checkpoint, "m.pt") == 0);
	CHECK(o.src.cfg.vocab_size == 10000 && o.src.cfg.context_length == 256);
	CHECK(o.src.cfg.d_model == 512 && o.src.cfg.num_layers == 4);
	CHECK(o.src.cfg.num_heads == 16 && o.src.cfg.d_ff == 1344);
	CHECK_NEAR(o.src.cfg.rope_theta, 10000, 0);
	CHECK(strcmp(o.prompt_tokens, "1,2,3") == 0);
	CHECK(o.gen.max_new_tokens == 50);
	CHECK_NEAR(o.gen.sp.temperature, 0.8, 1e-7);
	CHECK_NEAR(o.gen.sp.top_p, 0.9, 1e-7);
	CHECK(o.seed_set && o.gen.seed == 42);
	CHECK(o.num_samples == 5);
	CHECK(o.eos_set && o.gen.eos_id == 256);
}

static void
test_gnu_flags(void)
{
	struct lm_options	 o;
	int			 ind;
	char *argv[] = { "generate", "--top-p", "0.5", "--max-new-tokens",
	    "7", "-t", "0", "--stop", "\n\n", "--stop", "The end",
	    "--top-k", "40", "--min-p", "0.05", "--repeat-penalty", "1.1",
	    "--no-history", "operand", NULL };

	CHECK(parse(&o, 19, argv, &ind) == OPTIONS_OK);
	CHECK_NEAR(o.gen.sp.top_p, 0.5, 1e-7);
	CHECK(o.gen.max_new_tokens == 7);
	CHECK(o.gen.sp.temperature == 0);
	CHECK(o.gen.n_stop == 2 && strcmp(o.gen.stop[1], "The end") == 0);
	CHECK(o.gen.sp.top_k == 40);
	CHECK_NEAR(o.gen.sp.min_p, 0.05, 1e-7);
	CHECK_NEAR(o.gen.sp.repeat_penalty, 1.1, 1e-6);
	CHECK(o.no_history);
	CHECK(ind == 18 && strcmp(argv[ind], "operand") == 0);
}

static void
test_bad_values(void)
{
	struct lm_options	 o;
	int			 ind;
	char *bad[][3] = {
		{ "generate", "--temperature", "-1" },
		{ "generate", "--temperature", "nan" },
		{ "generate", "--top_p", "0" },
		{ "generate", "--top-p", "1.5" },
		{ "generate", "--seed", "-3" },
		{ "generate", "--max-new-tokens", "12x" },
		{ "generate", "--device", "cuda" },
		{ "generate", "--mode", "sideways" },
		{ "generate", "--no-such-option", "1" },
	};

	/* the messages go to stderr; only the result matters here */
	fflush(stderr);
	int saved = dup(2);
	int null = open("/dev/null", O_WRONLY);
	dup2(null, 2);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *argv[4] = { bad[i][0], bad[i][1], bad[i][2], NULL };
		CHECK_MSG(parse(&o, 3, argv, &ind) == OPTIONS_USAGE,
		    "%s %s", bad[i][1], bad[i][2]);
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(null);
}

static void
test_help(void)
{
	struct lm_options	 o;
	int			 ind;
	char *argv[] = { "generate", "--help", NULL };

	CHECK(parse(&o, 2, argv, &ind) == OPTIONS_HELP);
}

int
main(void)
{
	test_reference_flags();
	test_gnu_flags();
	test_help();
	test_bad_values();
	CHECK_RESULT();
}
