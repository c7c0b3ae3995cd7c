/* sibyl: one binary, subcommands. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sibyl <node|demo|sim|cql|status|ring> [options]\n");
        return 2;
    }
    fprintf(stderr, "sibyl: unknown command '%s'\n", argv[1]);
    return 2;
}
