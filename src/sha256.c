/*
 * sha256.c: a small SHA-256 (FIPS 180-4) so that history can fingerprint a
 * model's weights and tokenizer without another library.  The state is the
 * eight chaining words plus one pending 64-byte block; sha256_final() pads
 * with 0x80, zeros and the message length in bits, big-endian.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "util.h"

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

static uint32_t
sha256_rotr(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

/* Compress one 64-byte block into the chaining state. */
static void
sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], v[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = sha256_rotr(w[i - 15], 7) ^
		    sha256_rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = sha256_rotr(w[i - 2], 17) ^
		    sha256_rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, s->h, sizeof v);
	uint32_t a = v[0], b = v[1], c = v[2], d = v[3];
	uint32_t e = v[4], f = v[5], g = v[6], h = v[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (sha256_rotr(e, 6) ^ sha256_rotr(e, 11) ^
		    sha256_rotr(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] +
		    w[i];
		uint32_t t2 = (sha256_rotr(a, 2) ^ sha256_rotr(a, 13) ^
		    sha256_rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	v[0] = a; v[1] = b; v[2] = c; v[3] = d;
	v[4] = e; v[5] = f; v[6] = g; v[7] = h;
	for (int i = 0; i < 8; i++)
		s->h[i] += v[i];
}

/* Start a new digest. */
void
sha256_init(struct sha256 *s)
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	memcpy(s->h, h0, sizeof h0);
	s->n_bytes = 0;
	s->block_len = 0;
}

/* Feed len bytes; any length, any number of calls. */
void
sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->n_bytes += len;
	while (len > 0) {
		if (s->block_len == 0 && len >= 64) {
			sha256_block(s, p);
			p += 64;
			len -= 64;
			continue;
		}
		size_t take = 64 - s->block_len;
		if (take > len)
			take = len;
		memcpy(s->block + s->block_len, p, take);
		s->block_len += take;
		p += take;
		len -= take;
		if (s->block_len == 64) {
			sha256_block(s, s->block);
			s->block_len = 0;
		}
	}
}

/* Pad, write the 32-byte digest to out; s must be re-initialised to reuse. */
void
sha256_final(struct sha256 *s, uint8_t out[SHA256_DIGEST_LEN])
{
	uint64_t	bits = s->n_bytes * 8;
	uint8_t		pad[72] = { 0x80 };
	size_t		n_pad = (s->block_len < 56 ? 56 : 120) - s->block_len;

	for (int i = 0; i < 8; i++)
		pad[n_pad + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, pad, n_pad + 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

/* Lower-case hex of a digest, NUL-terminated. */
void
sha256_to_hex(const uint8_t digest[SHA256_DIGEST_LEN],
    char hex[SHA256_HEX_LEN + 1])
{
	static const char xd[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_DIGEST_LEN; i++) {
		hex[2 * i] = xd[digest[i] >> 4];
		hex[2 * i + 1] = xd[digest[i] & 15];
	}
	hex[SHA256_HEX_LEN] = '\0';
}

/* Hex digest of one buffer. */
void
sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
	struct sha256	s;
	uint8_t		d[SHA256_DIGEST_LEN];

	sha256_init(&s);
	sha256_update(&s, data, len);
	sha256_final(&s, d);
	sha256_to_hex(d, hex);
}

/*
 * Hex digest of a file's contents, read in 64 KiB pieces so that a large
 * checkpoint is never held in memory.  -1 with the path in err on failure.
 */
int
sha256_file(const char *path, char hex[SHA256_HEX_LEN + 1], struct err *err)
{
	uint8_t		*chunk;
	struct sha256	 s;
	uint8_t		 d[SHA256_DIGEST_LEN];
	FILE		*f;
	size_t		 n;
	int		 rc = -1;

	if ((f = fopen(path, "rb")) == NULL) {
		err_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	chunk = xmalloc(1 << 16);
	sha256_init(&s);
	while ((n = fread(chunk, 1, 1 << 16, f)) > 0)
		sha256_update(&s, chunk, n);
	if (ferror(f)) {
		err_set(err, "%s: read error: %s", path, strerror(errno));
		goto out;
	}
	sha256_final(&s, d);
	sha256_to_hex(d, hex);
	rc = 0;
out:
	free(chunk);
	fclose(f);
	return rc;
}
