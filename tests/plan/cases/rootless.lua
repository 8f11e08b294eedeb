return { argv = { "true" }, rootless = true, time_namespace = true, disable_cgroup_namespace = true }
