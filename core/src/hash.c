/* hash.c - SHA-256 for policy pinning (parent side).
 *
 * The low-level SHA256_* functions are deprecated in OpenSSL 3 but used on
 * purpose: the EVP route initialises the provider machinery on first use
 * (about 1.2 ms here, at every container start with a pinned policy),
 * while these cost microseconds and link statically into the CLI.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "internal.h"

void nc_sha256_hex (const void *data, size_t len, char out[65])
{
  static const char hex[] = "0123456789abcdef";
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_CTX c;
  SHA256_Init (&c);
  SHA256_Update (&c, data, len);
  SHA256_Final (md, &c);
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
    {
      out[2 * i] = hex[md[i] >> 4];
      out[2 * i + 1] = hex[md[i] & 15];
    }
  out[64] = '\0';
}
