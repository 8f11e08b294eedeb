return { argv = { "id" }, user = "alice", additional_group = { "staff" }, workdir = "/srv/work",
         env = { "A=1", "PATH=/bin" }, hostname = "box", ulimit = { "nofile=1024:2048", "core=0" } }
