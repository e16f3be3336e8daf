#!/bin/sh
# tokenize.sh: `lmsh tokenize` and `lmsh detokenize` with the GPT-2 files.
# Covers: ids equal to js-tiktoken's for a fixture text read with
# --prompt-file, --prompt_file, from stdin and with "-"; operands joined by
# spaces ("Hello, world!" is GPT-2's well-known 15496 11 995 0); --format
# json, pieces and count; --special-token; detokenize of ids (operands,
# stdin, a JSON array) back to the exact text; invalid UTF-8 (exit 1 naming
# the byte offset, or U+FFFD with --replace-invalid); ids outside the
# vocabulary, negative ids and non-numbers (exit 1); a bad --format (exit 2); a broken
# vocab.json reported as file:line; the tiny model's byte-level tokenizer.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
D="$LMSH_TEST_DATA/bpe"
tok() { "$LMSH" tokenize --vocab "$D/gpt2_vocab.json" \
    --merges "$D/gpt2_merges.txt" "$@"; }
detok() { "$LMSH" detokenize --vocab "$D/gpt2_vocab.json" \
    --merges "$D/gpt2_merges.txt" "$@"; }

# --- text to ids -----------------------------------------------------------
tok --prompt-file "$D/address.txt" >"$T/a" 2>"$T/err" || no "prompt-file: $(cat "$T/err")"
cmp -s "$T/a" "$D/address.txt.gpt2-ids" || no "address.txt ids differ"
tok --prompt_file "$D/german.txt" | cmp -s - "$D/german.txt.gpt2-ids" ||
    no "--prompt_file spelling"
tok <"$D/unicode.txt" | cmp -s - "$D/unicode.txt.gpt2-ids" || no "stdin"
tok - <"$D/german.txt" | cmp -s - "$D/german.txt.gpt2-ids" || no "operand -"
tok --prompt-file - <"$D/german.txt" | cmp -s - "$D/german.txt.gpt2-ids" ||
    no "--prompt-file -"
[ "$(tok Hello, 'world!')" = "15496 11 995 0" ] || no "operands"
[ "$(printf 'Hello, world!' | tok)" = "15496 11 995 0" ] || no "stdin text"
[ "$(tok --format json 'Hello, world!')" = "[15496, 11, 995, 0]" ] ||
    no "--format json"
[ "$(tok --format count 'Hello, world!')" = "4" ] || no "--format count"
printf '15496\tHello\n11\t,\n995\t world\n0\t!\n198\t\\n\n' >"$T/want"
tok --format pieces "$(printf 'Hello, world!\n.')" | head -5 >"$T/got"
cmp -s "$T/got" "$T/want" || no "--format pieces: $(cat "$T/got")"
[ "$(tok 'a<|endoftext|>b')" = "64 50256 65" ] || no "<|endoftext|> special"
[ "$(tok --special-token '<|im_end|>' 'a<|im_end|>')" = "64 50257" ] ||
    no "--special-token"

# --- ids to text -----------------------------------------------------------
detok $(cat "$D/address.txt.gpt2-ids") >"$T/text" || no "detokenize operands"
cmp -s "$T/text" "$D/address.txt" || no "detokenize address.txt"
detok <"$D/unicode.txt.gpt2-ids" | cmp -s - "$D/unicode.txt" ||
    no "detokenize stdin"
[ "$(echo '[15496, 11, 995, 0]' | detok)" = "Hello, world!" ] ||
    no "detokenize JSON array"

# --- bad input ---------------------------------------------------------------
printf 'a\377b' | tok >/dev/null 2>"$T/err"
[ $? -eq 1 ] || no "invalid UTF-8 should exit 1"
grep -q "byte offset 1" "$T/err" || no "invalid UTF-8 message: $(cat "$T/err")"
[ "$(printf 'a\377b' | tok --replace-invalid)" = \
    "$(printf 'a\357\277\275b' | tok)" ] || no "--replace-invalid encode"
detok 47249 >/dev/null 2>"$T/err"
[ $? -eq 1 ] || no "partial character should exit 1"
grep -q "invalid UTF-8 at byte offset 0" "$T/err" || no "decode message"
[ "$(detok --replace-invalid 64 47249)" = "$(printf 'a\357\277\275')" ] ||
    no "--replace-invalid decode"
detok 50257 >/dev/null 2>"$T/err"
[ $? -eq 1 ] || no "id outside the vocabulary should exit 1"
grep -q "50257 is outside the vocabulary" "$T/err" || no "range message"
detok 12 x3 >/dev/null 2>"$T/err"
[ $? -eq 1 ] || no "non-number should exit 1"
grep -q "'x3' is not a token id" "$T/err" || no "non-number message"
# one id parser: negative ids are no ids, and tokenize's JSON reads back
detok -- -1 >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "'-1' is not a token id" "$T/err" || no "negative id"
[ "$(tok --format json 'Hello, world!' | detok)" = "Hello, world!" ] ||
    no "tokenize --format json | detokenize"
tok --format yaml hi >/dev/null 2>&1
[ $? -eq 2 ] || no "bad --format should exit 2"
printf '{"a": 0,\n "b" 1}\n' >"$T/vocab.json"
: >"$T/merges.txt"
"$LMSH" tokenize --vocab "$T/vocab.json" --merges "$T/merges.txt" hi \
    >/dev/null 2>"$T/err"
[ $? -eq 1 ] || no "broken vocab should exit 1"
grep -q "vocab.json:2:" "$T/err" || no "broken vocab message: $(cat "$T/err")"

# --- a model directory -----------------------------------------------------
if [ -f "$LMSH_TEST_DATA/models/tiny/vocab.json" ]; then
	[ "$("$LMSH" tokenize --model "$LMSH_TEST_DATA/models/tiny" \
	    --format count 'hi there')" = "8" ] || no "tiny model: 8 bytes"
	"$LMSH" tokenize --model "$LMSH_TEST_DATA/models/tiny" 'héllo' |
	    "$LMSH" detokenize --model "$LMSH_TEST_DATA/models/tiny" \
	    >"$T/h" && [ "$(cat "$T/h")" = "héllo" ] || no "tiny round trip"
fi
exit $fail
