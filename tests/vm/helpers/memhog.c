/* memhog MB: allocate and touch MB mebibytes, one page at a time, then exit 0.
 * Used to trigger a cgroup v2 memory.max OOM kill (the process gets SIGKILL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: memhog MB\n");
        return 2;
    }
    long mb = strtol(argv[1], NULL, 10);
    long page = sysconf(_SC_PAGESIZE);
    for (long i = 0; i < mb; i++) {
        char *p = malloc(1 << 20);
        if (!p) {
            perror("malloc");
            return 1;
        }
        for (long off = 0; off < (1 << 20); off += page)
            p[off] = 1; /* touch every page so it is really charged */
    }
    printf("allocated %ld MB\n", mb);
    return 0;
}
