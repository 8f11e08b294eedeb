return { argv = { "true" }, network = "host", allow_host_network = true, context = "/srv/ctx",
         context_mode = "bind", volume = { "/srv/ctx:/data:ro" } }
