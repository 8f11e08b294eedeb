/* nc_err.h - the error record shared by the parent and the post-fork child.
 *
 * A failing function fills a struct nc_err and returns -errno.  The struct
 * never allocates, so the same type is used after fork and travels to the
 * parent unchanged inside a struct nc_sync_msg.
 */
#ifndef NUCLEUS_NC_ERR_H
#define NUCLEUS_NC_ERR_H

#include <stdint.h>

/* Setup stages, in the order the child runs them.  Reported with every
 * error so the parent can say where setup failed. */
enum nc_stage {
  NC_STAGE_NONE = 0,
  NC_STAGE_PLAN,        /* parent: plan compilation */
  NC_STAGE_CLONE,       /* parent: clone3 */
  NC_STAGE_USERNS,      /* parent: uid/gid maps */
  NC_STAGE_SYNC,        /* either side: sync socket */
  NC_STAGE_IDENTITY0,   /* child: become root in the user namespace */
  NC_STAGE_HOSTNAME,
  NC_STAGE_NETWORK,     /* child: loopback */
  NC_STAGE_MOUNTS,
  NC_STAGE_CONTEXT,
  NC_STAGE_PIVOT,
  NC_STAGE_RLIMITS,
  NC_STAGE_CAPS,
  NC_STAGE_IDENTITY,
  NC_STAGE_NNP,
  NC_STAGE_WORKDIR,
  NC_STAGE_LANDLOCK,
  NC_STAGE_SECCOMP,
  NC_STAGE_INIT,        /* child: mini-init fork */
  NC_STAGE_EXEC,
  NC_STAGE_WAIT,        /* parent: waiting for the container */
  NC_STAGE_MAX
};

#define NC_ERR_DETAIL 200

struct nc_err {
  int code;                   /* positive errno, 0 when none */
  uint16_t stage;             /* enum nc_stage */
  char detail[NC_ERR_DETAIL]; /* NUL-terminated, e.g. a path */
};

const char *nc_stage_name (unsigned stage);

/* Parent only: fill err with printf-style detail; returns -code. */
int nc_err_set (struct nc_err *err, unsigned stage, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* Render "stage: detail: strerror" into buf. */
void nc_err_format (const struct nc_err *err, char *buf, unsigned long len);

#endif
