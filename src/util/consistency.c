#include "util/consistency.h"

#include <string.h>
#include <strings.h>

#include "util/err.h"

static const struct {
    const char *name;
    int cl;
} cl_names[] = {
    {"ANY", SB_CL_ANY},
    {"ONE", SB_CL_ONE},
    {"TWO", SB_CL_TWO},
    {"THREE", SB_CL_THREE},
    {"QUORUM", SB_CL_QUORUM},
    {"ALL", SB_CL_ALL},
    {"LOCAL_QUORUM", SB_CL_LOCAL_QUORUM},
    {"EACH_QUORUM", SB_CL_EACH_QUORUM},
    {"SERIAL", SB_CL_SERIAL},
    {"LOCAL_SERIAL", SB_CL_LOCAL_SERIAL},
    {"LOCAL_ONE", SB_CL_LOCAL_ONE},
};

int sb_consistency_parse(const char *name, size_t len, int *out)
{
    for (size_t i = 0; i < sizeof cl_names / sizeof cl_names[0]; i++) {
        if (strlen(cl_names[i].name) == len && strncasecmp(cl_names[i].name, name, len) == 0) {
            *out = cl_names[i].cl;
            return 0;
        }
    }
    return SB_EINVAL;
}

const char *sb_consistency_name(int cl)
{
    for (size_t i = 0; i < sizeof cl_names / sizeof cl_names[0]; i++)
        if (cl_names[i].cl == cl)
            return cl_names[i].name;
    return NULL;
}
