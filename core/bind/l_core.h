/* l_core.h - shared declarations of the Lua bindings. */
#ifndef NUCLEUS_L_CORE_H
#define NUCLEUS_L_CORE_H

#include <lua.h>

#define NC_MT_PLAN "nucleus.Plan"
#define NC_MT_PROC "nucleus.Proc"
#define NC_MT_NETNS "nucleus.Netns"
#define NC_MT_FD "nucleus.Fd"

/* An fd owned by Lua (core.open_path); -1 once closed or taken. */
struct nc_l_fd {
  int fd;
};

int nc_l_plan_compile (lua_State *L);
int nc_l_plan_describe (lua_State *L);
int nc_l_last_cap (void);
#include <sys/types.h>
long long nc_l_proc_start (pid_t pid);
int nc_l_seccomp_export (lua_State *L);
void nc_l_net_open (lua_State *L);

#endif
