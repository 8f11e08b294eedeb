/* landlock.c - Landlock ABI probe and ruleset creation (parent side).
 *
 * The ruleset fd is created before the fork with the rights the plan
 * handles (already masked to the running ABI by the caller); the child adds
 * the path rules once the container's root is in place (the paths are
 * container paths) and restricts itself.  See child.c apply_landlock.
 */
#define _GNU_SOURCE
#include <string.h>

#include "internal.h"

int nc_landlock_abi (void)
{
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, NC_LL_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : (int) abi;
}

int nc_landlock_prepare (struct nc_plan *plan, uint64_t handled_fs, uint64_t handled_net,
                         uint64_t scoped, struct nc_err *err)
{
  struct nc_ll_ruleset_attr attr = { handled_fs, handled_net, scoped };
  /* Older kernels reject a larger struct with non-zero tail fields, so
   * pass only as much of it as is in use. */
  size_t size = scoped ? 24 : handled_net ? 16 : 8;
  int fd = (int) syscall (SYS_landlock_create_ruleset, &attr, size, 0);
  if (fd < 0)
    return nc_err_set (err, NC_STAGE_LANDLOCK, errno, "create ruleset");
  if (plan->landlock_fd >= 0)
    close (plan->landlock_fd);
  plan->landlock_fd = fd;
  return 0;
}
