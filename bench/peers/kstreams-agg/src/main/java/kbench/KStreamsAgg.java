package kbench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The Kafka Streams peer of bench/agg: per message key and tumbling event-time window, the count
 * of records and the sum and average of one integer field, from one topic to another, exactly
 * once (processing.guarantee=exactly_once_v2, commits every 100 ms). The same job as
 *
 * <pre>kstream-agg --group-by sensor --agg 'count=count(), sum=sum(value), avg=avg(value)'
 *     --window tumbling:5m --grace 10m --time-field ts</pre>
 *
 * written the way a Kafka Streams user would: values parsed once with Jackson (a JsonNode serde;
 * the timestamp extractor reads the event time from the parsed value), groupByKey (the input is
 * keyed by the group: no repartition topic), windowedBy(TimeWindows.ofSizeAndGrace), aggregate
 * into a RocksDB window store, suppress(untilWindowCloses) for one final result per window, and
 * output records shaped like kstream-agg's:
 *
 * <pre>{"window_start":"ISO","window_end":"ISO","sensor":KEY,"count":N,"sum":S,"avg":A}</pre>
 *
 * keyed by the group. A window is emitted when its task's stream time (the largest event time seen
 * in the partition) minus the grace reaches the window's end, as kstream-agg does per partition.
 *
 * <p>It stops by itself so that it can be timed: after --count input records, or when no record
 * came for --idle-ms after the first one, or when none came at all within --start-timeout-ms.
 * Closing Kafka Streams cleanly commits the open transaction. With --hold it does not stop at
 * --count: it waits until its group's committed offsets reach the end of the input, prints a
 * "committed" line, and runs on until SIGTERM (or kill -9: bench/agg's restore test). Lines on
 * stdout (at_ms is the wall clock, ms since the epoch):
 *
 * <pre>kstreams-agg: state=RUNNING at_ms=T
 * kstreams-agg: restore-start store=S partition=P records=N at_ms=T
 * kstreams-agg: restore-end store=S partition=P records=N seconds=X at_ms=T
 * kstreams-agg: committed records=N at_ms=T                          (--hold)
 * kstreams-agg: records=N emitted=E seconds=S records_per_s=R first_record_s=F stop=WHY</pre>
 *
 * seconds runs from the start of main (JVM start-up not included) to the end of close.
 * Exit status: 0 when --count records were read (or it went idle, or was stopped by a signal), 1
 * on an error or when the streams thread died, 2 usage error.
 */
public final class KStreamsAgg {
    private static final String USAGE = String.join("\n",
            "Usage: kstreams-agg --bootstrap HOST:PORT --input TOPIC --output TOPIC",
            "         --application-id ID [--count N] [--hold] [--idle-ms MS] [--start-timeout-ms MS]",
            "         [--window-ms MS] [--grace-ms MS] [--key-field NAME] [--time-field NAME]",
            "         [--value-field NAME] [--threads N] [--state-dir DIR] [--prop key=value]...",
            "Count, sum and average of VALUE-FIELD per message key and tumbling window of TIME-FIELD",
            "(epoch ms), final results only (suppress untilWindowCloses), exactly_once_v2.",
            "  --count N            stop after N input records (default 0: only when idle)",
            "  --hold               with --count: wait for the commit of the whole input, print",
            "                       'committed', then run until a signal instead of stopping",
            "  --idle-ms MS         stop when no record came for MS after the first (default 10000)",
            "  --start-timeout-ms MS  give up when no record came within MS (default 120000)",
            "  --window-ms MS       tumbling window size (default 300000)",
            "  --grace-ms MS        grace (default 600000)",
            "  --key-field NAME     the output field holding the key (default sensor)",
            "  --time-field NAME    the event time field, epoch ms (default ts)",
            "  --value-field NAME   the integer field summed (default value)",
            "  --threads N          num.stream.threads (default 1)",
            "  --state-dir DIR      state.dir (default: a new temporary directory)",
            "  --prop key=value     any other Kafka Streams / client property (repeatable)");

    private KStreamsAgg() {}

    /** The aggregate of one key and window: records and the sum of their values. */
    static final class Agg {
        long count;
        long sum;

        Agg(long count, long sum) {
            this.count = count;
            this.sum = sum;
        }

        Agg add(JsonNode value, String valueField) {
            count++;
            JsonNode v = value.get(valueField);
            if (v != null && v.isNumber()) sum += v.asLong();
            return this;
        }
    }

    static final Serde<Agg> AGG_SERDE = Serdes.serdeFrom(
            (Serializer<Agg>) (topic, a) -> a == null ? null
                    : ByteBuffer.allocate(16).putLong(a.count).putLong(a.sum).array(),
            (Deserializer<Agg>) (topic, b) -> {
                if (b == null) return null;
                ByteBuffer buf = ByteBuffer.wrap(b);
                return new Agg(buf.getLong(), buf.getLong());
            });

    static Serde<JsonNode> jsonSerde(ObjectMapper mapper) {
        return Serdes.serdeFrom(
                (Serializer<JsonNode>) (topic, node) -> {
                    try {
                        return node == null ? null : mapper.writeValueAsBytes(node);
                    } catch (IOException e) {
                        throw new IllegalStateException(e);
                    }
                },
                (Deserializer<JsonNode>) (topic, bytes) -> {
                    if (bytes == null) return null;
                    try {
                        return mapper.readTree(bytes);
                    } catch (IOException e) {
                        return null; // not JSON: a null value, which aggregate() skips
                    }
                });
    }

    /** Event time from a numeric field of the parsed value (epoch ms; below 1e11: seconds). */
    record FieldTime(String field) implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            if (record.value() instanceof JsonNode node) {
                JsonNode t = node.get(field);
                if (t != null && t.isNumber()) {
                    long v = t.asLong();
                    return Math.abs(v) < 100_000_000_000L ? v * 1000 : v;
                }
            }
            return partitionTime;
        }
    }

    static void say(String line) {
        System.out.println("kstreams-agg: " + line + " at_ms=" + System.currentTimeMillis());
        System.out.flush();
    }

    /** Whether the group's committed offsets on TOPIC reached the end of every partition. */
    static boolean committedToEnd(Admin admin, String group, String topic) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        int partitions = admin.describeTopics(java.util.List.of(topic)).allTopicNames().get()
                .get(topic).partitions().size();
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (int p = 0; p < partitions; p++) latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
        var ends = admin.listOffsets(latest).all().get();
        for (var e : ends.entrySet()) {
            OffsetAndMetadata c = committed.get(e.getKey());
            if (e.getValue().offset() > 0 && (c == null || c.offset() < e.getValue().offset())) return false;
        }
        return true;
    }

    public static void main(String[] args) throws Exception {
        long start = System.nanoTime();
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");

        String bootstrap = System.getenv().getOrDefault("KAFKA_BROKERS", "localhost:9092");
        String input = null, output = null, appId = null, stateDir = null;
        String keyField = "sensor", timeField = "ts", valueField = "value";
        long count = 0, idleMs = 10_000, startTimeoutMs = 120_000, windowMs = 300_000, graceMs = 600_000;
        boolean hold = false;
        int threads = 1;
        Properties extra = new Properties();
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("-h") || a.equals("--help")) {
                    System.out.println(USAGE);
                    return;
                }
                if (a.equals("--hold")) {
                    hold = true;
                    continue;
                }
                if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value");
                String v = args[++i];
                switch (a) {
                    case "--bootstrap" -> bootstrap = v;
                    case "--input" -> input = v;
                    case "--output" -> output = v;
                    case "--application-id" -> appId = v;
                    case "--count" -> count = Long.parseLong(v);
                    case "--idle-ms" -> idleMs = Long.parseLong(v);
                    case "--start-timeout-ms" -> startTimeoutMs = Long.parseLong(v);
                    case "--window-ms" -> windowMs = Long.parseLong(v);
                    case "--grace-ms" -> graceMs = Long.parseLong(v);
                    case "--key-field" -> keyField = v;
                    case "--time-field" -> timeField = v;
                    case "--value-field" -> valueField = v;
                    case "--threads" -> threads = Integer.parseInt(v);
                    case "--state-dir" -> stateDir = v;
                    case "--prop" -> {
                        int eq = v.indexOf('=');
                        if (eq <= 0) throw new IllegalArgumentException("--prop needs key=value: " + v);
                        extra.setProperty(v.substring(0, eq), v.substring(eq + 1));
                    }
                    default -> throw new IllegalArgumentException("unknown argument: " + a);
                }
            }
            if (input == null || output == null || appId == null)
                throw new IllegalArgumentException("--input, --output and --application-id are required");
            if (hold && count <= 0) throw new IllegalArgumentException("--hold needs --count");
        } catch (IllegalArgumentException e) {
            System.err.println("kstreams-agg: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
        }

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        props.put(StreamsConfig.STATE_DIR_CONFIG,
                stateDir != null ? stateDir : Files.createTempDirectory("kstreams-agg-").toString());
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        props.put("processing.exception.handler.global.enabled", "true"); // 4.4 warns without it
        props.putAll(extra);

        ObjectMapper mapper = new ObjectMapper();
        Serde<JsonNode> json = jsonSerde(mapper);
        AtomicLong seen = new AtomicLong();
        AtomicLong emitted = new AtomicLong();
        AtomicLong firstNanos = new AtomicLong();
        AtomicLong lastNanos = new AtomicLong();
        final String vf = valueField, kf = keyField;

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), json).withTimestampExtractor(new FieldTime(timeField)))
                .peek((k, v) -> {
                    long now = System.nanoTime();
                    if (seen.getAndIncrement() == 0) firstNanos.set(now);
                    lastNanos.set(now);
                })
                .groupByKey(Grouped.with(Serdes.String(), json))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(windowMs), Duration.ofMillis(graceMs)))
                .aggregate(() -> new Agg(0, 0), (k, v, agg) -> agg.add(v, vf),
                        Materialized.<String, Agg, WindowStore<Bytes, byte[]>>as("agg-store")
                                .withKeySerde(Serdes.String()).withValueSerde(AGG_SERDE))
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
                .toStream()
                .map((Windowed<String> wk, Agg agg) -> {
                    ObjectNode out = mapper.createObjectNode();
                    out.put("window_start", Instant.ofEpochMilli(wk.window().start()).toString());
                    out.put("window_end", Instant.ofEpochMilli(wk.window().end()).toString());
                    out.put(kf, wk.key());
                    out.put("count", agg.count);
                    out.put("sum", agg.sum);
                    out.put("avg", agg.count > 0 ? (double) agg.sum / agg.count : 0.0);
                    try {
                        return KeyValue.pair(wk.key(), mapper.writeValueAsBytes(out));
                    } catch (IOException e) {
                        throw new IllegalStateException(e);
                    }
                })
                .peek((k, v) -> emitted.incrementAndGet())
                .to(output, Produced.with(Serdes.String(), Serdes.ByteArray()));

        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        AtomicLong failed = new AtomicLong();
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("kstreams-agg: stream thread failed: " + e);
            failed.incrementAndGet();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                    .SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> say("state=" + now));
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            private final Map<TopicPartition, Long> began = new java.util.concurrent.ConcurrentHashMap<>();

            @Override
            public void onRestoreStart(TopicPartition tp, String store, long from, long to) {
                began.put(tp, System.nanoTime());
                say("restore-start store=" + store + " partition=" + tp.partition() + " records=" + (to - from));
            }

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long n) {}

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
                Long b = began.remove(tp);
                double s = b == null ? 0 : (System.nanoTime() - b) / 1e9;
                say(String.format("restore-end store=%s partition=%d records=%d seconds=%.3f", store, tp.partition(), total, s));
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(30))));
        streams.start();

        String why;
        boolean committedSaid = false;
        Admin admin = null;
        while (true) {
            Thread.sleep(10);
            long now = System.nanoTime();
            long n = seen.get();
            if (failed.get() > 0 || streams.state() == KafkaStreams.State.ERROR
                    || streams.state() == KafkaStreams.State.NOT_RUNNING) {
                why = "error";
                break;
            }
            if (count > 0 && n >= count) {
                if (!hold) {
                    why = "count";
                    break;
                }
                if (!committedSaid) {
                    if (admin == null) admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap));
                    if (committedToEnd(admin, appId, input)) {
                        say("committed records=" + n);
                        committedSaid = true;
                    } else {
                        Thread.sleep(90);
                    }
                }
                continue; // held until a signal
            }
            if (n > 0 && now - lastNanos.get() > idleMs * 1_000_000L) {
                why = "idle";
                break;
            }
            if (n == 0 && now - start > startTimeoutMs * 1_000_000L) {
                why = "no input";
                break;
            }
        }
        if (admin != null) admin.close();
        streams.close(Duration.ofSeconds(60)); // commits the open transaction
        long end = System.nanoTime();
        double secs = (end - start) / 1e9;
        long n = seen.get();
        double first = n > 0 ? (firstNanos.get() - start) / 1e9 : -1;
        System.out.printf("kstreams-agg: records=%d emitted=%d seconds=%.3f records_per_s=%.0f first_record_s=%.3f stop=%s%n",
                n, emitted.get(), secs, secs > 0 ? n / secs : 0.0, first, why.replace(' ', '-'));
        System.out.flush();
        if (why.equals("error") || why.equals("no input")) System.exit(1);
        System.exit(0);
    }
}
