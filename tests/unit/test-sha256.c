/*
 * test-sha256.c: SHA-256 against the FIPS 180-4 / NIST example vectors
 * (empty string, "abc", the 448-bit two-block message, one million 'a'),
 * every split point of a streamed message, and sha256_file() against the
 * digest of the same bytes in memory (and a missing file).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sha256.h"
#include "util.h"

int
main(void)
{
	char		hex[SHA256_HEX_LEN + 1], hex2[SHA256_HEX_LEN + 1];
	const char	*m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct sha256	s;
	uint8_t		d[SHA256_DIGEST_LEN];
	struct err	err;

	sha256_hex("", 0, hex);
	CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
	sha256_hex("abc", 3, hex);
	CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
	sha256_hex(m448, strlen(m448), hex);
	CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);

	/* one million 'a', fed in uneven pieces */
	char a[1001];
	memset(a, 'a', sizeof a);
	sha256_init(&s);
	for (int i = 0; i < 1000; i++)
		sha256_update(&s, a, (i % 2) ? 999 : 1001);
	sha256_final(&s, d);
	sha256_to_hex(d, hex);
	CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);

	/* streaming gives the one-shot digest at every split point */
	int all_same = 1;
	sha256_hex(m448, strlen(m448), hex2);
	for (size_t cut = 0; cut <= strlen(m448); cut++) {
		sha256_init(&s);
		sha256_update(&s, m448, cut);
		sha256_update(&s, m448 + cut, strlen(m448) - cut);
		sha256_final(&s, d);
		sha256_to_hex(d, hex);
		if (strcmp(hex, hex2) != 0)
			all_same = 0;
	}
	CHECK(all_same);

	/* a file: 200,000 bytes, more than one read chunk */
	char path[] = "/tmp/lmsh-sha256-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	static char big[200000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7 + 3);
	CHECK(write(fd, big, sizeof big) == (ssize_t)sizeof big);
	close(fd);
	CHECK(sha256_file(path, hex, &err) == 0);
	sha256_hex(big, sizeof big, hex2);
	CHECK(strcmp(hex, hex2) == 0);
	unlink(path);
	CHECK(sha256_file(path, hex, &err) == -1);
	CHECK(strstr(err.msg, path) != NULL);
	CHECK_RESULT();
}
