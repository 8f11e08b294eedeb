/* init_blob.S - nucleus-init's image (core/init/init.c, built freestanding
 * into build/init/nucleus-init), linked into the CLI, core.so and
 * libnucleus.a; nc_init_fd (spawn.c) puts it in a sealed memfd. */
	.section .rodata
	.balign 16
	.globl nc_init_blob
	.hidden nc_init_blob
	.type nc_init_blob, %object
nc_init_blob:
	.incbin NC_INIT_PATH
	.globl nc_init_blob_end
	.hidden nc_init_blob_end
nc_init_blob_end:
	.section .note.GNU-stack,"",%progbits
