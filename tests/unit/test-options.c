/*
 * test-options.c covers: both spellings of every long option (--top-p and
 * --top_p), the reference text's flags, short forms, range checks that make
 * bad values a usage error with a message naming the option, --device other
 * than cpu, repeated --stop, that operands are left after optind, that a
 * subcommand refuses an option it does not take, that the given-bitmask
 * records exactly the options on argv, that --resume takes its SESSION
 * only as --resume=SESSION (the word after it stays an operand, and an
 * option after it is an option), and that the --help list written
 * from a subcommand's options names each of them and nothing else.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "generate.h"
#include "model.h"
#include "options.h"
#include "sampler.h"
#include "util.h"

/* A subcommand that takes every option. */
static struct options_use all_opts[OPT__N + 1];

static enum options_result
parse(struct lm_options *o, int argc, char **argv, int *ind, struct err *err)
{
	options_fini(o);
	options_init(o);
	return options_parse(o, all_opts, argc, argv, ind, err);
}

static void
test_reference_flags(void)
{
	struct lm_options	 o = { 0 };
	struct err		 err;
	int			 ind;
	char *argv[] = { "generate", "--checkpoint_path", "m.pt",
	    "--vocab_size", "10000", "--context_length", "256",
	    "--d_model", "512", "--num_layers", "4", "--num_heads", "16",
	    "--d_ff", "1344", "--rope_theta", "10000",
	    "--prompt_tokens", "1,2,3", "--max_new_tokens", "50",
	    "--temperature", "0.8", "--top_p", "0.9", "--seed", "42",
	    "--num_samples", "5", "--eos_token_id", "256", "--device", "cpu",
	    NULL };
	int argc = (int)(sizeof argv / sizeof argv[0]) - 1;

	CHECK(parse(&o, argc, argv, &ind, &err) == OPTIONS_OK);
	CHECK(ind == argc);
	CHECK(strcmp(o.src->checkpoint, "m.pt") == 0);
	CHECK(o.src->cfg.vocab_size == 10000 && o.src->cfg.context_length == 256);
	CHECK(o.src->cfg.d_model == 512 && o.src->cfg.num_layers == 4);
	CHECK(o.src->cfg.num_heads == 16 && o.src->cfg.d_ff == 1344);
	CHECK_NEAR(o.src->cfg.rope_theta, 10000, 0);
	CHECK(strcmp(o.prompt_tokens, "1,2,3") == 0);
	CHECK(o.gen->max_new_tokens == 50);
	CHECK_NEAR(o.gen->sp.temperature, 0.8, 1e-7);
	CHECK_NEAR(o.gen->sp.top_p, 0.9, 1e-7);
	CHECK(options_given(&o, OPT_SEED) && o.gen->seed == 42);
	CHECK(o.num_samples == 5);
	CHECK(options_given(&o, OPT_EOS) && o.gen->eos_id == 256);
	options_fini(&o);
}

static void
test_gnu_flags(void)
{
	struct lm_options	 o = { 0 };
	struct err		 err;
	int			 ind;
	char *argv[] = { "generate", "--top-p", "0.5", "--max-new-tokens",
	    "7", "-t", "0", "--stop", "\n\n", "--stop", "The end",
	    "--top-k", "40", "--min-p", "0.05", "--repeat-penalty", "1.1",
	    "--no-history", "operand", NULL };

	CHECK(parse(&o, 19, argv, &ind, &err) == OPTIONS_OK);
	CHECK_NEAR(o.gen->sp.top_p, 0.5, 1e-7);
	CHECK(o.gen->max_new_tokens == 7);
	CHECK(o.gen->sp.temperature == 0);
	CHECK(o.gen->n_stop == 2 && strcmp(o.gen->stop[1], "The end") == 0);
	CHECK(o.gen->sp.top_k == 40);
	CHECK_NEAR(o.gen->sp.min_p, 0.05, 1e-7);
	CHECK_NEAR(o.gen->sp.repeat_penalty, 1.1, 1e-6);
	CHECK(o.no_history);
	CHECK(ind == 18 && strcmp(argv[ind], "operand") == 0);
	options_fini(&o);
}

/* The bitmask holds the options on argv, whatever their values. */
static void
test_given(void)
{
	struct lm_options	 o = { 0 };
	struct err		 err;
	int			 ind;
	/* values equal to the defaults still count as given */
	char *argv[] = { "replay", "-t", "0.8", "--stop", "x", "-n", "20",
	    "-v", NULL };
	int temp = OPT_SETTING + (int)(sampler_setting_find("temperature") -
	    sampler_settings);
	uint64_t want = OPTIONS_BIT(temp) | OPTIONS_BIT(OPT_STOP) |
	    OPTIONS_BIT(OPT_COUNT) | OPTIONS_BIT(OPT_LOG);

	CHECK(parse(&o, 8, argv, &ind, &err) == OPTIONS_OK);
	CHECK_MSG(o.given == want, "%llx", (unsigned long long)o.given);
	CHECK(options_given(&o, temp) && !options_given(&o, OPT_SEED));
	CHECK(strcmp(o.log_path, "lmsh.log") == 0);
	options_fini(&o);
	options_init(&o);
	CHECK(o.given == 0);
	/* the settings live apart from the struct, and fini may repeat */
	CHECK(o.gen != NULL && o.src != NULL);
	options_fini(&o);
	CHECK(o.gen == NULL && o.src == NULL);
	options_fini(&o);
}

static void
test_bad_values(void)
{
	struct lm_options	 o = { 0 };
	struct err		 err;
	int			 ind;
	static const char *bad[][4] = {
		{ "--temperature", "-1", "--temperature: '-1' is not a number" },
		{ "--temperature", "nan", "--temperature: 'nan'" },
		{ "--top_p", "0", "--top-p: '0' is not a number in (0, 1]" },
		{ "--top-p", "1.5", "--top-p: '1.5'" },
		{ "--seed", "-3", "--seed: '-3' is not a non-negative" },
		{ "--max-new-tokens", "12x", "--max-new-tokens: '12x'" },
		{ "--device", "cuda", "--device: 'cuda': lmsh runs on the CPU" },
		{ "--mode", "sideways", "--mode: 'sideways'" },
		{ "-n", "x", "-n: 'x' is not an integer" },
		{ "--no-such-option", "1", "unrecognized option "
		    "'--no-such-option'" },
		{ "--to", "1", "option '--to' is ambiguous" },
		{ "--top_", "1", "option '--top_' is ambiguous" },
		{ "--json=1", "x", "option '--json' takes no argument" },
		{ "-q", "x", "unknown option '-q'" },
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *argv[4] = { "generate", (char *)bad[i][0],
		    (char *)bad[i][1], NULL };

		err.msg[0] = '\0';
		CHECK_MSG(parse(&o, 3, argv, &ind, &err) == OPTIONS_USAGE,
		    "%s %s", bad[i][0], bad[i][1]);
		CHECK_MSG(strncmp(err.msg, bad[i][2], strlen(bad[i][2])) == 0,
		    "%s: '%s'", bad[i][0], err.msg);
	}
	options_fini(&o);
}

static void
test_missing_argument(void)
{
	struct lm_options	 o = { 0 };
	struct err		 err;
	int			 ind;
	char *a1[] = { "generate", "--prompt", NULL };
	char *a2[] = { "generate", "-t", NULL };

	CHECK(parse(&o, 2, a1, &ind, &err) == OPTIONS_USAGE);
	CHECK_MSG(strcmp(err.msg, "option '--prompt' needs an argument") == 0,
	    "%s", err.msg);
	CHECK(parse(&o, 2, a2, &ind, &err) == OPTIONS_USAGE);
	CHECK_MSG(strcmp(err.msg, "option '-t' needs an argument") == 0, "%s",
	    err.msg);
	options_fini(&o);
}

/* A subcommand refuses the options it does not list, by their GNU name. */
static void
test_does_not_apply(void)
{
	static const struct options_use tok[] = {
		{ OPT_MODEL, NULL }, { OPT_FORMAT, "ids or json" },
		{ OPT__N, NULL }
	};
	struct lm_options	 o = { 0 };
	struct err		 err;
	int			 ind;
	char *a1[] = { "tokenize", "--temperature", "2", NULL };
	char *a2[] = { "tokenize", "-t", "2", NULL };
	char *a3[] = { "tokenize", "--format", "json", "--help", NULL };
	char *a4[] = { "tokenize", "--version", NULL };
	char *a5[] = { "tokenize", "--top_p", "0.5", NULL };
	char *a6[] = { "tokenize", "--temperature", NULL };
	char *a7[] = { "tokenize", "--json=1", NULL };

	options_init(&o);
	CHECK(options_parse(&o, tok, 3, a1, &ind, &err) == OPTIONS_USAGE);
	CHECK_MSG(strcmp(err.msg, "option --temperature does not apply") == 0,
	    "%s", err.msg);
	CHECK(options_parse(&o, tok, 3, a2, &ind, &err) == OPTIONS_USAGE);
	CHECK(strcmp(err.msg, "option --temperature does not apply") == 0);
	CHECK(options_parse(&o, tok, 3, a5, &ind, &err) == OPTIONS_USAGE);
	CHECK(strcmp(err.msg, "option --top-p does not apply") == 0);
	CHECK(o.gen->sp.temperature != 2);
	/* refused as not applying before its argument is looked at */
	CHECK(options_parse(&o, tok, 2, a6, &ind, &err) == OPTIONS_USAGE);
	CHECK(strcmp(err.msg, "option --temperature does not apply") == 0);
	CHECK(options_parse(&o, tok, 2, a7, &ind, &err) == OPTIONS_USAGE);
	CHECK(strcmp(err.msg, "option --json does not apply") == 0);
	/* --help and --version apply everywhere */
	CHECK(options_parse(&o, tok, 4, a3, &ind, &err) == OPTIONS_HELP);
	CHECK(options_parse(&o, tok, 2, a4, &ind, &err) == OPTIONS_VERSION);
	options_fini(&o);
}

/* --resume's optional SESSION: only after '=', so that a following
 * option is never taken for it (repl.c takes the next word itself). */
static void
test_resume(void)
{
	struct lm_options	 o = { 0 };
	struct err		 err;
	int			 ind;
	char *eq[] = { "lmsh", "--resume=tale", "--plain", NULL };
	char *word[] = { "lmsh", "--resume", "tale", "--plain", NULL };
	char *alone[] = { "lmsh", "--resume", "--plain", NULL };
	char *empty[] = { "lmsh", "--resume=", NULL };
	struct buf b;

	CHECK(parse(&o, 3, eq, &ind, &err) == OPTIONS_OK);
	CHECK(o.resume && o.resume_session != NULL &&
	    strcmp(o.resume_session, "tale") == 0 && o.plain && ind == 3);
	CHECK(parse(&o, 4, word, &ind, &err) == OPTIONS_OK);
	CHECK(o.resume && o.resume_session == NULL && o.plain);
	CHECK(ind == 3 && strcmp(word[ind], "tale") == 0);
	CHECK(parse(&o, 3, alone, &ind, &err) == OPTIONS_OK);
	CHECK(o.resume && o.resume_session == NULL && o.plain && ind == 3);
	/* "" is the latest session, as /resume with no word */
	CHECK(parse(&o, 2, empty, &ind, &err) == OPTIONS_OK);
	CHECK(o.resume && o.resume_session != NULL && *o.resume_session == 0);
	options_fini(&o);

	static const struct options_use use[] = {
		{ OPT_RESUME, NULL }, { OPT__N, NULL }
	};
	buf_init(&b);
	options_usage(&b, use);
	CHECK_MSG(strncmp(b.data, "      --resume[=SESSION]   ", 27) == 0,
	    "%s", b.data);
	buf_fini(&b);
}

/* --help's list names the subcommand's options, with their own texts. */
static void
test_usage(void)
{
	static const struct options_use use[] = {
		{ OPT_GROUP, "Heading:" },
		{ OPT_MODEL, NULL }, { OPT_FORMAT, "ids or json" },
		{ OPT_D_MODEL, NULL }, { OPT_D_FF, "the shape" },
		{ OPT_COUNT, NULL },
		{ OPT__N, NULL }
	};
	struct buf b;

	buf_init(&b);
	options_usage(&b, use);
	CHECK(strncmp(b.data, "Heading:\n  -m, --model DIR ", 27) == 0);
	CHECK(strstr(b.data, "      --format FMT           ids or json\n") !=
	    NULL);
	CHECK(strstr(b.data, "      --d-model N, --d-ff N  the shape\n") !=
	    NULL);
	CHECK(strstr(b.data, "  -n N ") != NULL);
	CHECK(strstr(b.data, "--temperature") == NULL);
	CHECK(strstr(b.data, "  -h, --help                 show this help\n") != NULL);
	/* every line fits 79 columns */
	for (const char *p = b.data; *p != '\0'; p += strcspn(p, "\n") + 1)
		CHECK(strcspn(p, "\n") <= 79);
	buf_fini(&b);
}

static void
test_help(void)
{
	struct lm_options	 o = { 0 };
	struct err		 err;
	int			 ind;
	char *argv[] = { "generate", "--help", NULL };

	CHECK(parse(&o, 2, argv, &ind, &err) == OPTIONS_HELP);
	options_fini(&o);
}

int
main(void)
{
	for (int i = 0; i < OPT__N; i++)
		all_opts[i] = (struct options_use){ i, NULL };
	all_opts[OPT__N] = (struct options_use){ OPT__N, NULL };
	test_reference_flags();
	test_gnu_flags();
	test_given();
	test_help();
	test_resume();
	test_bad_values();
	test_missing_argument();
	test_does_not_apply();
	test_usage();
	CHECK_RESULT();
}
