/* Print the Landlock ABI version the running kernel reports, e.g. "6".
 * Exit 1 (with the errno on stderr) when Landlock is unavailable. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)

int main(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 0) {
        fprintf(stderr, "landlock_create_ruleset: %s\n", strerror(errno));
        return 1;
    }
    printf("%ld\n", abi);
    return 0;
}
