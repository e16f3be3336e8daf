#ifndef LMSH_SHA256_H
#define LMSH_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct err;

#define SHA256_DIGEST_LEN	32
#define SHA256_HEX_LEN		64

/* Streaming SHA-256 (FIPS 180-4), for model fingerprints. */
struct sha256 {
	uint32_t	h[8];		/* chaining state */
	uint64_t	n_bytes;	/* message bytes so far */
	uint8_t		block[64];	/* pending partial block */
	size_t		block_len;	/* bytes used in block */
};

void	sha256_init(struct sha256 *);
void	sha256_update(struct sha256 *, const void *, size_t);
void	sha256_final(struct sha256 *, uint8_t out[SHA256_DIGEST_LEN]);
/* One-shot helpers; hex is lower-case and NUL-terminated (65 bytes). */
void	sha256_hex(const void *, size_t, char hex[SHA256_HEX_LEN + 1]);
void	sha256_to_hex(const uint8_t digest[SHA256_DIGEST_LEN],
	    char hex[SHA256_HEX_LEN + 1]);
int	sha256_file(const char *path, char hex[SHA256_HEX_LEN + 1],
	    struct err *);

#endif
