/* opts.c — table-driven command-line options: one table per command
 * drives getopt_long, the strict checks of each value (numbers and
 * durations in the pipeline files' syntax, through the config module's
 * parsers) and the command's --help. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "recstream/codec.h"
#include "recstream/config.h"

#define MAX_OPTS 48 /* of one command, aliases and --help included */

static void print_usage_line(const rs_cmd_info_t *cmd, FILE *f)
{
        fprintf(f, "usage: recstream %s%s%s\n", cmd->name,
                *cmd->synopsis ? " " : "", cmd->synopsis);
}

int rs_cli_usage_error(const rs_cmd_info_t *cmd, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "recstream: %s: ", cmd->name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        print_usage_line(cmd, stderr);
        fprintf(stderr, "Try 'recstream %s --help'.\n", cmd->name);
        return RS_EXIT_USAGE;
}

static int bad(const rs_cmd_info_t *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* rs_cli_usage_error, as rs_cli_parse's RS_CLI_BAD. */
static int bad(const rs_cmd_info_t *cmd, const char *fmt, ...)
{
        char line[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        rs_cli_usage_error(cmd, "%s", line);
        return RS_CLI_BAD;
}

/* "-b, --bootstrap, --bootstrap-server BOOTSTRAP" into buf. */
static const char *flag_names(const rs_opt_t *o, char *buf, size_t size)
{
        int n = 0;

        if (o->short_name)
                n = snprintf(buf, size, "-%c, ", o->short_name);
        n += snprintf(buf + n, size - (size_t)n, "--%s", o->name);
        if (o->alias && (size_t)n < size)
                n += snprintf(buf + n, size - (size_t)n, ", --%s", o->alias);
        if (o->arg && (size_t)n < size)
                snprintf(buf + n, size - (size_t)n, " %s", o->arg);
        return buf;
}

/* Each line of text indented by `indent` spaces. */
static void indented(FILE *f, const char *text, int indent)
{
        while (*text) {
                size_t n = strcspn(text, "\n");
                fprintf(f, "%*s%.*s\n", indent, "", (int)n, text);
                text += n + (text[n] == '\n');
        }
}

void rs_cli_help(const rs_cmd_info_t *cmd, const rs_opt_t *opts, FILE *f)
{
        char names[128];

        print_usage_line(cmd, f);
        fprintf(f, "\n%s\noptions:\n", cmd->about);
        for (const rs_opt_t *o = opts; o->name; o++) {
                flag_names(o, names, sizeof(names));
                if (strlen(names) < 24) {
                        size_t n = strcspn(o->doc, "\n");
                        fprintf(f, "  %-24s %.*s\n", names, (int)n, o->doc);
                        if (o->doc[n])
                                indented(f, o->doc + n + 1, 27);
                } else {
                        fprintf(f, "  %s\n", names);
                        indented(f, o->doc, 27);
                }
        }
        fprintf(f, "  %-24s %s\n", "-h, --help", "this help, then exit 0");
        fprintf(f, "\nNumbers are integers as in pipeline files; durations "
                   "take a unit as there:\n250ms, 30s, 5m, 2h, 7d, 1w (a "
                   "bare number only as 0).\n");
        fprintf(f, "\nenvironment:\n");
        fprintf(f, "  RECSTREAM_LOG_LEVEL    the least severe log line "
                   "written: debug, info\n                         (default), "
                   "notice, warning or err; logs go to stderr\n");
        if (cmd->config)
                fprintf(f, "  RECSTREAM_MAX_CONFIG_BYTES\n"
                           "                         the size limit of "
                           "pipeline files, 1 to 1073741824;\n"
                           "                         default 1048576 (1 "
                           "MiB)\n"
                           "  ${VAR} in the pipeline file\n"
                           "                         read from the "
                           "environment (${VAR:-default})\n");
        if (cmd->env)
                indented(f, cmd->env, 2);
        fprintf(f, "\nsignals:\n");
        indented(f, cmd->signals, 2);
        fprintf(f, "\nexit codes:\n");
        indented(f, cmd->exits, 2);
}

/* The long option nearest to `name` (at most 2 edits), or NULL. */
static const char *nearest(const rs_opt_t *opts, const char *name)
{
        const char *best = NULL;
        int best_d = 3;

        for (const rs_opt_t *o = opts; o->name; o++) {
                const char *cand[] = {o->name, o->alias};
                for (int i = 0; i < 2; i++) {
                        int d = cand[i] ? rs_edit_distance(name, cand[i]) : 99;
                        if (d < best_d) {
                                best_d = d;
                                best = cand[i];
                        }
                }
        }
        return best_d <= 2 && 2 * best_d < (int)strlen(name) ? best : NULL;
}

/* Converts one argument by o; 0, or -1 with the reason in why. */
static int apply(const rs_opt_t *o, const char *arg, char *why, size_t size)
{
        int64_t v;

        switch (o->kind) {
        case RS_OPT_FLAG: *(int *)o->dst = 1; return 0;
        case RS_OPT_STRING:
                if (!*arg) {
                        snprintf(why, size, "must not be empty");
                        return -1;
                }
                *(const char **)o->dst = arg;
                return 0;
        case RS_OPT_INT:
                if (rs_int_parse(arg, &v)) {
                        snprintf(why, size, "expected an integer, got '%s'",
                                 arg);
                        return -1;
                }
                if ((double)v < o->min || (double)v > o->max) {
                        snprintf(why, size, "%s is out of range [%.0f, %.0f]",
                                 arg, o->min, o->max);
                        return -1;
                }
                *(int64_t *)o->dst = v;
                return 0;
        case RS_OPT_DURATION:
                if ((v = rs_duration_parse(arg)) < 0) {
                        snprintf(why, size,
                                 "expected a duration like 250ms, 30s, 5m, "
                                 "2h or 7d, got '%s'",
                                 arg);
                        return -1;
                }
                if ((double)v < o->min || (double)v > o->max) {
                        snprintf(why, size,
                                 "%s is out of range [%.0fms, %.0fms]", arg,
                                 o->min, o->max);
                        return -1;
                }
                *(int64_t *)o->dst = v;
                return 0;
        case RS_OPT_FN: return o->fn(arg, o->dst, why, size);
        }
        return -1;
}

int rs_cli_parse(const rs_cmd_info_t *cmd, const rs_opt_t *opts, int argc,
                 char **argv)
{
        struct option lo[MAX_OPTS + 1];
        const rs_opt_t *by[MAX_OPTS]; /* lo[i].val - 256 → its rs_opt_t */
        int seen[MAX_OPTS] = {0};
        char shorts[2 * MAX_OPTS + 4] = ":", why[512], names[128];
        size_t nlo = 0, nby = 0, ns = 1;
        int c;

        for (const rs_opt_t *o = opts; o->name && nby < MAX_OPTS - 1; o++) {
                const char *ln[] = {o->name, o->alias};
                for (int i = 0; i < 2 && nlo < MAX_OPTS - 1; i++)
                        if (ln[i])
                                lo[nlo++] =
                                        (struct option){ln[i], o->arg ? 1 : 0,
                                                        NULL, 256 + (int)nby};
                if (o->short_name) {
                        shorts[ns++] = (char)o->short_name;
                        if (o->arg)
                                shorts[ns++] = ':';
                }
                by[nby++] = o;
        }
        lo[nlo++] = (struct option){"help", 0, NULL, 'h'};
        lo[nlo] = (struct option){NULL, 0, NULL, 0};
        shorts[ns++] = 'h';
        shorts[ns] = '\0';

        optind = 1;
        opterr = 0;
        for (;;) {
                const rs_opt_t *o;
                size_t idx;
                int li = -1;
                if ((c = getopt_long(argc, argv, shorts, lo, &li)) == -1)
                        break;
                if (c == 'h') {
                        rs_cli_help(cmd, opts, stdout);
                        return RS_CLI_HELP;
                }
                if (c == ':' && optopt > 0 && optopt < 256)
                        return bad(cmd, "-%c takes an argument", optopt);
                if (c == ':')
                        return bad(cmd, "%s takes an argument",
                                   argv[optind - 1]);
                if (c == '?' && optopt > 0 && optopt < 256)
                        return bad(cmd, "unknown option '-%c'", optopt);
                if (c == '?' && optopt >= 256) /* --flag=value */
                        return bad(cmd, "%.*s takes no argument",
                                   (int)strcspn(argv[optind - 1], "="),
                                   argv[optind - 1]);
                if (c == '?') {
                        const char *a = argv[optind - 1], *near = NULL;
                        if (!strncmp(a, "--", 2)) {
                                snprintf(names, sizeof(names), "%s", a + 2);
                                names[strcspn(names, "=")] = '\0';
                                near = nearest(opts, names);
                        }
                        if (near)
                                return bad(cmd,
                                           "unknown option '%s' (did you "
                                           "mean '--%s'?)",
                                           a, near);
                        return bad(cmd, "unknown or ambiguous option '%s'", a);
                }
                if (c >= 256) {
                        idx = (size_t)(c - 256);
                } else {
                        for (idx = 0; idx < nby; idx++)
                                if (by[idx]->short_name == c)
                                        break;
                }
                if (idx >= nby)
                        return bad(cmd, "unknown option");
                o = by[idx];
                seen[idx] = 1;
                if (li >= 0)
                        snprintf(names, sizeof(names), "--%s", lo[li].name);
                else
                        snprintf(names, sizeof(names), "-%c", c);
                if (apply(o, optarg, why, sizeof(why)))
                        return bad(cmd, "%s: %s", names, why);
        }
        if (optind < argc)
                return bad(cmd, "unexpected argument '%s'", argv[optind]);
        for (size_t i = 0; i < nby; i++)
                if ((by[i]->flags & RS_OPT_REQUIRED) && !seen[i])
                        return bad(cmd, "--%s is required", by[i]->name);
        return RS_CLI_PARSED;
}

int rs_cli_opt_framing(const char *arg, void *dst, char *why, size_t why_size)
{
        int f = rs_framing_parse(arg);

        if (f < 0) {
                snprintf(why, why_size,
                         "'%s' is not one of: plain, confluent, "
                         "single-object",
                         arg);
                return -1;
        }
        *(int *)dst = f;
        return 0;
}
