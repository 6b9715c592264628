/*
 * eos_copy: the ceiling for Kafka-to-Kafka exactly-once with librdkafka. A bare transactional
 * consume -> produce -> send_offsets_to_transaction loop that copies every message (value, key,
 * headers, timestamp) from one topic to another without looking at it. bench/filter measures
 * kstream-filter against it: whatever kstream-filter does on top of this loop (parsing, the
 * expression, encoding) is what the ratio shows.
 *
 * The loop does what was measured to work with librdkafka 2.0.2 against Kafka 4.3.1:
 * - consumer: a group (classic protocol, cooperative-sticky, incremental assign/unassign),
 *   read_committed, auto commit off, partition EOF events for the exit-at-end test;
 * - producer: transactional.id, init_transactions once, the output topic's metadata requested at
 *   start (2.0.2 otherwise learns it on its 1 s timer and the first commit takes ~0.8 s);
 * - a transaction is committed every --commit-interval ms and whenever the input runs dry
 *   (nothing is waiting in the consumer's queue), with the consumer's positions and group
 *   metadata (KIP-447) sent to the transaction;
 * - abortable errors abort the transaction and rewind the consumer to the committed offsets;
 *   retriable ones are retried; anything else is fatal (exit 1);
 * - on close, the revoke callback does not commit (the final commit is done before close).
 *
 * It stops when it has copied -n records, or when every partition of the input topic has
 * reached the high watermark it had at start (-e, the default), or on SIGINT/SIGTERM (-F runs
 * until then: the latency and restart tests), then commits
 * and prints one line on stdout:
 *   eos_copy: records=N seconds=S records_per_s=R first_record_s=F transactions=T aborts=A
 * seconds is from the start of the program (connections, group join and all) to the end of the
 * last commit; first_record_s is when the first record was consumed.
 *
 * Build: cc -O2 -o eos_copy eos_copy.c -lrdkafka   (bench/filter does this into its cache)
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
    "Usage: eos_copy -i TOPIC -o TOPIC [-b BROKERS] [-g GROUP] [-t TRANSACTIONAL_ID]\n"
    "                [-c COMMIT_MS] [-n COUNT] [-e | -F] [-X prop=value]...\n"
    "\n"
    "Copies the messages of topic -i to topic -o, exactly once (librdkafka transactions,\n"
    "read_committed, offsets sent to the transaction), and prints the rate on stdout.\n"
    "\n"
    "  -b BROKERS   bootstrap servers (default $KAFKA_BROKERS, else localhost:9092)\n"
    "  -i TOPIC     input topic\n"
    "  -o TOPIC     output topic (must exist)\n"
    "  -g GROUP     consumer group (default eos-copy)\n"
    "  -t ID        transactional.id (default GROUP-eos-copy)\n"
    "  -c MS        commit interval in ms (default 100); a transaction is also committed\n"
    "               whenever the input runs dry\n"
    "  -n COUNT     stop after COUNT records (default 0: no limit)\n"
    "  -e           stop when every input partition has reached the end offset it had at\n"
    "               start (the default when neither -n nor -F is given)\n"
    "  -F           follow: keep copying until SIGINT/SIGTERM (or -n)\n"
    "  -X prop=val  librdkafka property for both clients; consumer.prop=val or\n"
    "               producer.prop=val for one of them (repeatable)\n"
    "  -v           log transactions and rebalances on stderr\n"
    "  -h           this help\n"
    "\n"
    "Exit status: 0 done, 1 Kafka error, 2 usage error.\n";

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static int verbose = 0;

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("eos_copy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void note(const char *fmt, ...) {
    if (!verbose) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("eos_copy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------- state */

struct partition_state {
    int64_t end; /* end offset at start (last stable offset: read_committed) */
    int assigned;
    int done; /* reached end */
};

static struct {
    rd_kafka_t *consumer, *producer;
    rd_kafka_topic_t *out_topic;
    int in_partitions, out_partitions;
    struct partition_state *parts;
    int closing;
    int64_t committed_records; /* copied and committed */
    int64_t pending_records;   /* copied in the open transaction */
    int64_t transactions, aborts;
    int in_transaction;
} S;

/* ------------------------------------------------------------------------- transactions */

static void begin_transaction(void) {
    rd_kafka_error_t *error = rd_kafka_begin_transaction(S.producer);
    if (error) fail("begin_transaction: %s", rd_kafka_error_string(error));
    S.in_transaction = 1;
}

/* Seeks every assigned partition back to its committed offset (or the beginning), after an
 * aborted transaction, and forgets which partitions had reached the end. */
static void rewind_to_committed(void) {
    rd_kafka_topic_partition_list_t *assignment = NULL;
    rd_kafka_resp_err_t err = rd_kafka_assignment(S.consumer, &assignment);
    if (err) fail("assignment: %s", rd_kafka_err2str(err));
    if (assignment->cnt > 0) {
        for (;;) {
            err = rd_kafka_committed(S.consumer, assignment, 10000);
            if (!err) break;
            if (stop_requested) fail("committed offsets: %s", rd_kafka_err2str(err));
            fprintf(stderr, "eos_copy: committed offsets: %s: retrying\n", rd_kafka_err2str(err));
        }
        for (int i = 0; i < assignment->cnt; i++) {
            rd_kafka_topic_partition_t *p = &assignment->elems[i];
            if (p->offset < 0) p->offset = RD_KAFKA_OFFSET_BEGINNING;
            if (p->partition < S.in_partitions) S.parts[p->partition].done = 0;
        }
        rd_kafka_error_t *error = rd_kafka_seek_partitions(S.consumer, assignment, -1);
        if (error) fail("seek to the committed offsets: %s", rd_kafka_error_string(error));
    }
    rd_kafka_topic_partition_list_destroy(assignment);
}

static void abort_and_rewind(const char *why) {
    fprintf(stderr, "eos_copy: aborting the transaction (%s) and rewinding to the committed offsets\n", why);
    rd_kafka_error_t *error = rd_kafka_abort_transaction(S.producer, -1);
    if (error) fail("abort_transaction: %s", rd_kafka_error_string(error));
    S.in_transaction = 0;
    S.pending_records = 0;
    S.aborts++;
    rewind_to_committed();
}

/* Commits the open transaction with the consumer's positions. Returns 1 when committed, 0 when
 * it had to be aborted (the consumer is then rewound). The caller begins the next one. */
static int commit_transaction(void) {
    rd_kafka_topic_partition_list_t *offsets = NULL;
    rd_kafka_resp_err_t err = rd_kafka_assignment(S.consumer, &offsets);
    if (err) fail("assignment: %s", rd_kafka_err2str(err));
    if (offsets->cnt == 0) {
        /* the assignment was lost: nothing to send offsets for */
        rd_kafka_topic_partition_list_destroy(offsets);
        abort_and_rewind("no assignment");
        return 0;
    }
    err = rd_kafka_position(S.consumer, offsets);
    if (err) fail("position: %s", rd_kafka_err2str(err));

    for (int attempt = 0;; attempt++) {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(S.consumer);
        rd_kafka_error_t *error = rd_kafka_send_offsets_to_transaction(S.producer, offsets, cgmd, -1);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        if (!error) break;
        if (rd_kafka_error_txn_requires_abort(error)) {
            char why[512];
            snprintf(why, sizeof why, "send_offsets_to_transaction: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            rd_kafka_topic_partition_list_destroy(offsets);
            abort_and_rewind(why);
            return 0;
        }
        if (rd_kafka_error_is_retriable(error) && attempt < 10) {
            rd_kafka_error_destroy(error);
            continue;
        }
        fail("send_offsets_to_transaction: %s", rd_kafka_error_string(error));
    }
    rd_kafka_topic_partition_list_destroy(offsets);

    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *error = rd_kafka_commit_transaction(S.producer, -1);
        if (!error) break;
        if (rd_kafka_error_txn_requires_abort(error)) {
            char why[512];
            snprintf(why, sizeof why, "commit_transaction: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            abort_and_rewind(why);
            return 0;
        }
        if (rd_kafka_error_is_retriable(error) && attempt < 10) {
            rd_kafka_error_destroy(error);
            continue;
        }
        fail("commit_transaction: %s", rd_kafka_error_string(error));
    }
    S.in_transaction = 0;
    S.committed_records += S.pending_records;
    S.pending_records = 0;
    S.transactions++;
    return 1;
}

static void commit_and_begin(void) {
    commit_transaction();
    begin_transaction();
}

/* ------------------------------------------------------------------------- rebalances */

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    (void)opaque;
    rd_kafka_error_t *error = NULL;
    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        note("assigned %d partition(s)", parts->cnt);
        for (int i = 0; i < parts->cnt; i++) {
            int p = parts->elems[i].partition;
            if (p < S.in_partitions) S.parts[p].assigned = 1;
        }
        error = rd_kafka_incremental_assign(rk, parts);
        if (error) fail("incremental_assign: %s", rd_kafka_error_string(error));
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        note("revoked %d partition(s)%s", parts->cnt, rd_kafka_assignment_lost(rk) ? " (lost)" : "");
        if (!S.closing && S.in_transaction) {
            if (rd_kafka_assignment_lost(rk)) {
                abort_and_rewind("assignment lost");
                begin_transaction();
            } else if (S.pending_records > 0) {
                commit_and_begin();
            }
        }
        for (int i = 0; i < parts->cnt; i++) {
            int p = parts->elems[i].partition;
            if (p < S.in_partitions) S.parts[p].assigned = 0;
        }
        error = rd_kafka_incremental_unassign(rk, parts);
        if (error) fail("incremental_unassign: %s", rd_kafka_error_string(error));
        break;
    default:
        fail("rebalance: %s", rd_kafka_err2str(err));
    }
}

/* ------------------------------------------------------------------------- set-up */

static void set_prop(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "eos_copy: %s=%s: %s\n", name, value, errstr);
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
            fprintf(stderr, "eos_copy: property name too long: %s\n", props[i]);
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

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    fprintf(stderr, "eos_copy: librdkafka %d %s: %s\n", level, fac, buf);
}

static int partition_count(rd_kafka_t *rk, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    for (int attempt = 0; attempt < 20 && n < 0; attempt++) {
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        if (err) fail("metadata of %s: %s", topic, rd_kafka_err2str(err));
        if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
            n = md->topics[0].partition_cnt;
        else if (md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
            fail("topic %s: %s", topic, rd_kafka_err2str(md->topics[0].err));
        rd_kafka_metadata_destroy(md);
        if (n < 0) nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 250000000}, NULL);
    }
    rd_kafka_topic_destroy(rkt);
    if (n < 0) fail("topic %s has no partitions with a leader", topic);
    return n;
}

/* Every partition assigned to this instance has reached its end (and it has some: not before
 * the first assignment, nor in the middle of a rebalance that took them all). */
static int all_done(void) {
    int assigned = 0;
    for (int p = 0; p < S.in_partitions; p++) {
        if (!S.parts[p].assigned) continue;
        if (!S.parts[p].done) return 0;
        assigned++;
    }
    return assigned > 0;
}

int main(int argc, char **argv) {
    const char *brokers = getenv("KAFKA_BROKERS");
    const char *in_topic = NULL, *out_topic = NULL, *group = "eos-copy", *txn_id = NULL;
    long commit_ms = 100;
    long long count = 0;
    int exit_at_end = 0, follow = 0;
    char **props = calloc((size_t)argc, sizeof *props);
    int nprops = 0;
    int opt;
    if (!brokers || !*brokers) brokers = "localhost:9092";
    while ((opt = getopt(argc, argv, "b:i:o:g:t:c:n:eFX:vh")) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'b': brokers = optarg; break;
        case 'i': in_topic = optarg; break;
        case 'o': out_topic = optarg; break;
        case 'g': group = optarg; break;
        case 't': txn_id = optarg; break;
        case 'c':
            commit_ms = strtol(optarg, &end, 10);
            if (!*optarg || *end || commit_ms < 1) goto usage_error;
            break;
        case 'n':
            count = strtoll(optarg, &end, 10);
            if (!*optarg || *end || count < 0) goto usage_error;
            break;
        case 'e': exit_at_end = 1; break;
        case 'F': follow = 1; break;
        case 'X':
            if (!strchr(optarg, '=') || optarg[0] == '=') goto usage_error;
            props[nprops++] = optarg;
            break;
        case 'v': verbose = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: goto usage_error;
        }
    }
    if (optind != argc || !in_topic || !out_topic) goto usage_error;
    if (exit_at_end && follow) goto usage_error;
    if (count == 0 && !follow) exit_at_end = 1;

    char default_txn_id[512];
    if (!txn_id) {
        snprintf(default_txn_id, sizeof default_txn_id, "%s-eos-copy", group);
        txn_id = default_txn_id;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    double t_start = now_s(), t_first = -1;
    char errstr[512];

    /* producer */
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    set_prop(pconf, "bootstrap.servers", brokers);
    set_prop(pconf, "transactional.id", txn_id);
    rd_kafka_conf_set_log_cb(pconf, log_cb);
    apply_props(pconf, props, nprops, "producer");
    S.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
    if (!S.producer) fail("producer: %s", errstr);
    S.out_topic = rd_kafka_topic_new(S.producer, out_topic, NULL);
    S.out_partitions = partition_count(S.producer, out_topic); /* metadata now, not on the 1 s timer */
    rd_kafka_error_t *error = rd_kafka_init_transactions(S.producer, 60000);
    if (error) fail("init_transactions: %s", rd_kafka_error_string(error));

    /* consumer */
    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    set_prop(cconf, "bootstrap.servers", brokers);
    set_prop(cconf, "group.id", group);
    set_prop(cconf, "partition.assignment.strategy", "cooperative-sticky");
    set_prop(cconf, "isolation.level", "read_committed");
    set_prop(cconf, "enable.auto.commit", "false");
    set_prop(cconf, "enable.auto.offset.store", "false");
    set_prop(cconf, "auto.offset.reset", "earliest");
    set_prop(cconf, "enable.partition.eof", "true");
    rd_kafka_conf_set_log_cb(cconf, log_cb);
    rd_kafka_conf_set_rebalance_cb(cconf, on_rebalance);
    apply_props(cconf, props, nprops, "consumer");
    S.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof errstr);
    if (!S.consumer) fail("consumer: %s", errstr);
    rd_kafka_poll_set_consumer(S.consumer);

    S.in_partitions = partition_count(S.consumer, in_topic);
    S.parts = calloc((size_t)S.in_partitions, sizeof *S.parts);
    for (int p = 0; p < S.in_partitions; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(S.consumer, in_topic, p, &lo, &hi, 10000);
        if (err) fail("watermarks of %s [%d]: %s", in_topic, p, rd_kafka_err2str(err));
        S.parts[p].end = hi;
        S.parts[p].done = !exit_at_end ? 0 : (hi <= lo);
    }

    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, in_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(S.consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) fail("subscribe: %s", rd_kafka_err2str(err));

    begin_transaction();
    double t_txn = now_s();
    const double commit_s = (double)commit_ms / 1000.0;

    while (!stop_requested) {
        if (count > 0 && S.committed_records + S.pending_records >= count) break;
        if (exit_at_end && all_done()) break;

        double now = now_s();
        if (S.pending_records > 0 && now - t_txn >= commit_s) {
            commit_and_begin();
            t_txn = now_s();
            continue;
        }
        /* Take what is already there; when nothing is, the input ran dry: commit, then wait. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(S.consumer, 0);
        if (!m) {
            if (S.pending_records > 0) {
                commit_and_begin();
                t_txn = now_s();
                continue;
            }
            m = rd_kafka_consumer_poll(S.consumer, 100);
            if (!m) continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition < S.in_partitions && m->offset >= S.parts[m->partition].end)
                S.parts[m->partition].done = 1;
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            const char *what = rd_kafka_message_errstr(m);
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) fail("consumer: %s", what);
            fprintf(stderr, "eos_copy: consumer: %s\n", what);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (t_first < 0) t_first = now_s();

        rd_kafka_headers_t *hdrs = NULL, *hcopy = NULL;
        if (!rd_kafka_message_headers(m, &hdrs)) hcopy = rd_kafka_headers_copy(hdrs);
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        int32_t partition = m->partition < S.out_partitions ? m->partition : RD_KAFKA_PARTITION_UA;
        for (;;) {
            err = rd_kafka_producev(S.producer, RD_KAFKA_V_RKT(S.out_topic), RD_KAFKA_V_PARTITION(partition),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(m->payload, m->len),
                                    RD_KAFKA_V_KEY(m->key, m->key_len),
                                    RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0), RD_KAFKA_V_HEADERS(hcopy),
                                    RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
            rd_kafka_poll(S.producer, 10);
        }
        if (err) {
            if (hcopy) rd_kafka_headers_destroy(hcopy);
            /* an abortable state shows up here as _STATE or a fatal error */
            rd_kafka_message_destroy(m);
            if (rd_kafka_fatal_error(S.producer, NULL, 0)) fail("produce: %s", rd_kafka_err2str(err));
            abort_and_rewind(rd_kafka_err2str(err));
            begin_transaction();
            t_txn = now_s();
            continue;
        }
        rd_kafka_poll(S.producer, 0);
        S.pending_records++;
        if (m->partition < S.in_partitions) {
            struct partition_state *ps = &S.parts[m->partition];
            if (exit_at_end && m->offset + 1 >= ps->end) ps->done = 1;
        }
        rd_kafka_message_destroy(m);
    }

    /* final commit, then close without committing in the revoke callback */
    if (S.pending_records > 0) commit_transaction();
    else if (S.in_transaction) {
        error = rd_kafka_abort_transaction(S.producer, -1); /* empty: nothing to commit */
        if (error) rd_kafka_error_destroy(error);
        S.in_transaction = 0;
    }
    double t_end = now_s();
    S.closing = 1;
    rd_kafka_consumer_close(S.consumer);
    rd_kafka_destroy(S.consumer);
    rd_kafka_topic_destroy(S.out_topic);
    rd_kafka_flush(S.producer, 10000);
    rd_kafka_destroy(S.producer);

    double secs = t_end - t_start;
    printf("eos_copy: records=%lld seconds=%.3f records_per_s=%.0f first_record_s=%.3f transactions=%lld "
           "aborts=%lld\n",
           (long long)S.committed_records, secs, secs > 0 ? (double)S.committed_records / secs : 0.0,
           t_first >= 0 ? t_first - t_start : -1.0, (long long)S.transactions, (long long)S.aborts);
    free(S.parts);
    free(props);
    return 0;

usage_error:
    fputs(usage_text, stderr);
    return 2;
}
