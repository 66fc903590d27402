/* test_kafka_check.c — rs_kafka_check (a client's whole configuration as
 * librdkafka builds it) and rs_kafka_reserved (the properties recstream
 * sets itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "recstream/kafka.h"

static const rs_kafka_client_t kinds[] = {
        RS_KAFKA_SOURCE,  RS_KAFKA_SINK,  RS_KAFKA_READER,
        RS_KAFKA_RESTORE, RS_KAFKA_ADMIN,
};

/* Every kind builds and makes its client from nothing but its own
 * settings: what recstream forces is all in the reserved table (make_conf
 * refuses anything else). */
static void test_every_kind(void **state)
{
        char errstr[512];
        const rs_kv_t *at = (const rs_kv_t *)&at;

        (void)state;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                errstr[0] = '\0';
                rs_err_t rc = rs_kafka_check(kinds[i], NULL, NULL, "g", 0, &at,
                                             errstr, sizeof(errstr));
                if (rc)
                        fail_msg("kind %d: %s", (int)kinds[i], errstr);
                assert_null(at);
        }
}

static void test_reserved(void **state)
{
        static const char *const mine[] = {
                "group.id",
                "enable.auto.commit",
                "enable.auto.offset.store",
                "enable.partition.eof",
                "auto.offset.reset",
                "topic.auto.offset.reset",
                "enable.idempotence",
                "transactional.id",
        };
        static const char *const yours[] = {
                "bootstrap.servers",
                "linger.ms",
                "queued.min.messages",
                "session.timeout.ms",
                "acks",
                "group.instance.id",
                "topic.",
                "group.idx",
        };

        (void)state;
        for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
                assert_non_null(rs_kafka_reserved(mine[i]));
        for (size_t i = 0; i < sizeof(yours) / sizeof(yours[0]); i++)
                assert_null(rs_kafka_reserved(yours[i]));
        assert_string_equal(rs_kafka_reserved("auto.offset.reset"),
                            "use source.auto_offset_reset");
}

/* The entry librdkafka's message names, from the client's list or the
 * common one; the producer's forced idempotence against acks 0, and not
 * the consumer's. */
static void test_combinations(void **state)
{
        rs_kv_t acks[] = {{"linger.ms", "1", NULL}, {"acks", "0", NULL}};
        rs_kv_list_t own = {acks, 2};
        rs_kv_t sess[] = {{"session.timeout.ms", "600000", NULL}};
        rs_kv_list_t common = {sess, 1};
        const rs_kv_t *at = NULL;
        char errstr[512];

        (void)state;
        assert_int_equal(rs_kafka_check(RS_KAFKA_SINK, NULL, &own, NULL, 0, &at,
                                        errstr, sizeof(errstr)),
                         RS_ERR_INVALID);
        assert_ptr_equal(at, &acks[1]);
        assert_non_null(strstr(errstr, "`acks` must be set to `all`"));
        assert_int_equal(rs_kafka_check(RS_KAFKA_READER, NULL, &own, NULL, 0,
                                        &at, errstr, sizeof(errstr)),
                         RS_OK);

        /* max.poll.interval.ms (300 s) below the session timeout: named
         * second in the message, the only one set */
        assert_int_equal(rs_kafka_check(RS_KAFKA_SOURCE, &common, NULL, "g", 1,
                                        &at, errstr, sizeof(errstr)),
                         RS_ERR_INVALID);
        assert_ptr_equal(at, &sess[0]);
        /* the producer ignores consumer properties */
        assert_int_equal(rs_kafka_check(RS_KAFKA_SINK, &common, NULL, NULL, 0,
                                        &at, errstr, sizeof(errstr)),
                         RS_OK);
}

/* A certificate needs its key (and the key its certificate) under TLS
 * only; files that are not on this machine are not read. */
static void test_tls(void **state)
{
        rs_kv_t v[] = {
                {"security.protocol", "ssl", NULL},
                {"ssl.certificate.location", "/nonexistent/client.pem", NULL},
                {"ssl.key.location", "/nonexistent/client.key", NULL},
                {"ssl.ca.location", "/nonexistent/ca.pem", NULL},
        };
        rs_kv_t k[] = {
                {"security.protocol", "sasl_ssl", NULL},
                {"ssl.key.pem", "not a key", NULL},
        };
        rs_kv_list_t pair = {v, 4}, cert = {v, 2}, plain = {v + 1, 1},
                     key = {k, 2};
        const char *key_alone = "ssl.key.pem is set without "
                                "ssl.certificate.location (or "
                                "ssl.certificate.pem): ";
        const rs_kv_t *at = NULL;
        char errstr[512];

        (void)state;
        assert_int_equal(rs_kafka_check(RS_KAFKA_SINK, &pair, NULL, NULL, 0,
                                        &at, errstr, sizeof(errstr)),
                         RS_OK);
        assert_int_equal(rs_kafka_check(RS_KAFKA_SINK, &cert, NULL, NULL, 0,
                                        &at, errstr, sizeof(errstr)),
                         RS_ERR_INVALID);
        assert_ptr_equal(at, &v[1]);
        assert_non_null(strstr(errstr, "without ssl.key.location"));
        /* the key without its certificate, named as the pipeline set it */
        assert_int_equal(rs_kafka_check(RS_KAFKA_SINK, &key, NULL, NULL, 0, &at,
                                        errstr, sizeof(errstr)),
                         RS_ERR_INVALID);
        assert_ptr_equal(at, &k[1]);
        assert_int_equal(strncmp(errstr, key_alone, strlen(key_alone)), 0);
        assert_int_equal(rs_kafka_check(RS_KAFKA_SINK, &plain, NULL, NULL, 0,
                                        &at, errstr, sizeof(errstr)),
                         RS_OK);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_kind),
                cmocka_unit_test(test_reserved),
                cmocka_unit_test(test_combinations),
                cmocka_unit_test(test_tls),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
