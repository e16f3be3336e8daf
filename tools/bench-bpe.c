/*
 * bench-bpe.c: encode throughput of lmsh's BPE, for tools/bench-bpe.sh.
 *
 *   bench-bpe VOCAB MERGES TEXT [REPEATS]
 *
 * Prints the load time and the best of REPEATS (default 5) single-threaded
 * encodes of TEXT as MB/s (10^6 bytes per second), one encode call per run
 * as `lmsh tokenize` does.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "bpe.h"
#include "util.h"

int
main(int argc, char **argv)
{
	struct err	 err;
	struct bpe	*b;
	char		*text;
	size_t		 len, n = 0;
	int		 reps = argc > 4 ? atoi(argv[4]) : 5;
	double		 t0, best = 1e30;

	if (argc < 4) {
		fprintf(stderr, "usage: bench-bpe VOCAB MERGES TEXT [REPEATS]\n");
		return 2;
	}
	t0 = util_now();
	if ((b = bpe_load(argv[1], argv[2], &err)) == NULL) {
		fprintf(stderr, "bench-bpe: %s\n", err.msg);
		return 1;
	}
	printf("load %.3f s (%zu tokens)\n", util_now() - t0, bpe_n_vocab(b));
	if (util_read_file(argv[3], &text, &len, &err) != 0) {
		fprintf(stderr, "bench-bpe: %s\n", err.msg);
		return 1;
	}
	for (int r = 0; r < reps; r++) {
		int32_t *ids;

		t0 = util_now();
		if (bpe_encode(b, text, len, BPE_UTF8_STRICT, &ids, &n,
		    &err) != 0) {
			fprintf(stderr, "bench-bpe: %s\n", err.msg);
			return 1;
		}
		if (util_now() - t0 < best)
			best = util_now() - t0;
		free(ids);
	}
	printf("encode %.2f MB/s (%zu bytes -> %zu ids, best of %d: %.3f s)\n",
	    (double)len / best / 1e6, len, n, reps, best);
	free(text);
	bpe_free(b);
	return 0;
}
