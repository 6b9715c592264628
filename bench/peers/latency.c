/*
 * latency: end-to-end latency through a Kafka-to-Kafka stream processor (kstream-filter, or
 * eos_copy as the reference). It produces small JSON records at a steady rate into the
 * processor's input topic,
 *   {"seq":N,"sent_us":MICROS,"run":"ID","Total":100}
 * and reads the processor's output topic with read_committed, matching the seq numbers of its own
 * run. It prints how many arrived (and duplicates) and the p50/p90/p99/max of receive time minus
 * send time. "Total":100 lets a filter such as --where 'Total > 50' keep every record.
 *
 * The reader is assigned every partition of the output topic at the high watermark it has at
 * start (no group: no join to wait for), fetches with fetch.wait.max.ms=10 so that its own
 * polling adds little, and the writer sends each record alone (linger.ms=0, idempotent).
 * Records sent during the first --warmup seconds must arrive too, but are not in the
 * percentiles (the processor's first transaction, metadata and group join are not steady state).
 *
 * -a FILE writes one line per record read: "RECV_US SEQ LATENCY_US PARTITION OFFSET" (wall clock,
 * microseconds since the epoch, as bash's EPOCHREALTIME; the record's place in the output
 * topic), "dup" appended for a duplicate. bench/filter's restart test reads it to see when the
 * first record written after a restart arrives.
 *
 * -H prints the high watermarks of topic -o ("P:HW P:HW ...", read_uncommitted: the end of the
 * log, not the last stable offset) and exits: the restart test takes them right after a kill.
 *
 * Summary on stdout, one line:
 *   latency: sent=N received=R missing=M duplicates=D warmup_records=W samples=S
 *            p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
 * Exit status: 0 when every record arrived exactly once, 1 otherwise or on a Kafka error,
 * 2 usage error.
 *
 * Build: cc -O2 -o latency latency.c -lrdkafka   (bench/filter does this into its cache)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static const char *usage_text =
    "Usage: latency -i TOPIC -o TOPIC [-b BROKERS] [-r RATE] [-d SECONDS] [-w SECONDS]\n"
    "               [-W SECONDS] [-a FILE] [-X prop=value]...\n"
    "       latency -H -o TOPIC [-b BROKERS]\n"
    "\n"
    "Sends {\"seq\":N,\"sent_us\":...} records at RATE per second to topic -i, reads topic -o\n"
    "with read_committed and prints the latency percentiles of the records that come back.\n"
    "\n"
    "  -b BROKERS   bootstrap servers (default $KAFKA_BROKERS, else localhost:9092)\n"
    "  -i TOPIC     the processor's input topic (written)\n"
    "  -o TOPIC     the processor's output topic (read, read_committed)\n"
    "  -r RATE      records per second (default 20)\n"
    "  -d SECONDS   how long to send (default 30; 0: until SIGINT/SIGTERM)\n"
    "  -w SECONDS   warm-up: records sent in the first SECONDS are checked, not timed (default 0)\n"
    "  -W SECONDS   after the last send, wait at most this long for the rest (default 30)\n"
    "  -a FILE      write \"RECV_US SEQ LATENCY_US PARTITION OFFSET\" per record read (dup\n"
    "               appended for duplicates)\n"
    "  -H           print the high watermarks of topic -o as \"P:HW ...\" (read_uncommitted) and exit\n"
    "  -X prop=val  librdkafka property for both clients; consumer.prop=val or producer.prop=val\n"
    "               for one of them (repeatable)\n"
    "  -h           this help\n"
    "\n"
    "A first SIGINT/SIGTERM stops sending and waits for the records still on their way; a second\n"
    "one stops waiting.\n"
    "Exit status: 0 every record arrived exactly once, 1 otherwise or on a Kafka error, 2 usage.\n";

static volatile sig_atomic_t signals = 0;
static void on_signal(int sig) {
    (void)sig;
    signals++;
}

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("latency: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set_prop(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "latency: %s=%s: %s\n", name, value, errstr);
        exit(2);
    }
}

/* -X properties: "consumer.x=y" and "producer.x=y" go to one client, anything else to both. */
static void apply_props(rd_kafka_conf_t *conf, char **props, int nprops, const char *which) {
    size_t wl = strlen(which);
    for (int i = 0; i < nprops; i++) {
        char *eq = strchr(props[i], '=');
        char name[512];
        size_t nl = (size_t)(eq - props[i]);
        if (nl >= sizeof name) {
            fprintf(stderr, "latency: property name too long: %s\n", props[i]);
            exit(2);
        }
        memcpy(name, props[i], nl);
        name[nl] = '\0';
        const char *n = name;
        if (!strncmp(n, "consumer.", 9) || !strncmp(n, "producer.", 9)) {
            if (strncmp(n, which, wl) || n[wl] != '.') continue;
            n += wl + 1;
        }
        set_prop(conf, n, eq + 1);
    }
}

static int64_t failed_deliveries = 0;
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) {
        failed_deliveries++;
        fprintf(stderr, "latency: delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
}

/* The value of "name" in a flat JSON object, tolerant of spaces around the colon: a pointer to
 * its first character, or NULL. */
static const char *find_field(const char *p, size_t len, const char *name) {
    size_t nl = strlen(name);
    const char *end = p + len;
    for (const char *q = p; q + nl + 2 < end; q++) {
        if (*q != '"' || memcmp(q + 1, name, nl) || q[nl + 1] != '"') continue;
        const char *v = q + nl + 2;
        while (v < end && (*v == ' ' || *v == '\t')) v++;
        if (v >= end || *v != ':') continue;
        v++;
        while (v < end && (*v == ' ' || *v == '\t')) v++;
        return v < end ? v : NULL;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* nearest-rank percentile of n sorted values */
static double pct_ms(const int64_t *v, size_t n, double p) {
    if (!n) return 0;
    size_t k = (size_t)(p * (double)n + 0.999999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return (double)v[k - 1] / 1000.0;
}

/* -H: "P:HW ..." of every partition of topic, from a read_uncommitted handle */
static int print_high_watermarks(const char *brokers, const char *topic) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set_prop(conf, "bootstrap.servers", brokers);
    set_prop(conf, "isolation.level", "read_uncommitted");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) fail("consumer: %s", errstr);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1)
        fail("topic %s: %s", topic, rd_kafka_err2str(err ? err : md->topics[0].err));
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    for (int p = 0; p < n; p++) {
        int64_t lo = 0, hi = 0;
        err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (err) fail("watermarks of %s [%d]: %s", topic, p, rd_kafka_err2str(err));
        printf("%s%d:%" PRId64, p ? " " : "", p, hi);
    }
    printf("\n");
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv) {
    const char *brokers = getenv("KAFKA_BROKERS");
    const char *in_topic = NULL, *out_topic = NULL, *arrivals_path = NULL;
    double rate = 20, duration = 30, warmup = 0, drain = 30;
    char **props = calloc((size_t)argc, sizeof *props);
    int nprops = 0, opt, print_hw = 0;
    if (!brokers || !*brokers) brokers = "localhost:9092";
    while ((opt = getopt(argc, argv, "b:i:o:r:d:w:W:a:HX:h")) != -1) {
        char *end = NULL;
        double *target = NULL;
        switch (opt) {
        case 'b': brokers = optarg; break;
        case 'i': in_topic = optarg; break;
        case 'o': out_topic = optarg; break;
        case 'a': arrivals_path = optarg; break;
        case 'H': print_hw = 1; break;
        case 'r': target = &rate; break;
        case 'd': target = &duration; break;
        case 'w': target = &warmup; break;
        case 'W': target = &drain; break;
        case 'X':
            if (!strchr(optarg, '=') || optarg[0] == '=') goto usage_error;
            props[nprops++] = optarg;
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: goto usage_error;
        }
        if (target) {
            *target = strtod(optarg, &end);
            if (!*optarg || *end || *target < 0) goto usage_error;
        }
    }
    if (print_hw && optind == argc && out_topic) return print_high_watermarks(brokers, out_topic);
    if (optind != argc || !in_topic || !out_topic || rate <= 0) goto usage_error;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    FILE *arrivals = NULL;
    if (arrivals_path) {
        arrivals = fopen(arrivals_path, "w");
        if (!arrivals) fail("%s: %s", arrivals_path, strerror(errno));
        setvbuf(arrivals, NULL, _IOLBF, 0);
    }

    char errstr[512];
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    set_prop(pconf, "bootstrap.servers", brokers);
    set_prop(pconf, "enable.idempotence", "true");
    set_prop(pconf, "linger.ms", "0");
    rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
    apply_props(pconf, props, nprops, "producer");
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
    if (!producer) fail("producer: %s", errstr);
    rd_kafka_topic_t *in_rkt = rd_kafka_topic_new(producer, in_topic, NULL);

    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    set_prop(cconf, "bootstrap.servers", brokers);
    set_prop(cconf, "group.id", "kstream-bench-latency"); /* required by the API, never joined */
    set_prop(cconf, "isolation.level", "read_committed");
    set_prop(cconf, "enable.auto.commit", "false");
    set_prop(cconf, "fetch.wait.max.ms", "10");
    apply_props(cconf, props, nprops, "consumer");
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof errstr);
    if (!consumer) fail("consumer: %s", errstr);
    rd_kafka_poll_set_consumer(consumer);

    /* metadata of both topics first (connections up before the clock starts) */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(producer, 0, in_rkt, &md, 10000);
    if (err || md->topic_cnt != 1 || md->topics[0].err)
        fail("topic %s: %s", in_topic, rd_kafka_err2str(err ? err : md->topics[0].err));
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_t *out_rkt = rd_kafka_topic_new(consumer, out_topic, NULL);
    err = rd_kafka_metadata(consumer, 0, out_rkt, &md, 10000);
    if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1)
        fail("topic %s: %s", out_topic, rd_kafka_err2str(err ? err : md->topics[0].err));
    int out_parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(out_rkt);

    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(out_parts);
    for (int p = 0; p < out_parts; p++) {
        int64_t lo = 0, hi = 0;
        err = rd_kafka_query_watermark_offsets(consumer, out_topic, p, &lo, &hi, 10000);
        if (err) fail("watermarks of %s [%d]: %s", out_topic, p, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_add(assignment, out_topic, p)->offset = hi;
    }
    err = rd_kafka_assign(consumer, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    if (err) fail("assign: %s", rd_kafka_err2str(err));

    char run_id[64];
    snprintf(run_id, sizeof run_id, "%d-%" PRId64, (int)getpid(), wall_us());

    size_t cap = 1024;
    int64_t *sent_at = malloc(cap * sizeof *sent_at);
    unsigned char *seen = calloc(cap, 1);
    int64_t *lat = malloc(cap * sizeof *lat);
    size_t nlat = 0;
    int64_t sent = 0, received = 0, duplicates = 0, warm_records = 0;

    const int64_t t0 = wall_us();
    const int64_t send_end = duration > 0 ? t0 + (int64_t)(duration * 1e6) : INT64_MAX;
    const int64_t warm_end = t0 + (int64_t)(warmup * 1e6);
    int64_t drain_end = INT64_MAX;
    int sending = 1;

    for (;;) {
        int64_t now = wall_us();
        if (sending && (signals > 0 || now >= send_end)) {
            sending = 0;
            drain_end = now + (int64_t)(drain * 1e6);
        }
        if (!sending && (received >= sent || now >= drain_end || signals > 1)) break;

        int64_t next_send = t0 + (int64_t)((double)sent * 1e6 / rate);
        while (sending && now >= next_send) {
            if ((size_t)sent == cap) {
                cap *= 2;
                sent_at = realloc(sent_at, cap * sizeof *sent_at);
                lat = realloc(lat, cap * sizeof *lat);
                seen = realloc(seen, cap);
                memset(seen + cap / 2, 0, cap / 2);
                if (!sent_at || !lat || !seen) fail("out of memory");
            }
            char buf[256];
            int64_t s = wall_us();
            int n = snprintf(buf, sizeof buf, "{\"seq\":%" PRId64 ",\"sent_us\":%" PRId64 ",\"run\":\"%s\",\"Total\":100}",
                             sent, s, run_id);
            err = rd_kafka_produce(in_rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, buf, (size_t)n, NULL, 0, NULL);
            if (err) fail("produce: %s", rd_kafka_err2str(err));
            sent_at[sent] = s;
            if (s < warm_end) warm_records++;
            sent++;
            now = wall_us();
            next_send = t0 + (int64_t)((double)sent * 1e6 / rate);
        }
        rd_kafka_poll(producer, 0);

        int64_t wait_us = sending ? next_send - now : 100000;
        if (wait_us < 0) wait_us = 0;
        if (wait_us > 100000) wait_us = 100000;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, (int)(wait_us / 1000));
        if (!m) continue;
        int64_t recv = wall_us();
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "latency: consumer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        const char *v = m->payload;
        const char *r = v ? find_field(v, m->len, "run") : NULL;
        const char *q = v ? find_field(v, m->len, "seq") : NULL;
        size_t rl = strlen(run_id);
        if (r && q && (size_t)(v + m->len - r) > rl + 1 && r[0] == '"' && !memcmp(r + 1, run_id, rl) && r[rl + 1] == '"') {
            char *end = NULL;
            long long seq = strtoll(q, &end, 10);
            if (end != q && seq >= 0 && seq < sent) {
                int64_t l = recv - sent_at[seq];
                if (seen[seq]) {
                    duplicates++;
                    if (arrivals)
                        fprintf(arrivals, "%" PRId64 " %lld %" PRId64 " %d %" PRId64 " dup\n", recv, seq, l,
                                (int)m->partition, m->offset);
                } else {
                    seen[seq] = 1;
                    received++;
                    if (sent_at[seq] >= warm_end) lat[nlat++] = l;
                    if (arrivals)
                        fprintf(arrivals, "%" PRId64 " %lld %" PRId64 " %d %" PRId64 "\n", recv, seq, l,
                                (int)m->partition, m->offset);
                }
            }
        }
        rd_kafka_message_destroy(m);
    }

    rd_kafka_flush(producer, 10000);
    qsort(lat, nlat, sizeof *lat, cmp_i64);
    int64_t missing = sent - received;
    printf("latency: sent=%" PRId64 " received=%" PRId64 " missing=%" PRId64 " duplicates=%" PRId64
           " warmup_records=%" PRId64 " samples=%zu p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
           sent, received, missing, duplicates, warm_records, nlat, pct_ms(lat, nlat, 0.50), pct_ms(lat, nlat, 0.90),
           pct_ms(lat, nlat, 0.99), nlat ? (double)lat[nlat - 1] / 1000.0 : 0.0);
    fflush(stdout);
    if (arrivals) fclose(arrivals);

    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_topic_destroy(in_rkt);
    rd_kafka_destroy(producer);
    free(sent_at);
    free(seen);
    free(lat);
    free(props);
    if (failed_deliveries) fprintf(stderr, "latency: %" PRId64 " record(s) not delivered\n", failed_deliveries);
    return (missing || duplicates || failed_deliveries) ? 1 : 0;

usage_error:
    fputs(usage_text, stderr);
    return 2;
}
