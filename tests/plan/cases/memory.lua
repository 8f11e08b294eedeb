-- issue 16: the writable tmpfs mounts take --memory's size by default
return { argv = { "true" }, memory = "256M" }
