/* hash.c - SHA-256 for policy pinning (parent side).
 *
 * The low-level SHA256_* functions are deprecated in OpenSSL 3 but used on
 * purpose: the EVP route initialises the provider machinery on first use,
 * at every container start with a pinned policy, while these cost next to
 * nothing and link statically into the CLI (docs/design-measurements.md).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>

static void to_hex (const unsigned char *md, char out[65])
{
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
    {
      out[2 * i] = hex[md[i] >> 4];
      out[2 * i + 1] = hex[md[i] & 15];
    }
  out[64] = '\0';
}

void nc_sha256_hex (const void *data, size_t len, char out[65])
{
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_CTX c;
  SHA256_Init (&c);
  SHA256_Update (&c, data, len);
  SHA256_Final (md, &c);
  to_hex (md, out);
}

/* SHA-256 of the regular file open at fd (read from where it stands, in
 * chunks; fd stays open).  0 or -errno (EINVAL: not a regular file). */
int nc_sha256_fd_hex (int fd, char out[65])
{
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    return -EINVAL;
  unsigned char md[SHA256_DIGEST_LENGTH];
  unsigned char buf[65536];
  SHA256_CTX c;
  SHA256_Init (&c);
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        break;
      SHA256_Update (&c, buf, (size_t) n);
    }
  SHA256_Final (md, &c);
  to_hex (md, out);
  return 0;
}

/* SHA-256 of a regular file; the file is opened with O_NOFOLLOW so a
 * symlink is never hashed through.  0 or -errno. */
int nc_sha256_file_hex (int dirfd, const char *path, char out[65])
{
  /* O_NONBLOCK: a file swapped for a fifo since the caller's lstat must
   * not hang us; only regular files are hashed */
  int fd = openat (dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return -errno;
  int r = nc_sha256_fd_hex (fd, out);
  close (fd);
  return r;
}
