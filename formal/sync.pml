/* sync.pml - the parent/child protocol of nc_spawn, checked with SPIN.
 *
 * Models: core/src/spawn.c (nc_spawn: clone3, GO, the caller's started
 * hook while the child sets up, the record loop, EOF, kill-and-reap on
 * failure) and core/src/child.c (nc_child_run: wait for GO, optional pause
 * after the root is built (sync 2c), the gate before the workload when the
 * parent has a started hook, opened by a byte the parent sends once the
 * hook succeeded (sync 2d, in the workload process), error records, the
 * workload cloned by PID 1, whose execve closes its copy of the
 * close-on-exec socket once PID 1 has exec'd nucleus-init (closing its
 * own) and sent its ready byte, or an init that failed to exec), including
 * the parent dying at any point (PR_SET_PDEATHSIG).
 *
 * The SEQPACKET socket is two channels; "EOF" is modelled by counting the
 * child-side holders of the socket: the parent sees EOF once the child,
 * the workload and the init have all dropped it.
 *
 * Checked properties (tests/formal/formal.t: safety without claims, then
 * each LTL claim with `pan -a -f`):
 *   - no invalid end state: nobody blocks forever (no deadlock);
 *   - a parent that lives sees the spawn complete;
 *   - spawn_ok implies the workload exec'd and no error was sent;
 *   - a spawn that failed leaves no child process (it was killed and reaped);
 *   - if the parent dies, every child-side process ends;
 *   - with a started hook, the workload never runs before the hook
 *     succeeded (the container's record exists before its workload runs);
 *   - the workload never runs before PID 1 has exec'd nucleus-init (until
 *     then PID 1 is a copy of the caller's memory).
 */

mtype = { GO, GATE, ERROR, PAUSED, WARN };

chan to_child = [2] of { mtype };
chan to_parent = [4] of { mtype };

byte holders = 1;      /* child-side copies of the socket (child, then init + workload) */
bool parent_alive = true;
bool child_alive = true;
bool workload_execd = false;
bool error_sent = false;
bool spawn_ok = false;
bool spawn_failed = false;
bool reaped = false;
bool workload_alive = false;
bool pause_wanted;     /* plan->pause_after_root */
bool may_die;          /* the parent is killed at some point of this run */
bool hook_refuses;     /* the parent's paused hook says no */
bool gate_wanted;      /* io->started: GO is NC_SYNC_GO_GATED */
bool started_refuses;  /* the started hook says no (the record cannot be written) */
bool started_done;     /* the started hook returned success */
bool gate_open;        /* the child read GATE while it waited for GO (paused) */
bool init_ready;       /* nucleus-init runs as PID 1 and sent its ready byte */
bool init_failed;      /* PID 1 could not exec nucleus-init */

inline child_exit () {
  atomic { child_alive = false; holders-- }
}

/* the container's first process: PID 1, nucleus-init after its exec */
proctype Child ()
{
  mtype m;
  /* PR_SET_PDEATHSIG first, then wait for GO (EOF = parent gone) */
  if
  :: to_child ? m -> assert (m == GO)
  :: !parent_alive -> child_exit (); goto done
  fi;
  /* setup steps: any of them may fail */
  if
  :: true -> to_parent ! WARN   /* a degraded step (--allow-degraded-security) */
  :: true -> skip
  fi;
  if
  :: true -> error_sent = true; to_parent ! ERROR; child_exit (); goto done
  :: true -> skip
  fi;
  if
  :: pause_wanted ->
       to_parent ! PAUSED;
    pause_wait:
       if
       :: to_child ? m ->
            if
            :: m == GATE && gate_open == false -> gate_open = true; goto pause_wait
            :: else -> assert (m == GO)
            fi
       :: !parent_alive -> child_exit (); goto done
       :: spawn_failed -> child_exit (); goto done   /* the parent killed us */
       fi
  :: else -> skip
  fi;
  /* clone the workload: it shares the socket until execve or _exit */
  atomic { holders++; workload_alive = true };
  run Workload ();
  /* PID 1 execs nucleus-init (its copy of the close-on-exec socket goes),
   * which sends the ready byte; or the exec fails: an error record, and
   * PID 1's exit takes the namespace, the workload with it */
  if
  :: true -> atomic { init_ready = true; holders-- }
  :: true -> error_sent = true; to_parent ! ERROR; atomic { init_failed = true; holders-- };
             child_alive = false; goto done
  fi;
  /* the init reaps until the workload ends */
  if
  :: !workload_alive -> skip
  :: !parent_alive -> skip     /* PDEATHSIG: the namespace goes with us */
  :: spawn_failed -> skip      /* the parent killed us */
  fi;
  child_alive = false;
done:
  skip
}

inline workload_dies () {
  atomic { holders--; workload_alive = false }
}

/* the container's workload, cloned by PID 1 before its exec */
proctype Workload ()
{
  mtype m;
  /* sync 2d: after Landlock, before seccomp and execve, wait for the
   * gate to open (unless its byte came while the child was paused) */
  if
  :: gate_wanted && !gate_open ->
       if
       :: to_child ? m -> assert (m == GATE)
       :: !parent_alive -> workload_dies (); goto gone
       :: spawn_failed -> workload_dies (); goto gone
       :: init_failed -> workload_dies (); goto gone
       fi
  :: else -> skip
  fi;
  /* PID 1's ready byte, or EOF: nucleus-init failed, we give up */
  if
  :: init_ready -> skip
  :: init_failed -> workload_dies (); goto gone
  :: !parent_alive -> workload_dies (); goto gone
  fi;
  if
  :: true -> atomic { workload_execd = true; holders-- }   /* execve: CLOEXEC closes it */
  :: true -> error_sent = true; to_parent ! ERROR; workload_dies (); goto gone  /* exec failed */
  fi;
  /* the workload runs until it exits, or dies with its init */
  if
  :: true -> workload_alive = false
  :: !parent_alive -> workload_alive = false
  :: spawn_failed -> workload_alive = false
  :: init_failed -> workload_alive = false
  fi;
gone:
  skip
}

proctype Parent ()
{
  mtype m;
  bool failed = false;
  /* clone3 happened: the child exists; maybe we die right here */
  if
  :: may_die -> parent_alive = false; goto gone
  :: true -> skip
  fi;
  to_child ! GO;
  /* the started hook runs while the child sets up */
  if
  :: gate_wanted && started_refuses -> failed = true; goto check
  :: gate_wanted && !started_refuses -> started_done = true; to_child ! GATE
  :: !gate_wanted -> skip
  fi;
  if
  :: may_die -> parent_alive = false; goto gone
  :: true -> skip
  fi;
loop:
  do
  :: to_parent ? m ->
       if
       :: m == ERROR -> failed = true
       :: m == WARN -> skip
       :: m == PAUSED ->
            if
            :: hook_refuses -> failed = true; break
            :: else -> to_child ! GO
            fi
       fi
  :: empty (to_parent) && holders == 0 -> break   /* EOF */
  :: may_die -> parent_alive = false; goto gone     /* killed at any time */
  od;
check:
  if
  :: failed ->
       /* kill_and_reap: SIGKILL through the pidfd, then waitid */
       atomic { spawn_failed = true };
       (!child_alive);
       reaped = true
  :: else ->
       spawn_ok = true
  fi;
gone:
  skip
}

init {
  if
  :: pause_wanted = true
  :: pause_wanted = false
  fi;
  if
  :: hook_refuses = true
  :: hook_refuses = false
  fi;
  if
  :: may_die = true
  :: may_die = false
  fi;
  if
  :: gate_wanted = true
  :: gate_wanted = false
  fi;
  if
  :: started_refuses = true
  :: started_refuses = false
  fi;
  atomic {
    run Parent ();
    run Child ()
  }
}

/* success means exec happened and nobody reported an error */
ltl ok_means_exec { [] (spawn_ok -> (workload_execd && !error_sent)) }
/* a failed spawn ends with the child reaped */
ltl failure_reaps { [] (spawn_failed -> <> reaped) }
/* a parent that lives sees the spawn end, one way or the other */
ltl completes { (<> may_die) || (<> (spawn_ok || spawn_failed)) }
/* the gate: no workload before the started hook succeeded */
ltl gate_holds { [] (workload_execd -> (!gate_wanted || started_done)) }
/* the workload never runs while PID 1 is a copy of the caller */
ltl init_first { [] (workload_execd -> init_ready) }
/* the parent's death takes every child-side process with it */
ltl death_cleans { [] (!parent_alive -> <> (!child_alive && !workload_alive)) }
