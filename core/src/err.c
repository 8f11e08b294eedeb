/* err.c - struct nc_err helpers (parent side). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const stage_names[NC_STAGE_MAX] = {
  [NC_STAGE_NONE] = "nucleus",
  [NC_STAGE_PLAN] = "plan",
  [NC_STAGE_CLONE] = "clone",
  [NC_STAGE_USERNS] = "user namespace",
  [NC_STAGE_SYNC] = "sync",
  [NC_STAGE_IDENTITY0] = "user namespace",
  [NC_STAGE_HOSTNAME] = "hostname",
  [NC_STAGE_NETWORK] = "network",
  [NC_STAGE_MOUNTS] = "mount",
  [NC_STAGE_CONTEXT] = "context",
  [NC_STAGE_PIVOT] = "pivot_root",
  [NC_STAGE_RLIMITS] = "rlimits",
  [NC_STAGE_CAPS] = "capabilities",
  [NC_STAGE_IDENTITY] = "identity",
  [NC_STAGE_NNP] = "no_new_privs",
  [NC_STAGE_WORKDIR] = "workdir",
  [NC_STAGE_LANDLOCK] = "landlock",
  [NC_STAGE_SECCOMP] = "seccomp",
  [NC_STAGE_INIT] = "init",
  [NC_STAGE_EXEC] = "exec",
  [NC_STAGE_WAIT] = "wait",
};

const char *nc_stage_name (unsigned stage)
{
  return stage < NC_STAGE_MAX && stage_names[stage] ? stage_names[stage] : "unknown stage";
}

int nc_err_set (struct nc_err *err, unsigned stage, int code, const char *fmt, ...)
{
  va_list ap;
  err->stage = (uint16_t) stage;
  err->code = code;
  va_start (ap, fmt);
  vsnprintf (err->detail, sizeof err->detail, fmt, ap);
  va_end (ap);
  return code ? -code : -EINVAL;
}

void nc_err_format (const struct nc_err *err, char *buf, unsigned long len)
{
  if (err->detail[0] && err->code)
    snprintf (buf, len, "%s: %s: %s", nc_stage_name (err->stage), err->detail, strerror (err->code));
  else if (err->detail[0])
    snprintf (buf, len, "%s: %s", nc_stage_name (err->stage), err->detail);
  else
    snprintf (buf, len, "%s: %s", nc_stage_name (err->stage), strerror (err->code));
}
