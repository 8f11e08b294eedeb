-- issue 16: --tmpfs-size over --memory; /dev/shm stays at 64M when larger
return { argv = { "true" }, memory = "256M", tmpfs_size = "2G" }
