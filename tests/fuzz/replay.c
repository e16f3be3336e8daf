/*
 * replay.c: run a fuzz harness without libFuzzer, as part of make check.
 *
 * Feeds the harness its seed inputs (fuzz_seeds, committed fixtures under
 * tests/data), prefixes of each, and a fixed number of deterministic
 * mutations of them (bit flips, interesting bytes and integers, insertions,
 * deletions, duplicated chunks, truncations), so the error paths get a
 * bounded workout on every build, sanitizer builds included, with no clang.
 * A crash fails the test; LMSH_FUZZ_DUMP=N writes mutation N to
 * fuzz-input-N for a debugger.  LMSH_FUZZ_ITERS changes the count.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

#define REPLAY_ITERS	3000
#define REPLAY_MAX	(1 << 16)	/* bytes in a mutated input */

struct replay_seed {
	unsigned char	*data;		/* the fixture, owned */
	size_t		 len;		/* bytes */
};

static uint64_t replay_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: the same sequence on every machine */
static uint64_t
replay_rand(void)
{
	replay_state ^= replay_state >> 12;
	replay_state ^= replay_state << 25;
	replay_state ^= replay_state >> 27;
	return replay_state * 0x2545f4914f6cdd1dull;
}

static size_t
replay_below(size_t n)
{
	return n ? (size_t)(replay_rand() % n) : 0;
}

/* One edit of buf[0..*len) (capacity REPLAY_MAX). */
static void
replay_mutate_once(unsigned char *buf, size_t *len)
{
	static const uint32_t ints[] = { 0, 1, 0x7f, 0x80, 0xff, 0x7fff,
	    0xffff, 0x7fffffff, 0x80000000u, 0xffffffffu };
	size_t n = *len, at = replay_below(n), k;

	switch (replay_rand() % 7) {
	case 0:		/* flip a bit */
		if (n)
			buf[at] ^= (unsigned char)(1u << replay_below(8));
		break;
	case 1:		/* an interesting byte */
		if (n)
			buf[at] = (unsigned char)ints[replay_below(10)];
		break;
	case 2:		/* an interesting little-endian integer */
		if (n >= 4) {
			uint32_t v = ints[replay_below(10)];
			at = replay_below(n - 3);
			for (int i = 0; i < 4; i++)
				buf[at + i] = (unsigned char)(v >> (8 * i));
		}
		break;
	case 3:		/* insert random bytes */
		k = 1 + replay_below(4);
		if (n + k <= REPLAY_MAX) {
			memmove(buf + at + k, buf + at, n - at);
			for (size_t i = 0; i < k; i++)
				buf[at + i] = (unsigned char)replay_rand();
			*len = n + k;
		}
		break;
	case 4:		/* delete a range */
		k = 1 + replay_below(16);
		if (at + k <= n) {
			memmove(buf + at, buf + at + k, n - at - k);
			*len = n - k;
		}
		break;
	case 5:		/* duplicate a chunk */
		k = 1 + replay_below(32);
		if (at + k <= n && n + k <= REPLAY_MAX) {
			size_t to = replay_below(n);
			memmove(buf + to + k, buf + to, n - to);
			memmove(buf + to, buf + (at >= to ? at + k : at), k);
			*len = n + k;
		}
		break;
	case 6:		/* truncate */
		*len = at;
		break;
	}
}

/* Fixtures, as for the unit tests (AM_TESTS_ENVIRONMENT sets it). */
static const char *
replay_data_dir(void)
{
	const char *d = getenv("LMSH_TEST_DATA");

	return d != NULL ? d : "tests/data";
}

static int
replay_load(struct replay_seed *seeds, size_t *n_seeds)
{
	struct err err;

	*n_seeds = 0;
	for (size_t i = 0; fuzz_seeds[i] != NULL; i++) {
		char *p = xasprintf("%s/%s", replay_data_dir(), fuzz_seeds[i]);
		char *d;
		size_t len;
		if (util_read_file(p, &d, &len, &err) != 0) {
			fprintf(stderr, "%s\n", err.msg);
			free(p);
			return -1;
		}
		free(p);
		if (len > REPLAY_MAX)
			len = REPLAY_MAX;
		seeds[*n_seeds].data = (unsigned char *)d;
		seeds[(*n_seeds)++].len = len;
	}
	return 0;
}

int
main(void)
{
	struct replay_seed seeds[32];
	size_t n_seeds, runs = 0;
	const char *e = getenv("LMSH_FUZZ_ITERS");
	const char *dump = getenv("LMSH_FUZZ_DUMP");
	long iters = e ? atol(e) : REPLAY_ITERS;
	unsigned char *buf = xmalloc(REPLAY_MAX);
	double t0 = util_now();

	if (replay_load(seeds, &n_seeds) != 0 || n_seeds == 0)
		return 99;
	/* the seeds and prefixes of them (up to ~200 cut points each) */
	for (size_t s = 0; s < n_seeds; s++) {
		size_t step = seeds[s].len / 200 + 1;
		for (size_t cut = 0; cut <= seeds[s].len; cut += step) {
			memcpy(buf, seeds[s].data, cut);
			LLVMFuzzerTestOneInput(buf, cut);
			runs++;
		}
		LLVMFuzzerTestOneInput(seeds[s].data, seeds[s].len);
	}
	/* mutations: 1 to 4 edits of a seed each */
	for (long i = 0; i < iters; i++) {
		const struct replay_seed *s = &seeds[replay_below(n_seeds)];
		size_t len = s->len, edits = 1 + replay_below(4);
		memcpy(buf, s->data, len);
		for (size_t j = 0; j < edits; j++)
			replay_mutate_once(buf, &len);
		if (dump != NULL && atol(dump) == i) {
			char *name = xasprintf("fuzz-input-%ld", i);
			struct err err;
			if (util_write_file_atomic(name, buf, len, &err) != 0)
				fprintf(stderr, "%s\n", err.msg);
			free(name);
		}
		LLVMFuzzerTestOneInput(buf, len);
		runs++;
	}
	fprintf(stderr, "%zu inputs in %.2f s, no crash\n", runs,
	    util_now() - t0);
	for (size_t s = 0; s < n_seeds; s++)
		free(seeds[s].data);
	free(buf);
	return 0;
}
