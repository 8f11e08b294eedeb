return { argv = { "sh", "-c", "echo hi" } }
