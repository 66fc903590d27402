/* version.c — `recstream --version`: this build and the libraries it
 * runs with, as they report themselves at run time where they can. */
#include <stdio.h>

#include "cli/cli.h"
#include "recstream/codec.h"
#include "recstream/config.h"
#include "recstream/kafka.h"
#include "recstream/vec.h"
#include "version.h" /* build/gen: RS_VERSION, RS_GIT_REV */

static const rs_cmd_info_t version_cmd = {
        .name = "version",
        .synopsis = "",
        .about = "Prints recstream's version and git revision (from the "
                 "build; 'unknown' when\nbuilt outside a git checkout), and "
                 "the versions of the libraries it runs\nwith: librdkafka "
                 "and libyaml as they report themselves at run time,\n"
                 "OpenBLAS's run-time configuration (openblas_get_config), "
                 "and avro-c's from\npkg-config at build time (avro-c has "
                 "no run-time version call).\n`recstream --version` and "
                 "`recstream -V` are the same.\n",
        .signals = "none handled.",
        .exits = "0  printed\n2  usage error",
};

int rs_cmd_version(int argc, char **argv)
{
        const rs_opt_t opts[] = {{.name = NULL}};
        int r = rs_cli_parse(&version_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);
        printf("recstream %s (git %s)\n", RS_VERSION, RS_GIT_REV);
        printf("librdkafka %s\n", rs_kafka_version());
        printf("avro-c %s (build time)\n", rs_codec_avro_version());
        printf("libyaml %s\n", rs_config_yaml_version());
        printf("OpenBLAS %s\n", rs_vec_blas_config());
        return fflush(stdout) ? RS_EXIT_FAIL : RS_EXIT_OK;
}
